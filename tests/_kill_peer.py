"""The other processes of tests/test_kill.py (run by it, not by pytest).

Usage: ``python _kill_peer.py MODE NAME [args]``. Each process prints one marker line per step it
reaches (``up``, ``subscribed``, ``holding N``, ``waiting``, ...), so the test knows where it was
when it killed it, and a survivor ends with one JSON line saying what it saw.

Modes:
  producer NAME RING FRAMES SUBSCRIBERS MODE
                                          publish FRAMES frames of the 48x20 pattern in delivery
                                          MODE (lossless or latest) once SUBSCRIBERS have
                                          subscribed, then idle (until killed)
  consumer NAME HOLD_S                    subscribe, then read frames until the producer goes,
                                          checking every frame's bytes and holding the latest
                                          one for HOLD_S seconds (the producer cannot reuse its
                                          slot); answer with what it read, whether the ring was
                                          still readable after the producer went, how long its
                                          last blocking call took, and its fd counts
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import numpy as np

import geyser
from geyser.demo import pattern

DESC = geyser.TextureDescriptor(48, 20)
#: Every blocking call in the peers takes this timeout (seconds); the test allows a little more.
TIMEOUT = 3.0


def _mark(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def want(number: int) -> np.ndarray:
    return pattern(DESC.format, DESC.width, DESC.height, number)


def producer(name: str, ring: int, frames: int, subscribers: int, mode: str) -> int:
    device = geyser.Device()
    # Consumers hold a frame for a while: a long release timeout keeps them subscribed.
    sender = geyser.Sender(device, name, DESC, ring_size=ring, release_timeout=30.0, mode=mode)
    _mark("up")
    deadline = time.monotonic() + 30
    while sender.subscribers < subscribers:
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.002)
    _mark("subscribed")
    for n in range(1, frames + 1):
        sender.publish(want(n), timeout=30.0)
        _mark(f"frame {n}")
    _mark("published")
    time.sleep(120)  # the test kills it
    return 0


def consume(device, name: str, hold: float, mark=_mark) -> dict:
    """Reads frames from ``name`` until the producer goes; the answer the test checks.

    Shared by the consumer peer and the test process itself when it is the consumer.
    """
    gc.collect()
    answer: dict = {"numbers": [], "bad": 0, "fds_before": _fds()}
    t0 = time.monotonic()
    try:
        sub = geyser.Subscriber(device, name, timeout=TIMEOUT)
    except geyser.GeyserError as e:
        answer.update(subscribe_error=type(e).__name__, message=str(e), blocked_s=time.monotonic() - t0)
        gc.collect()
        answer["fds_after"] = _fds()
        return answer
    mark("subscribed")
    answer["mode"] = sub.info.mode
    held = None
    try:
        while True:
            mark("waiting")
            t0 = time.monotonic()
            try:
                frame = sub.next_frame(timeout=TIMEOUT)
            except geyser.GeyserError as e:
                answer.update(end=type(e).__name__, message=str(e), blocked_s=time.monotonic() - t0)
                break
            answer["numbers"].append(frame.number)
            answer["bad"] += not np.array_equal(frame.texture.download(), want(frame.number))
            mark(f"holding {frame.number}")
            if held is not None:
                sub.release(held)  # the latest frame stays held: its slot keeps its bytes
            held = frame
            time.sleep(hold)
        # Memory imported from a producer that has gone stays readable: the held frame's slot
        # still has exactly its bytes, and every slot can be downloaded.
        answer["ring_readable"] = all(t.download().shape == (DESC.height, DESC.width, 4) for t in sub.ring)
        if held is not None:
            answer["held"] = held.number
            answer["held_intact"] = bool(np.array_equal(sub.ring[held.slot].download(), want(held.number)))
    finally:
        sub.close()
        del sub, held
        frame = None
        gc.collect()
    answer["fds_after"] = _fds()
    return answer


def main() -> int:
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "producer":
        return producer(name, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    if mode == "consumer":
        device = geyser.Device()
        _mark("starting")
        answer = consume(device, name, float(sys.argv[3]))
        answer["validation"] = geyser.validation_messages()
        _mark(json.dumps(answer))
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main())
