"""Stream benchmarks for ``python -m geyser bench``: fan-out to 1, 4 and 16 consumer processes
in both delivery modes, and a slow consumer in latest mode.

Fan-out: the producer publishes 1080p frames of a named sender (the ring was written before the
clock starts; a frame is begin_frame + end_frame with the host signalling "ready"), one every
``interval`` seconds, to N consumer processes that receive and release each frame. Handoff
latency is from the producer's end_frame to a consumer's next_frame returning it (one
CLOCK_MONOTONIC for all processes); the producer's per-frame cost is its begin_frame + end_frame
(in lossless mode that includes waiting for the slowest consumer's release).

Slow consumer: in latest mode the producer must not slow down for a consumer that takes 50 ms a
frame. The producer "renders" 1 ms a frame (a sleep) and publishes; the comparison is its frame
period (start to start, the inverse of its rate) with no consumer and with that one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import geyser

_CONSUMER = r"""
import json, os, sys, time
import geyser
name, out, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
dev = geyser.Device(sys.argv[4])
sub = geyser.Subscriber(dev, name, timeout=60)
os.write(out, b"R")
seen = []
try:
    while True:
        f = sub.next_frame(timeout=60)
        seen.append((f.number, time.monotonic_ns()))
        if hold:
            time.sleep(hold)
        sub.release(f)
except geyser.PeerGoneError:
    pass
print(json.dumps(seen), flush=True)
"""


def _consumers(device, name: str, count: int, hold: float) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count):
        r, w = os.pipe()
        procs.append(subprocess.Popen([sys.executable, "-c", _CONSUMER, name, str(w), str(hold),
                                       device.info.device_uuid], pass_fds=[w], stdout=subprocess.PIPE, text=True))
        os.close(w)
        if os.read(r, 1) != b"R":
            raise RuntimeError("a benchmark consumer did not subscribe")
        os.close(r)
    return procs


def _publish(sender, frames: int, interval: float, starts: list[int] | None = None) -> tuple[dict[int, int], list[float]]:
    published, costs = {}, []
    for _ in range(frames):
        t0 = time.monotonic_ns()
        if starts is not None:
            starts.append(t0)
        frame = sender.begin_frame(timeout=60)
        t1 = time.monotonic_ns()
        sender.end_frame(frame)
        t2 = time.monotonic_ns()
        published[frame.number] = t1
        costs.append((t2 - t0) / 1e6)
        if interval:
            time.sleep(interval)
    return published, costs


def fan_out(device, width: int, height: int, consumers: int, mode: str, frames: int,
            interval: float = 0.005) -> tuple[list[float], list[float]]:
    """(handoff latencies in ms over every consumer, producer per-frame costs in ms)."""
    name = f"bench-fanout-{os.getpid()}-{consumers}-{mode}"
    desc = geyser.TextureDescriptor(width, height)
    with geyser.Sender(device, name, desc, ring_size=4, mode=mode) as sender:
        procs = _consumers(device, name, consumers, 0.0)
        sender.wait_for_subscribers(consumers, timeout=60)
        published, costs = _publish(sender, frames, interval)
        sender.close()
        latencies = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            if p.returncode != 0:
                raise RuntimeError(f"a benchmark consumer exited with status {p.returncode}")
            latencies += [(t - published[n]) / 1e6 for n, t in json.loads(out)]
    return latencies, costs


def slow_consumer(device, width: int, height: int, frames: int, hold: float = 0.05) -> tuple[list[float], list[float]]:
    """Latest mode: the producer's frame periods (ms) with no consumer, and with one taking ``hold`` s a frame."""
    out = []
    for n in (0, 1):
        name = f"bench-slow-{os.getpid()}-{n}"
        with geyser.Sender(device, name, geyser.TextureDescriptor(width, height), ring_size=3, mode="latest") as s:
            procs = _consumers(device, name, n, hold)
            s.wait_for_subscribers(n, timeout=60)
            starts: list[int] = []
            _publish(s, frames, 0.001, starts)
            s.close()
            for p in procs:
                p.communicate(timeout=60)
        out.append([(b - a) / 1e6 for a, b in zip(starts, starts[1:])])
    return out[0], out[1]


def comparisons(device, cfg: dict, step, comparison) -> list:
    """The stream comparisons, built with bench.py's ``comparison`` class; ``step`` logs progress."""
    counts = (1, 4) if cfg["quick"] else (1, 4, 16)
    frames = max(20, cfg["frames"] // (3 if cfg["quick"] else 1))
    repeats = 1 if cfg["quick"] else cfg["repeats"]  # each run starts its consumer processes
    groups = []
    for mode in ("lossless", "latest"):
        cases = [(str(n), f"{n} consumer{'s' if n > 1 else ''}") for n in counts]
        lat = comparison(f"fanout-{mode}-1920x1080", f"fan-out {mode} 1080p", "ms", cases)
        cost = comparison(f"fanout-cost-{mode}-1920x1080", f"producer/frame {mode} 1080p", "ms", cases)
        for _ in range(repeats):
            for n in counts:
                step(f"fan-out {mode} x{n}")
                a, b = fan_out(device, 1920, 1080, n, mode, frames)
                lat.add(str(n), a)
                cost.add(str(n), b)
        groups += [lat, cost]
    slow = comparison("latest-slow-consumer", "latest: producer period", "ms",
                      [("none", "no consumer"), ("slow", "one consumer at 50 ms/frame")])
    for _ in range(repeats):
        step("latest with a slow consumer")
        none, with_slow = slow_consumer(device, 1920, 1080, frames * 2)
        slow.add("none", none)
        slow.add("slow", with_slow)
    groups.append(slow)
    return groups
