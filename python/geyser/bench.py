"""``python -m geyser bench``: Geyser's paths against what one would write without it, side by side.

Every comparison runs its cases in the same run, interleaved (A, B, A, B ... for ``repeats``
rounds), so drifting machine load hits both alike; the table reports the medians over the
repeats of each run's p50 and p99, and each case's ratio to the comparison's baseline
(``case / baseline``, so the baseline reads 1.00):

1. handoff: a frame through a named sender (zero-copy, the baseline) against the copy path
   (download to numpy, ``multiprocessing.shared_memory``, upload in the consumer), per size;
2. imports: a sender's subscriber that imported the ring once and then receives frame numbers
   (the baseline) against export + ``send_handle`` over a Channel + import every frame;
3. wake: a raw eventfd ping-pong (the baseline) against the portable timeline and, where the
   device can export them, the Vulkan timeline (one-way latency = half a round trip);
4. one-time cost: a fresh local ``create_shareable_texture`` (the baseline) against export +
   import of the same texture into a second Device;
5. read: ``download()`` of a local texture (the baseline) against an imported one;
6. streams (bench_streams.py): fan-out to several consumer processes in both delivery modes, and
   a slow consumer in latest mode;
7. a tensor stream (bench_tensors.py): publish of named tensors to ``frame.read()`` in another
   process (the handoff, the baseline) beside the producer's publish cost.
8. the copy path (``bench_fallback.py``): a Subscriber's copy path against the hand-written copy
   of 1 (the baseline) and zero-copy, per size, and what a copy subscriber costs the zero-copy
   subscribers of the same sender (their handoff, the producer's ``end_frame``).
9. peer copy, only where CUDA is present (bench_peer_copy.py): geyser.cuda.PeerCopy to another
   GPU (or the same one) against a plain ``cuMemcpyPeerAsync`` of the same bytes, per size, with
   the achieved bandwidth as a fraction of it; and peer-copy delivery through real Sender and
   Subscriber processes (handoff latency, wall time per frame) against same-GPU zero-copy and the
   host copy path.

Handoffs and wakes go between real processes; a handoff is timed from the producer's start to
the consumer holding the frame in a texture (one CLOCK_MONOTONIC for both), one frame in flight.
The functions here are also what ``benchmarks/handoff.py`` and ``benchmarks/wake.py`` run.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shlex
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

import geyser
from . import bench_fallback
from . import bench_gl
from . import bench_peer_copy
from . import bench_streams
from . import bench_tensors

__all__ = ["percentile", "zero_copy", "copy_path", "import_each_frame", "PingPong", "sample", "run",
           "parse_sizes", "config", "plot_available"]

BINDING_OVERHEAD_LINE = ("binding overhead vs C++: not measured (build geyser_bench_core with "
                         "-DGEYSER_BUILD_TESTS=ON and pass --cpp-bench PATH)")
CPP_BENCH_DEFAULT = os.path.join("build", "cpp", "geyser_bench_core")


def _python_loops(device, iterations: int) -> dict[str, list[float]]:
    """The loops benchmarks/cpp/bench_core.cpp runs, from Python: per-iteration microseconds."""
    other = geyser.Device(device.info.device_uuid)
    tex = device.create_shareable_texture(geyser.TextureDescriptor(256, 256))
    timeline = device.create_shared_timeline("portable")
    out = {"export_import": [], "signal_wait": [], "value": [], "width": [], "getppid": []}
    try:
        for i in range(iterations):
            t0 = time.perf_counter_ns()
            with device.export_texture(tex) as h:
                other.import_texture(h).close()
            t1 = time.perf_counter_ns()
            timeline.signal(i + 1)
            timeline.wait(i + 1, 1.0)
            t2 = time.perf_counter_ns()
            timeline.value
            t3 = time.perf_counter_ns()
            tex.width
            t4 = time.perf_counter_ns()
            os.getppid()
            t5 = time.perf_counter_ns()
            for k, (a, b) in {"export_import": (t0, t1), "signal_wait": (t1, t2), "value": (t2, t3),
                              "width": (t3, t4), "getppid": (t4, t5)}.items():
                out[k].append((b - a) / 1000.0)
    finally:
        tex.close()
        timeline.close()
        other.close()
    return out


def _cpp_loops(path: str, iterations: int) -> dict[str, float]:
    """Medians (us) from geyser_bench_core."""
    done = subprocess.run([path, str(iterations)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{path} failed: {done.stderr.strip()}")
    r = json.loads(done.stdout)
    return {"export_import": r["export_import_us"], "signal_wait": r["timeline_signal_wait_us"]}


def percentile(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank, no interpolation)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- handoff between two processes ----------------------------------------------------------

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
    sub.close()
elif req["mode"] == "import-each-frame":
    ch = geyser.Channel.connect(req["socket"], timeout=30)
    os.write(out, b"R")
    for _ in range(req["frames"]):
        h = geyser.receive_handle(ch, timeout=30)
        tex = dev.import_texture(h)
        t1 = time.monotonic_ns()
        h.close()
        tex.close()
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


def _consumer(req: dict, pass_fds) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CONSUMER, json.dumps(req)], pass_fds=pass_fds)


def _finish(proc: subprocess.Popen, timeout: float) -> None:
    rc = proc.wait(timeout=timeout)
    if rc != 0:
        raise RuntimeError(f"benchmark consumer process exited with status {rc}")


def zero_copy(device, width: int, height: int, frames: int, consumer=None) -> list[float]:
    """Handoff latencies (ms) through a named sender; the consumer imported the ring once.
    ``consumer(request, pass_fds)`` starts another consumer process (bench_gl.py's GL one)."""
    name = f"bench-handoff-{os.getpid()}"
    desc = geyser.TextureDescriptor(width, height)
    r, w = os.pipe()
    with geyser.Sender(device, name, desc, ring_size=2) as sender:
        for tex in sender.ring:  # the frames are "rendered" before the clock starts
            tex.upload(np.full((height, width, 4), 7, np.uint8))
        proc = (consumer or _consumer)({"mode": "zero-copy", "name": name, "frames": frames, "out": w,
                          "device": device.info.device_uuid}, [w])
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
            _finish(proc, 60)
            os.close(r)
    return out


def copy_path(device, width: int, height: int, frames: int, consumer=None) -> list[float]:
    """Handoff latencies (ms) of download, shared memory and upload in the consumer process
    (``consumer`` as for zero_copy)."""
    from multiprocessing import shared_memory

    tex = device.create_shareable_texture(geyser.TextureDescriptor(width, height))
    tex.upload(np.full((height, width, 4), 7, np.uint8))
    shm = shared_memory.SharedMemory(create=True, size=width * height * 4)
    view = np.ndarray((height, width, 4), np.uint8, buffer=shm.buf)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    proc = (consumer or _consumer)({"mode": "copy", "shm": shm.name, "size": [width, height], "frames": frames, "out": w,
                      "inp": r2, "device": device.info.device_uuid}, [w, r2])
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
        os.close(w2)
        _finish(proc, 120)
        os.close(r)
        del view
        shm.close()
        shm.unlink()
        tex.close()
    return out


def import_each_frame(device, width: int, height: int, frames: int) -> list[float]:
    """Handoff latencies (ms) when every frame is exported, sent over a Channel and imported."""
    desc = geyser.TextureDescriptor(width, height)
    ring = [device.create_shareable_texture(desc) for _ in range(2)]
    for tex in ring:
        tex.upload(np.full((height, width, 4), 7, np.uint8))
    path = os.path.join(geyser.runtime_dir(), f"bench-import-{os.getpid()}.sock")
    listener = geyser.Listener.bind(path)
    r, w = os.pipe()
    proc = _consumer({"mode": "import-each-frame", "socket": path, "frames": frames, "out": w,
                      "device": device.info.device_uuid}, [w])
    os.close(w)
    try:
        channel = listener.accept(timeout=30)
        assert _read_exact(r, 1) == b"R"
        out = []
        for i in range(frames):
            t0 = time.monotonic_ns()
            with device.export_texture(ring[i % len(ring)]) as h:
                geyser.send_handle(channel, h, timeout=30)
            (t1,) = struct.unpack("<q", _read_exact(r, 8))
            out.append((t1 - t0) / 1e6)
        channel.close()
    finally:
        _finish(proc, 60)
        os.close(r)
        listener.close()  # unlinks the socket
        for tex in ring:
            tex.close()
    return out


# -- cross-process wake ---------------------------------------------------------------------

_PEER = r"""
import json, os, sys
req = json.loads(sys.argv[1])
n = req["rounds"]
if req["mode"] == "eventfd":
    ping, pong = req["fds"]
    for _ in range(n):
        os.eventfd_read(ping)
        os.eventfd_write(pong, 1)
else:
    import geyser
    dev = geyser.Device(req["uuid"])
    t = dev.import_timeline(geyser.TimelineHandle.from_bytes(bytes.fromhex(req["timeline"]), req["fds"][0]))
    for i in range(n):
        t.wait(2 * i + 1, timeout=30)
        t.signal(2 * i + 2)
print("done", flush=True)
"""


class PingPong:
    """A child process and one round-trip function; ``round_trip()`` exactly ``rounds`` times.

    ``mode`` is ``"eventfd"`` (two raw eventfds), or a timeline kind for
    ``device.create_shared_timeline`` (``"portable"``, ``"vulkan"``).
    """

    def __init__(self, mode: str, rounds: int, device=None):
        self.mode = mode
        self.rounds = rounds
        self.i = 0
        if mode == "eventfd":
            self.ping = os.eventfd(0, os.EFD_CLOEXEC)
            self.pong = os.eventfd(0, os.EFD_CLOEXEC)
            fds = [self.ping, self.pong]
            req = {"mode": mode, "rounds": rounds, "fds": fds}
        else:
            self.timeline = device.create_shared_timeline(mode)
            handle = device.export_timeline(self.timeline)
            fds = [handle.fd]
            req = {"mode": mode, "rounds": rounds, "fds": fds, "uuid": device.info.device_uuid,
                   "timeline": handle.to_bytes().hex()}
        self.proc = subprocess.Popen([sys.executable, "-c", _PEER, json.dumps(req)], pass_fds=fds,
                                     stdout=subprocess.PIPE, text=True)
        if mode != "eventfd":
            handle.close()

    def round_trip(self) -> None:
        if self.mode == "eventfd":
            os.eventfd_write(self.ping, 1)
            os.eventfd_read(self.pong)
        else:
            self.timeline.signal(2 * self.i + 1)
            self.timeline.wait(2 * self.i + 2, timeout=30)
        self.i += 1

    def close(self) -> None:
        while self.i < self.rounds:  # let the child finish its loop
            self.round_trip()
        out, _ = self.proc.communicate(timeout=60)
        assert out.strip() == "done", out
        if self.mode == "eventfd":
            os.close(self.ping)
            os.close(self.pong)
        else:
            self.timeline.close()


def sample(mode: str, rounds: int, device=None) -> list[float]:
    """One-way wake latencies (half round trips) in microseconds."""
    pp = PingPong(mode, rounds, device)
    out = []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter_ns()
            pp.round_trip()
            out.append((time.perf_counter_ns() - t0) / 2000.0)
    finally:
        pp.close()
    return out


def wake_modes(device) -> list[str]:
    """eventfd, the portable timeline, and the Vulkan timeline where the device can export it."""
    modes = ["eventfd", "portable"]
    if "opaque_fd" in device.info.timeline_semaphore_export:
        modes.append("vulkan")
    return modes


# -- one process, two devices ---------------------------------------------------------------

def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter_ns()
    v = fn()
    return (time.perf_counter_ns() - t0) / 1e6, v


def local_allocation(device, desc) -> float:
    """ms to allocate ``desc`` locally (create_shareable_texture); the texture is freed after."""
    ms, tex = _timed(lambda: device.create_shareable_texture(desc))
    tex.close()
    return ms


def export_import(device, importer, texture) -> float:
    """ms to export ``texture`` from ``device`` and import it into ``importer``."""

    def go():
        h = device.export_texture(texture)
        try:
            return importer.import_texture(h)
        finally:
            h.close()

    ms, tex = _timed(go)
    tex.close()
    return ms


def download_ms(texture) -> float:
    return _timed(texture.download)[0]


# -- the run ----------------------------------------------------------------------------------

def parse_sizes(sizes) -> list[tuple[int, int]]:
    """``"1920x1080,3840x2160"`` (or a list of ``"WxH"`` strings or pairs) as (width, height)
    pairs; ValueError for anything else or a size that is not positive."""
    if isinstance(sizes, str):
        sizes = sizes.split(",")
    out = []
    for s in sizes:
        if isinstance(s, str):
            w, h = (int(v) for v in s.lower().split("x"))
        else:
            w, h = (int(v) for v in s)
        if w <= 0 or h <= 0:
            raise ValueError(f"a size must be positive, got {w}x{h}")
        out.append((w, h))
    if not out:
        raise ValueError("no sizes given")
    return out


def config(quick: bool, iterations: int | None, repeats: int | None) -> dict:
    """The samples per run and repeats of ``run``; ValueError for counts below 1."""
    if iterations is None:
        c = ({"frames": 100, "copy_frames": 10, "wake_rounds": 2000, "one_time": 8, "repeats": 3} if quick else
             {"frames": 300, "copy_frames": 30, "wake_rounds": 5000, "one_time": 30, "repeats": 3})
    else:
        n = int(iterations)
        if n < 1:
            raise ValueError(f"iterations must be at least 1, got {n}")
        c = {"frames": n, "copy_frames": max(3, n // 10), "wake_rounds": n, "one_time": max(3, n // 10),
             "repeats": 3}
    if repeats is not None:
        if int(repeats) < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        c["repeats"] = int(repeats)
    c["quick"] = bool(quick)
    return c


class _Comparison:
    """One row group of the table: a baseline case and the cases measured against it."""

    def __init__(self, key: str, title: str, unit: str, cases: list[tuple[str, str]]):
        self.key, self.title, self.unit = key, title, unit
        self.cases = cases  # (case key, label); the first is the baseline
        self.runs = {k: [] for k, _ in cases}  # one list of samples per repeat

    def add(self, case: str, xs: list[float]) -> None:
        self.runs[case].append(list(xs))

    def result(self) -> dict:
        base = self.cases[0][0]
        rows = []
        stats = {}
        for k, label in self.cases:
            runs = self.runs[k]
            stats[k] = {"p50": statistics.median(percentile(r, 0.50) for r in runs),
                        "p99": statistics.median(percentile(r, 0.99) for r in runs)}
        for k, label in self.cases:
            rows.append({"case": k, "label": label, "p50": stats[k]["p50"], "p99": stats[k]["p99"],
                         "n": sum(len(r) for r in self.runs[k]), "repeats": len(self.runs[k]),
                         "ratio_p50": stats[k]["p50"] / stats[base]["p50"],
                         "ratio_p99": stats[k]["p99"] / stats[base]["p99"]})
        return {"key": self.key, "title": self.title, "unit": self.unit, "baseline": base, "rows": rows}

    def samples(self) -> dict[str, list[float]]:
        return {label: [x for r in self.runs[k] for x in r] for k, label in self.cases}


def _git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _print_table(comparisons: list[dict], out) -> None:
    head = f"{'comparison':<30}{'case':<42}{'unit':>5}{'p50':>11}{'p99':>11}{'n':>7}{'p50 ratio':>11}{'p99 ratio':>11}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for c in comparisons:
        for i, r in enumerate(c["rows"]):
            title = c["title"] if i == 0 else ""
            label = r["label"] + (" (baseline)" if r["case"] == c["baseline"] else "")
            print(f"{title:<30}{label:<42}{c['unit']:>5}{r['p50']:>11.3f}{r['p99']:>11.3f}{r['n']:>7}"
                  f"{r['ratio_p50']:>10.2f}x{r['ratio_p99']:>10.2f}x", file=out)


PLOT_NEEDS_MATPLOTLIB = "a plot needs matplotlib, which is not installed (pip install matplotlib)"


def plot_available() -> bool:
    """Whether matplotlib, which the plot needs, is importable (it is not a dependency)."""
    return importlib.util.find_spec("matplotlib") is not None


def _plot(groups: list[tuple[dict, dict[str, list[float]]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 1.2 + 1.1 * sum(len(s) for _, s in groups) / 1.5),
                             squeeze=False)
    for ax, (c, samples) in zip(axes[:, 0], groups):
        labels = list(samples)[::-1]  # boxplot draws bottom-up: the baseline ends on top
        ax.boxplot([samples[k] for k in labels], vert=False, whis=(1, 99), showfliers=False)
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
        ax.set_xscale("log")
        ax.set_title(c["title"], fontsize=9)
        ax.set_xlabel(f"{c['unit']} (box: p25-p75, whiskers: p1-p99, log scale)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(sizes="1920x1080,3840x2160", iterations: int | None = None, repeats: int | None = None,
        quick: bool = False, device=None, fallback_device=None, json_path: str | None = None,
        plot_path: str | None = None, out=None, command: str | None = None,
        cpp_bench: str | None = None) -> dict:
    """Runs every comparison, prints one table to ``out`` (stdout), writes ``json_path`` and
    ``plot_path`` (a PNG; needs matplotlib) where they are given, and nothing else. Returns what
    the JSON holds.

    ``device`` is a Device or a selector for one. ``iterations`` sets the samples per run of the
    cheap measurements (frames, wake round trips); the expensive ones (copy path, 4K
    allocations, imports and downloads) take a tenth of it, at least 3. ``repeats`` interleaved
    runs per comparison; the medians of their p50 and p99 are reported. ``fallback_device`` (a
    Device or a selector) is the copy path's consumer device (bench_fallback.py; default: the
    same device with ``zero_copy="never"``). ``command`` is recorded
    in the JSON as the command line that ran this.
    """
    out = out or sys.stdout
    if plot_path and not plot_available():
        raise geyser.UnsupportedOperationError(PLOT_NEEDS_MATPLOTLIB)
    started = time.monotonic()
    sizes = parse_sizes(sizes)
    cfg = config(quick, iterations, repeats)
    dev = device if isinstance(device, geyser.Device) else geyser.Device(device)
    print(f"device: {dev.name} ({dev.info.driver_name} {dev.info.driver_info}); RGBA8; "
          f"{cfg['repeats']} interleaved repeats, medians of their p50/p99 reported"
          f"{'; --quick' if quick else ''}", file=out, flush=True)

    def copy_frames(w, h):
        # --quick keeps 4K's slow copy path short; every size still runs.
        if not quick:
            return cfg["copy_frames"]
        return max(3, round(cfg["copy_frames"] * 1920 * 1080 / (w * h)))

    groups: list[_Comparison] = []
    skipped: list[str] = []

    def step(msg):
        print(f"  [{time.monotonic() - started:6.1f} s] {msg}", file=out, flush=True)

    # 1 and 2: handoffs per size.
    for w, h in sizes:
        size = f"{w}x{h}"
        hand = _Comparison(f"handoff-{size}", f"handoff {size}", "ms",
                           [("zero-copy", "zero-copy (named sender)"), ("copy", "copy: download+shm+upload")])
        imp = _Comparison(f"imports-{size}", f"imports {size}", "ms",
                          [("cached", "imports cached (Subscriber)"), ("per-frame", "export+send+import per frame")])
        for _ in range(cfg["repeats"]):
            step(f"handoff {size}")
            hand.add("zero-copy", zero_copy(dev, w, h, cfg["frames"]))
            hand.add("copy", copy_path(dev, w, h, copy_frames(w, h)))
            step(f"imports {size}")
            imp.add("cached", zero_copy(dev, w, h, cfg["frames"]))
            imp.add("per-frame", import_each_frame(dev, w, h, cfg["frames"]))
        groups += [hand, imp]

    # The copy path (bench_fallback.py): against the hand-written copy, and its cost to zero-copy
    # subscribers of the same sender.
    fb_dev = fallback_device
    if fb_dev is not None and not isinstance(fb_dev, geyser.Device):
        fb_dev = geyser.Device(fb_dev)
    groups += bench_fallback.comparisons(dev, sizes, cfg, copy_frames, step, _Comparison, copy_path, zero_copy,
                                         consumer_device=fb_dev, start_consumer=_consumer)

    # The OpenGL consumer (bench_gl.py).
    groups += bench_gl.comparisons(dev, sizes, cfg["repeats"], cfg["frames"], copy_frames, step, skipped,
                                   zero_copy=zero_copy, copy_path=copy_path, comparison=_Comparison)

    # 3: wake.
    modes = wake_modes(dev)
    if "vulkan" not in modes:
        skipped.append(f"Vulkan timeline wake: {dev.name} cannot export timeline semaphores as opaque_fd")
    labels = {"eventfd": "raw eventfd ping-pong", "portable": "portable timeline", "vulkan": "Vulkan timeline"}
    wake = _Comparison("wake", "cross-process wake (one-way)", "us", [(m, labels[m]) for m in modes])
    for _ in range(cfg["repeats"]):
        step("wake")
        for m in modes:  # interleaved, so drifting machine load hits every mode alike
            wake.add(m, sample(m, cfg["wake_rounds"], dev))
    groups.append(wake)

    # 4 and 5: the largest size, in this process, imported into a second Device.
    w, h = max(sizes, key=lambda s: s[0] * s[1])
    size = f"{w}x{h}"
    desc = geyser.TextureDescriptor(w, h)
    importer = geyser.Device(dev.info.device_uuid)
    pattern = np.full((h, w, 4), 7, np.uint8)
    one = _Comparison(f"one-time-{size}", f"one-time cost {size}", "ms",
                      [("local", "create_shareable_texture"), ("import", "export + import (2nd Device)")])
    read = _Comparison(f"read-{size}", f"read (download) {size}", "ms",
                       [("local", "local texture"), ("imported", "imported texture")])
    src = dev.create_shareable_texture(desc)
    src.upload(pattern)
    local = importer.create_shareable_texture(desc)
    local.upload(pattern)
    with dev.export_texture(src) as handle:
        imported = importer.import_texture(handle)
    try:
        for _ in range(cfg["repeats"]):
            step(f"one-time cost and read {size}")
            a, b, c, d = [], [], [], []
            for _ in range(cfg["one_time"]):
                a.append(local_allocation(dev, desc))
                b.append(export_import(dev, importer, src))
                c.append(download_ms(local))
                d.append(download_ms(imported))
            one.add("local", a)
            one.add("import", b)
            read.add("local", c)
            read.add("imported", d)
    finally:
        for t in (imported, local, src):
            t.close()
        importer.close()
    groups += [one, read]

    # 6: binding overhead. The C++ program reports medians, one per repeat.
    loops = cfg["frames"] * 4
    calls = _Comparison("calls", "non-blocking call (Python)", "us",
                        [("getppid", "os.getppid() (a trivial syscall)"), ("value", "timeline.value"),
                         ("width", "texture.width")])
    cpp_path = cpp_bench if cpp_bench is not None else (CPP_BENCH_DEFAULT if os.path.exists(CPP_BENCH_DEFAULT) else None)
    binding = None
    if cpp_path:
        binding = [_Comparison("binding-export-import", "export+import 256x256 loop", "us",
                               [("cpp", "C++ loop (geyser::core)"), ("python", "Python loop")]),
                   _Comparison("binding-signal-wait", "timeline signal+wait loop", "us",
                               [("cpp", "C++ loop (geyser::core)"), ("python", "Python loop")])]
    for _ in range(cfg["repeats"]):
        step("binding overhead")
        py = _python_loops(dev, loops)
        for k in ("getppid", "value", "width"):
            calls.add(k, py[k])
        if binding:
            cpp = _cpp_loops(cpp_path, loops)
            for group, key in zip(binding, ("export_import", "signal_wait")):
                group.add("cpp", [cpp[key]])
                group.add("python", [statistics.median(py[key])])
    groups.append(calls)
    if binding:
        groups += binding

    # 7: streams (bench_streams.py): fan-out in both modes, a slow consumer in latest mode.
    groups += bench_streams.comparisons(dev, cfg, step, _Comparison)
    # 8: a tensor stream (bench_tensors.py): publish of named tensors -> read() in another process.
    groups += bench_tensors.comparisons(dev, cfg, step, _Comparison)

    # 8: GPU-to-GPU copies (bench_peer_copy.py), only where CUDA is present.
    groups += bench_peer_copy.comparisons(dev, sizes, cfg, step, skipped, _Comparison)
    groups += bench_peer_copy.delivery_comparisons(dev, sizes, cfg, step, skipped, _Comparison)

    comparisons = [g.result() for g in groups]
    elapsed = time.monotonic() - started
    print(file=out)
    _print_table(comparisons, out)
    print("ratio = case / baseline of its comparison (above 1: slower than the baseline)", file=out)
    peer_bandwidth = bench_peer_copy.bandwidth(comparisons)
    bench_peer_copy.print_bandwidth(peer_bandwidth, out)
    for s in skipped:
        print(f"skipped: {s}", file=out)
    if not binding:
        print(BINDING_OVERHEAD_LINE, file=out)
    else:
        print(f"binding overhead: C++ side is {cpp_path} (medians per repeat; Python side medians of the "
              "same loops)", file=out)

    plot_written = None
    if plot_path:
        _plot([(c, g.samples()) for c, g in zip(comparisons, groups)], plot_path)
        plot_written = plot_path
        print(f"plot: {plot_path}", file=out)

    result = {
        "device": dev.name, "driver": f"{dev.info.driver_name} {dev.info.driver_info}".strip(),
        "device_uuid": dev.info.device_uuid, "commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "config": {**cfg, "sizes": [f"{a}x{b}" for a, b in sizes]}, "elapsed_s": round(elapsed, 1),
        "comparisons": comparisons, "peer_copy_bandwidth": peer_bandwidth, "skipped": skipped, "binding_overhead": None if binding else BINDING_OVERHEAD_LINE,
        "plot": plot_written,
        # GEYSER_VALIDATION=1: what the layer reported in this process (the consumers' are not collected).
        "validation_messages": geyser.validation_messages(),
    }
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"json: {json_path}", file=out)
    print(f"total time: {elapsed:.1f} s", file=out)
    return result
