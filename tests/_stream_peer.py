"""A peer process for tests/test_streams.py.

``interrupt CASE NAME``: prints "blocking", enters one blocking Geyser call, and when SIGINT's
KeyboardInterrupt ends it prints a JSON line saying so and whether the object is still usable.
``consume NAME COUNT HOLD``: reads COUNT frames of the sender NAME, holding each HOLD seconds and
checking its pixels while held; prints a JSON answer.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import geyser
from geyser import _native
from geyser.demo import pattern

LONG = 60.0
DESC = geyser.TextureDescriptor(48, 20)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def interrupt(case: str, name: str) -> int:
    dev = geyser.Device()
    setup = {}
    if case == "connect":
        call = lambda: geyser.Subscriber(dev, name, timeout=LONG)  # noqa: E731 - nobody publishes `name`
        usable = lambda: True  # noqa: E731
    elif case in ("next_frame", "begin_frame"):
        sender = geyser.Sender(dev, name, DESC, ring_size=1)
        sub = geyser.Subscriber(dev, name, timeout=10)
        if case == "next_frame":
            call = lambda: sub.next_frame(timeout=LONG)  # noqa: E731 - nothing is published

            def usable():
                sender.publish(pattern(DESC.format, DESC.width, DESC.height, 1))
                with sub.next_frame(timeout=5) as f:
                    return f.number == 1
        else:
            sender.publish(pattern(DESC.format, DESC.width, DESC.height, 1))
            setup["held"] = sub.next_frame(timeout=5)  # held: the ring of one is full
            call = lambda: sender.begin_frame(timeout=LONG)  # noqa: E731

            def usable():
                sub.release(setup["held"])
                return sender.publish(pattern(DESC.format, DESC.width, DESC.height, 2)) == 2
    elif case == "wait_for_subscribers":
        sender = geyser.Sender(dev, name, DESC)
        call = lambda: sender.wait_for_subscribers(1, timeout=LONG)  # noqa: E731
        usable = lambda: sender.subscribers == 0 and not sender.closed  # noqa: E731
    elif case == "query":
        listener = _native.Listener.bind(_native.sender_socket_path(name))  # never answers
        call = lambda: geyser.query_sender(name, timeout=LONG)  # noqa: E731
        usable = lambda: listener is not None  # noqa: E731
    elif case in ("timeline", "semaphore"):
        counter = dev.create_shared_timeline("portable") if case == "timeline" else dev.create_semaphore("timeline")
        call = lambda: counter.wait(1, timeout=LONG)  # noqa: E731

        def usable():
            counter.signal(1)
            counter.wait(1, timeout=0)
            return True
    elif case == "fence":
        fence = dev.create_fence()
        call = lambda: fence.wait(timeout=LONG)  # noqa: E731
        usable = lambda: not fence.signaled  # noqa: E731
    elif case == "channel":
        a, b = geyser.Channel.pair()
        call = lambda: a.receive(LONG)  # noqa: E731

        def usable():
            b.send(_native.MESSAGE_GOODBYE, b"", [])
            return a.receive(5)[0] == _native.MESSAGE_GOODBYE
    else:
        raise SystemExit(f"unknown case {case!r}")
    print("blocking", flush=True)
    cpu0, t0 = _cpu_s(), time.monotonic()
    try:
        call()
        answer = {"interrupted": False}
    except KeyboardInterrupt:
        answer = {"interrupted": True}
    wall = time.monotonic() - t0
    answer["cpu_per_s"] = (_cpu_s() - cpu0) / max(wall, 1e-6)
    answer["usable"] = bool(usable())
    print(json.dumps(answer), flush=True)
    return 0


def consume(name: str, count: int, hold: float) -> int:
    dev = geyser.Device()
    fds_before = len(os.listdir("/proc/self/fd"))
    sub = geyser.Subscriber(dev, name, timeout=10)
    print(json.dumps({"subscribed": sub.info.current_frame, "mode": sub.info.mode}), flush=True)
    numbers, bad = [], 0
    error = None
    try:
        while len(numbers) < count:
            with sub.next_frame(timeout=10) as f:
                want = pattern(sub.info.descriptor.format, sub.info.width, sub.info.height, f.number)
                bad += not np.array_equal(f.texture.download(), want)
                time.sleep(hold)
                # Held the whole time: the producer must not have written the slot meanwhile.
                bad += not np.array_equal(f.texture.download(), want)
                numbers.append(f.number)
    except geyser.GeyserError as e:
        error = f"{type(e).__name__}: {e}"
    answer = {"numbers": numbers, "bad": bad, "dropped": sub.frames_dropped, "error": error}
    if os.environ.get("GEYSER_PEER_FDS"):
        sub.close()
        f = sub = None
        import gc
        gc.collect()
        answer["fds"] = [fds_before, len(os.listdir("/proc/self/fd"))]
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "interrupt":
        sys.exit(interrupt(sys.argv[2], sys.argv[3]))
    sys.exit(consume(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
