"""Tensor-stream benchmark for ``python -m geyser bench``: per-frame handoff of a tensor frame
(``obs`` float32[64, 84, 84] and ``reward`` float32[64], 1.8 MB) to a consumer process that
reads it on the host (``frame.read()``: the path that works everywhere, lavapipe included).

Latency is from the producer's ``publish(dict of arrays)`` (packing and uploading included) to
the consumer holding the numpy arrays (one CLOCK_MONOTONIC for both processes), lock-step: a
ring of one, so each frame waits for the consumer's release of the one before. The producer's
per-frame cost is its publish call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

import geyser

TENSORS = {"obs": ("float32", (64, 84, 84)), "reward": ("float32", (64,))}

_CONSUMER = r"""
import json, os, sys, time
import geyser
name, out, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sub = geyser.Subscriber(geyser.Device(sys.argv[4]), name, timeout=60)
os.write(out, b"R")
seen = []
for _ in range(frames):
    with sub.next_frame(timeout=60) as f:
        arrays = f.read()
        seen.append((f.number, time.monotonic_ns()))
        if float(arrays["reward"][0]) != f.number:
            raise SystemExit(f"frame {f.number}: reward {arrays['reward'][0]}")
print(json.dumps(seen), flush=True)
"""


def handoff(device, frames: int) -> tuple[list[float], list[float]]:
    """(handoff latencies in ms, producer publish costs in ms)."""
    name = f"bench-tensors-{os.getpid()}"
    arrays = {k: np.zeros(shape, dtype) for k, (dtype, shape) in TENSORS.items()}
    with geyser.Sender(device, name, tensors=TENSORS, ring_size=1) as sender:
        r, w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", _CONSUMER, name, str(w), str(frames), device.info.device_uuid],
                                pass_fds=[w], stdout=subprocess.PIPE, text=True)
        os.close(w)
        ok = os.read(r, 1) == b"R"
        os.close(r)
        if not ok:
            raise RuntimeError("the tensor benchmark's consumer did not subscribe")
        sender.wait_for_subscribers(1, timeout=60)
        published, costs = {}, []
        for n in range(1, frames + 1):
            arrays["reward"][0] = n
            t0 = time.monotonic_ns()
            published[sender.publish(arrays, timeout=60)] = t0
            costs.append((time.monotonic_ns() - t0) / 1e6)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"the tensor benchmark's consumer exited with status {proc.returncode}")
    return [(t - published[n]) / 1e6 for n, t in json.loads(out)], costs


def comparisons(device, cfg: dict, step, comparison) -> list:
    """The tensor-stream comparison, built with bench.py's ``comparison`` class."""
    frames = max(20, cfg["frames"] // (3 if cfg["quick"] else 1))
    group = comparison("tensor-stream-1.8MB", "tensor stream obs+reward 1.8 MB", "ms",
                       [("handoff", "publish -> read() in another process"), ("publish", "producer publish()")])
    for _ in range(1 if cfg["quick"] else cfg["repeats"]):
        step("tensor stream")
        latencies, costs = handoff(device, frames)
        group.add("handoff", latencies)
        group.add("publish", costs)
    return [group]
