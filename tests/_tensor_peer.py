"""A peer process for tests/test_tensor_streams.py.

``consume NAME COUNT HOLD``: subscribes to the tensor stream NAME, reads COUNT frames through
``frame.read()``, holding each HOLD seconds, checks every tensor against ``expected(layout, n)``
and prints a JSON answer (its first line, ``{"subscribed": F, "mode": M, "layout": ...}``, as it
subscribes).
``gpu-consume NAME COUNT LIB``: the same on the GPU, each frame received with ``wait="gpu"`` and
viewed through DLPack as a LIB (torch, cupy or jax) array, checked on the GPU.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import geyser


def expected(layout: geyser.TensorLayout, n: int) -> dict[str, np.ndarray]:
    """What the producer writes into frame ``n``: each tensor counts from n, in its dtype."""
    out = {}
    for i, name in enumerate(layout.names):
        shape = layout.shape(name)
        count = int(np.prod(shape, dtype=np.int64))
        values = (np.arange(count, dtype=np.int64) + n * 7 + i) % 100
        out[name] = values.astype(np.dtype(layout.dtype(name))).reshape(shape)
    return out


def _same(got, want: dict[str, np.ndarray]) -> bool:
    if not isinstance(got, dict):
        got = {next(iter(want)): got}
    return set(got) == set(want) and all(np.array_equal(got[k], want[k]) for k in want)


def consume(name: str, count: int, hold: float) -> int:
    dev = geyser.Device()
    sub = geyser.Subscriber(dev, name, timeout=10)
    print(json.dumps({"subscribed": sub.info.current_frame, "mode": sub.info.mode,
                      "layout": sub.layout.names if sub.layout else None}), flush=True)
    numbers, bad, error = [], 0, None
    try:
        for _ in range(count):
            with sub.next_frame(timeout=20) as f:
                numbers.append(f.number)
                ok = _same(f.read(), expected(sub.layout, f.number))
                time.sleep(hold)
                ok = ok and _same(f.read(), expected(sub.layout, f.number))  # never overwritten while held
                bad += 0 if ok else 1
    except geyser.GeyserError as e:
        error = f"{type(e).__name__}: {e}"
    print(json.dumps({"numbers": numbers, "bad": bad, "dropped": sub.frames_dropped, "error": error}), flush=True)
    sub.close()
    return 0


def gpu_consume(name: str, count: int, lib: str) -> int:
    import geyser.cuda

    dev = geyser.Device()
    sub = geyser.Subscriber(dev, name, timeout=10)
    print(json.dumps({"subscribed": sub.info.current_frame, "mode": sub.info.mode}), flush=True)
    numbers, bad = [], 0
    wait = "gpu"
    if lib == "torch":
        import torch

        stream = torch.cuda.current_stream()

        def take(view):  # a kernel on `stream` (which waits for the frame) copies it, then to the host
            return torch.from_dlpack(view).clone().cpu().numpy()
    elif lib == "cupy":
        import cupy

        stream = cupy.cuda.get_current_stream()

        def take(view):
            return cupy.asnumpy(cupy.from_dlpack(view).copy())
    else:
        import jax.dlpack

        # JAX reads on streams of its own, which Geyser cannot make wait: the host waits instead.
        stream, wait = None, "host"

        def take(view):
            return np.asarray(jax.dlpack.from_dlpack(view))
    per_slot = {}  # torch: the views of each slot made once, then wait_frame alone per frame
    for _ in range(count):
        f = sub.next_frame(timeout=20, wait=wait)
        numbers.append(f.number)
        if lib == "torch" and f.slot in per_slot:
            geyser.cuda.wait_frame(f, stream)
            views = per_slot[f.slot]
        else:
            views = geyser.cuda.tensor_views(f, stream)
            views = views if isinstance(views, dict) else {sub.layout.names[0]: views}
            per_slot[f.slot] = views
        got = {k: take(v) for k, v in views.items()}  # copied out before the release
        geyser.cuda.release(sub, f, stream)
        bad += 0 if _same(got, expected(sub.layout, f.number)) else 1
    print(json.dumps({"numbers": numbers, "bad": bad, "dropped": sub.frames_dropped, "error": None}), flush=True)
    sub.close()
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "consume":
        return consume(argv[1], int(argv[2]), float(argv[3]))
    if argv[0] == "gpu-consume":
        return gpu_consume(argv[1], int(argv[2]), argv[3])
    raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
