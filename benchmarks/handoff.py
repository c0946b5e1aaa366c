"""Per-frame handoff through a named sender (zero-copy) against the copy path, side by side.

Zero-copy: the producer announces a frame that is already in its ring texture
(``Sender.end_frame``); the consumer process holds it, ready, when ``Subscriber.next_frame``
returns. Copy path (what one would write without Geyser): the producer downloads its texture to
a numpy array, copies it into ``multiprocessing.shared_memory`` and notifies the consumer, which
uploads the bytes into its own texture. Each frame is timed from the producer's start of the
handoff to the consumer holding the frame in a texture (one CLOCK_MONOTONIC for both
processes), one frame in flight at a time, so no queueing is counted.

    python benchmarks/handoff.py                  # 1080p and 4K RGBA8
    python benchmarks/handoff.py --sizes 1920x1080 --frames 200 --copy-frames 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

import geyser

_CONSUMER = r"""
import json, os, struct, sys, time
import numpy as np
import geyser
req = json.loads(sys.argv[1])
out = req["out"]
dev = geyser.Device(req["device"])
if req["mode"] == "zero-copy":
    sub = geyser.Subscriber(dev, req["name"], timeout=30)
    os.write(out, b"R")
    for _ in range(req["frames"]):
        f = sub.next_frame(timeout=30)
        t1 = time.monotonic_ns()
        sub.release(f)
        os.write(out, struct.pack("<q", t1))
else:
    from multiprocessing import shared_memory
    from multiprocessing import resource_tracker
    shm = shared_memory.SharedMemory(name=req["shm"])
    # Attaching registers the segment with this process's tracker, which would unlink the
    # producer's segment when this process exits (fixed by track=False in Python 3.13).
    resource_tracker.unregister(shm._name, "shared_memory")
    w, h = req["size"]
    tex = dev.create_shareable_texture(geyser.TextureDescriptor(w, h))
    view = np.ndarray((h, w, 4), np.uint8, buffer=shm.buf)
    inp = req["inp"]
    os.write(out, b"R")
    for _ in range(req["frames"]):
        os.read(inp, 1)
        tex.upload(view)
        os.write(out, struct.pack("<q", time.monotonic_ns()))
    del view
    shm.close()
"""


def _read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise RuntimeError("consumer exited early")
        buf += chunk
    return buf


def zero_copy(device, width: int, height: int, frames: int) -> list[float]:
    """Handoff latencies in milliseconds."""
    name = f"bench-handoff-{os.getpid()}"
    desc = geyser.TextureDescriptor(width, height)
    r, w = os.pipe()
    with geyser.Sender(device, name, desc, ring_size=2) as sender:
        for tex in sender.ring:  # the frames are "rendered" before the clock starts
            tex.upload(np.full((height, width, 4), 7, np.uint8))
        req = {"mode": "zero-copy", "name": name, "frames": frames, "out": w, "device": device.info.device_uuid}
        proc = subprocess.Popen([sys.executable, "-c", _CONSUMER, json.dumps(req)], pass_fds=[w])
        os.close(w)
        try:
            assert _read_exact(r, 1) == b"R"
            out = []
            for _ in range(frames):
                frame = sender.begin_frame(timeout=30)
                t0 = time.monotonic_ns()
                sender.end_frame(frame)
                (t1,) = struct.unpack("<q", _read_exact(r, 8))
                out.append((t1 - t0) / 1e6)
        finally:
            proc.wait(timeout=60)
            os.close(r)
    return out


def copy_path(device, width: int, height: int, frames: int) -> list[float]:
    from multiprocessing import shared_memory

    tex = device.create_shareable_texture(geyser.TextureDescriptor(width, height))
    tex.upload(np.full((height, width, 4), 7, np.uint8))
    shm = shared_memory.SharedMemory(create=True, size=width * height * 4)
    view = np.ndarray((height, width, 4), np.uint8, buffer=shm.buf)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    req = {"mode": "copy", "shm": shm.name, "size": [width, height], "frames": frames, "out": w, "inp": r2,
           "device": device.info.device_uuid}
    proc = subprocess.Popen([sys.executable, "-c", _CONSUMER, json.dumps(req)], pass_fds=[w, r2])
    os.close(w)
    os.close(r2)
    try:
        assert _read_exact(r, 1) == b"R"
        out = []
        for _ in range(frames):
            t0 = time.monotonic_ns()
            view[...] = tex.download()
            os.write(w2, b"F")
            (t1,) = struct.unpack("<q", _read_exact(r, 8))
            out.append((t1 - t0) / 1e6)
    finally:
        proc.wait(timeout=120)
        os.close(r)
        os.close(w2)
        del view
        shm.close()
        shm.unlink()
    return out


def _pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--frames", type=int, default=200, help="zero-copy frames per size")
    p.add_argument("--copy-frames", type=int, default=20, help="copy-path frames per size")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    dev = geyser.Device(args.device)
    print(f"device: {dev.name} ({dev.info.driver_name}); RGBA8; one frame in flight")
    print(f"{'size':<11}{'path':<12}{'p50 ms':>10}{'p99 ms':>10}{'frames':>8}{'copy / zero-copy p50':>24}")
    results = {}
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        zc = zero_copy(dev, w, h, args.frames)
        cp = copy_path(dev, w, h, args.copy_frames)
        ratio = statistics.median(cp) / statistics.median(zc)
        results[size] = {"zero_copy": {"p50": _pct(zc, 0.5), "p99": _pct(zc, 0.99), "n": len(zc)},
                         "copy": {"p50": _pct(cp, 0.5), "p99": _pct(cp, 0.99), "n": len(cp)}, "ratio_p50": ratio}
        print(f"{size:<11}{'zero-copy':<12}{_pct(zc, .5):>10.3f}{_pct(zc, .99):>10.3f}{len(zc):>8}")
        print(f"{size:<11}{'copy':<12}{_pct(cp, .5):>10.3f}{_pct(cp, .99):>10.3f}{len(cp):>8}{ratio:>24.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": dev.name, "driver": dev.info.driver_info, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
