"""The copy path's benchmarks (``python -m geyser bench``; docs/fallback.md).

Two comparisons per size, every case in the same run, interleaved:

1. ``fallback-WxH``: a frame's handoff through the copy path (``Subscriber(zero_copy="never")``,
   or a consumer on another device: the producer downloads the frame once into the sealed
   shared-memory ring in ``end_frame``, the consumer uploads it into its own texture in
   ``next_frame``) against the hand-written copy path ``bench`` measures (download to numpy,
   ``multiprocessing.shared_memory``, upload; the baseline) and the zero-copy handoff. Timed as
   ``bench.zero_copy`` times it: from just before ``end_frame`` until the consumer holds the
   frame in a texture of its device, one frame in flight.
2. ``fallback-neighbour-WxH`` (the smallest size only): what a copy subscriber costs the zero-copy
   subscribers of the same sender: a zero-copy consumer's handoff alone (the baseline) and with a
   copy subscriber subscribed too, and the producer's ``end_frame`` (its per-frame cost) in both
   cases.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

import geyser

__all__ = ["fallback", "neighbour", "comparisons"]

_CONSUMER = r"""
import json, os, struct, sys, time
import geyser
req = json.loads(sys.argv[1])
os.environ.update(req.get("env", {}))  # bench_peer_copy: the test-only same-GPU peer-copy switch
dev = geyser.Device(req["device"])
sub = geyser.Subscriber(dev, req["name"], timeout=30, zero_copy=req["zero_copy"])
assert sub.path == req["path"], (sub.path, sub.reason)
out = req["out"]
os.write(out, b"R")
for _ in range(req["frames"]):
    f = sub.next_frame(timeout=30)
    t1 = time.monotonic_ns()
    sub.release(f)
    if req["timed"]:
        os.write(out, struct.pack("<q", t1))
if not req["timed"]:
    os.write(out, b"D")
sub.close()
"""


def _start(req: dict, pass_fds) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CONSUMER, json.dumps(req)], pass_fds=pass_fds)


def _read(pipe, n: int) -> bytes:
    data = pipe.read(n)  # a buffered read returns n bytes, or fewer only at the end
    if len(data) != n:
        raise RuntimeError("benchmark consumer exited early")
    return data


def _run(device, width: int, height: int, frames: int, timed: dict, idle: dict | None,
         wall: list | None = None, sender_options: dict | None = None) -> tuple[list[float], list[float]]:
    """Publishes `frames` frames to one timed consumer (and an untimed one, `idle`); returns the
    handoff latencies and the producer's end_frame times, both in ms (and appends the publishing
    loop's wall time per frame, ms, to `wall` when given). `sender_options`: more keyword
    arguments of the Sender."""
    name = f"bench-fallback-{os.getpid()}-{time.monotonic_ns() % 100000}"
    desc = geyser.TextureDescriptor(width, height)
    procs = []
    pipes = []  # buffered readers of the consumers' pipes
    with geyser.Sender(device, name, desc, ring_size=2, **(sender_options or {})) as sender:
        for tex in sender.ring:  # "rendered" before the clock starts
            tex.upload(np.full((height, width, 4), 7, np.uint8))
        try:
            for req in ([timed] + ([idle] if idle else [])):
                r, w = os.pipe()
                procs.append(_start(dict(req, name=name, frames=frames, out=w), [w]))
                os.close(w)
                pipes.append(os.fdopen(r, "rb"))
                if _read(pipes[-1], 1) != b"R":
                    raise RuntimeError("benchmark consumer did not start")
            handoff, producer = [], []
            loop0 = time.monotonic_ns()
            for _ in range(frames):
                frame = sender.begin_frame(timeout=30)
                t0 = time.monotonic_ns()
                sender.end_frame(frame)
                producer.append((time.monotonic_ns() - t0) / 1e6)
                (t1,) = struct.unpack("<q", _read(pipes[0], 8))
                handoff.append((t1 - t0) / 1e6)
            if wall is not None:
                wall.append((time.monotonic_ns() - loop0) / 1e6 / frames)
            if idle:
                _read(pipes[1], 1)
        finally:
            for p in procs:
                if p.wait(timeout=120) != 0:
                    raise RuntimeError(f"benchmark consumer exited with status {p.returncode}")
            for pipe in pipes:
                pipe.close()
    return handoff, producer


def _request(device, consumer_device, zero_copy: str, path: str, timed: bool) -> dict:
    target = consumer_device if consumer_device is not None else device
    return {"device": target.info.device_uuid, "zero_copy": zero_copy, "path": path, "timed": timed}


def fallback(device, width: int, height: int, frames: int, consumer_device=None) -> tuple[list[float], list[float]]:
    """Handoff latencies and producer end_frame times (ms) of the copy path: the consumer on
    ``consumer_device`` (another device: the copy path it must take) or on ``device`` with
    ``zero_copy="never"``."""
    other = consumer_device is not None and consumer_device.info.device_uuid != device.info.device_uuid
    req = _request(device, consumer_device, "auto" if other else "never", "copy", True)
    return _run(device, width, height, frames, req, None)


def neighbour(device, width: int, height: int, frames: int, with_copy: bool,
              consumer_device=None) -> tuple[list[float], list[float]]:
    """A zero-copy consumer's handoffs and the producer's end_frame times (ms), with or without a
    copy subscriber of the same sender beside it."""
    idle = None
    if with_copy:
        other = consumer_device is not None and consumer_device.info.device_uuid != device.info.device_uuid
        idle = _request(device, consumer_device, "auto" if other else "never", "copy", False)
    return _run(device, width, height, frames, _request(device, None, "require", "zero-copy", True), idle)


def comparisons(dev, sizes, cfg: dict, copy_frames, step, comparison, copy_path, zero_copy,
                consumer_device=None, start_consumer=None) -> list:
    """The comparisons above, for ``bench.run`` (which passes its own ``copy_path``,
    ``zero_copy`` and ``comparison`` class). With a ``consumer_device``, the hand-written copy's
    consumer runs on it too, started by ``start_consumer(request, pass_fds)`` (bench's); the
    zero-copy case stays on ``dev``, a reference."""
    groups = []
    smallest = min(sizes, key=lambda s: s[0] * s[1])
    hand = copy_path
    if consumer_device is not None:
        uuid = consumer_device.info.device_uuid

        def hand(d, w, h, n):
            return copy_path(d, w, h, n, consumer=lambda req, fds: start_consumer(dict(req, device=uuid), fds))
    for w, h in sizes:
        size = f"{w}x{h}"
        fb = comparison(f"fallback-{size}", f"copy path (fallback) {size}", "ms",
                        [("hand-copy", "hand-written copy (bench's copy path)"),
                         ("fallback", "Geyser's copy path (Subscriber)"), ("zero-copy", "zero-copy")])
        nb = None
        if (w, h) == smallest:
            nb = comparison(f"fallback-neighbour-{size}", f"a copy subscriber's cost to zero-copy ones {size}", "ms",
                            [("alone", "zero-copy handoff, alone"), ("with-copy", "zero-copy handoff, copy sub too"),
                             ("producer-alone", "producer end_frame, alone"),
                             ("producer-with-copy", "producer end_frame, copy sub too")])
        n = copy_frames(w, h)
        for _ in range(cfg["repeats"]):
            step(f"copy path {size}")
            fb.add("hand-copy", hand(dev, w, h, n))
            fb.add("fallback", fallback(dev, w, h, n, consumer_device)[0])
            fb.add("zero-copy", zero_copy(dev, w, h, n))
            if nb is not None:
                step(f"copy subscriber beside zero-copy {size}")
                a, pa = neighbour(dev, w, h, n, False, consumer_device)
                b, pb = neighbour(dev, w, h, n, True, consumer_device)
                nb.add("alone", a)
                nb.add("with-copy", b)
                nb.add("producer-alone", pa)
                nb.add("producer-with-copy", pb)
        groups += [fb] + ([nb] if nb is not None else [])
    return groups
