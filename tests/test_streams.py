"""Streams as users expect them (issue 16), with real processes and sockets: Ctrl-C in every
blocking call, lossless and latest delivery with fast and slow consumers, late joiners, the
errors a consumer that misbehaves gets (each without leaking an fd), producer-side logging, and
event-loop use."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import geyser
from geyser.demo import pattern

DESC = geyser.TextureDescriptor(48, 20)
PEER = os.path.join(os.path.dirname(__file__), "_stream_peer.py")
# The issue asks for 100 ms from SIGINT to KeyboardInterrupt; a loaded 2-core CI machine gets
# generous slack (the waits check every 20 ms).
SIGINT_SLACK_S = 1.0


def _name(tag: str) -> str:
    return f"s-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _frame(n: int):
    return pattern(DESC.format, DESC.width, DESC.height, n)


def _peer(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, PEER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _answer(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


# ---- Ctrl-C ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["connect", "next_frame", "begin_frame", "wait_for_subscribers", "query",
                                  "timeline", "semaphore", "fence", "channel"])
def test_sigint_ends_every_blocking_call(device, case):
    proc = _peer("interrupt", case, _name(case))
    try:
        assert proc.stdout.readline().strip() == "blocking", proc.stderr.read()
        time.sleep(0.3)  # inside the wait now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        elapsed = time.monotonic() - t0
    finally:
        out, err = proc.communicate(timeout=30)
    answer = json.loads(line)
    assert answer["interrupted"], err
    assert elapsed < SIGINT_SLACK_S, f"{case}: KeyboardInterrupt came {elapsed * 1000:.0f} ms after SIGINT"
    assert answer["usable"], f"{case}: the object was not usable after the interruption"
    # Waking every 20 ms to look for signals costs next to nothing.
    assert answer["cpu_per_s"] < 0.25, f"{case}: a blocked wait used {answer['cpu_per_s']:.2f} s of CPU per second"


# ---- delivery modes ---------------------------------------------------------------------------

def test_lossless_fast_and_slow_consumers_get_every_frame_in_order(device):
    name = _name("lossless")
    frames = 40
    with geyser.Sender(device, name, DESC, ring_size=3) as sender:
        assert sender.info().mode == "lossless"
        fast, slow = _peer("consume", name, str(frames), "0"), _peer("consume", name, str(frames), "0.02")
        for p in (fast, slow):
            assert json.loads(p.stdout.readline())["mode"] == "lossless"
        sender.wait_for_subscribers(2, timeout=10)
        for n in range(1, frames + 1):
            sender.publish(_frame(n), timeout=10)
        a, b = _answer(fast), _answer(slow)
    for r in (a, b):
        assert r == {"numbers": list(range(1, frames + 1)), "bad": 0, "dropped": 0, "error": None}


def test_latest_never_waits_for_a_slow_consumer_and_never_overwrites_what_it_holds(device):
    name = _name("latest")
    with geyser.Sender(device, name, DESC, ring_size=3, mode="latest") as sender:
        slow = _peer("consume", name, "6", "0.05")  # 50 ms a frame, checked before and after the hold
        fast = _peer("consume", name, "10", "0")
        for p in (slow, fast):
            assert json.loads(p.stdout.readline())["mode"] == "latest"
        sender.wait_for_subscribers(2, timeout=10)
        n = 0
        while slow.poll() is None or fast.poll() is None:
            n += 1
            sender.publish(_frame(n), timeout=10)
            time.sleep(0.002)
            assert n < 20000, "the consumers never finished"
        s, f = _answer(slow), _answer(fast)
        assert sender.stats.subscribers_dropped == 0
    for r in (s, f):
        assert r["bad"] == 0 and r["error"] is None, r
        assert r["numbers"] == sorted(set(r["numbers"])), "frames out of order"
        assert r["dropped"] == r["numbers"][-1] - r["numbers"][0] + 1 - len(r["numbers"])
    assert s["dropped"] > 0, "a consumer taking 50 ms a frame kept up with a producer publishing every 2 ms"


@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_late_joiner_gets_the_current_frame_at_once(device, mode):
    name = _name("late-" + mode)
    with geyser.Sender(device, name, DESC, ring_size=3, mode=mode) as sender:
        for n in range(1, 6):
            sender.publish(_frame(n))
        late = _peer("consume", name, "1", "0")
        assert json.loads(late.stdout.readline())["subscribed"] == 5
        answer = _answer(late)  # nothing more is published: frame 5 is what it gets
    assert answer == {"numbers": [5], "bad": 0, "dropped": 0, "error": None}


# ---- honest errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_holding_every_allowed_slot_and_asking_for_another(device, mode):
    gc.collect()
    base = _fds()
    name = _name("full-" + mode)
    with geyser.Sender(device, name, DESC, ring_size=3, mode=mode) as sender:
        sub = geyser.Subscriber(device, name, timeout=5)
        assert sub.info.max_held == (3 if mode == "lossless" else 1)
        held = []
        for _ in range(sub.info.max_held):
            sender.publish(_frame(sender.frame + 1))
            held.append(sub.next_frame(timeout=5))
        t0 = time.monotonic()
        with pytest.raises(geyser.UnsupportedOperationError, match="release one"):
            sub.next_frame(timeout=30)
        assert time.monotonic() - t0 < 5, "refused only after waiting"
        sub.release(held.pop(0))  # lossless: the oldest frame's slot is the one written next
        sender.publish(_frame(sender.frame + 1), timeout=5)
        with sub.next_frame(timeout=5) as f:
            assert f.number == sender.frame
        sub.close()
    sender = sub = held = f = None
    gc.collect()
    assert _fds() == base


def test_release_checks_what_is_held_in_any_order_and_released_frames_cannot_be_read(device):
    gc.collect()
    base = _fds()
    name = _name("release")
    with geyser.Sender(device, name, DESC, ring_size=4) as sender:
        sub = geyser.Subscriber(device, name, timeout=5)
        for n in range(1, 4):
            sender.publish(_frame(n))
        a, b, c = (sub.next_frame(timeout=5) for _ in range(3))
        with pytest.raises(geyser.InvalidArgumentError, match="frame 99 is not held"):
            sub.release(99)
        sub.release(b)
        sub.release(3)
        assert sub.held == [1]
        with pytest.raises(geyser.InvalidArgumentError, match="not held"):
            sub.release(b)
        with pytest.raises(geyser.InvalidHandleError, match="released"):
            b.texture
        assert np.array_equal(a.texture.download(), _frame(1))
        a.release()
        for n in range(4, 12):  # every slot comes round again: nothing is held
            sender.publish(_frame(n), timeout=5)
            with sub.next_frame(timeout=5) as f:
                assert np.array_equal(f.texture.download(), _frame(n))
        sub.close()
    sender = sub = a = b = c = f = None
    gc.collect()
    assert _fds() == base


def test_publish_after_close_raises(device):
    sender = geyser.Sender(device, _name("closed"), DESC)
    sender.publish(_frame(1))
    sender.close()
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        sender.publish(_frame(2))
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        sender.begin_frame()
    assert sender.frame == 1


@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_a_consumer_that_stops_releasing_is_told_it_was_dropped(device, mode, caplog):
    gc.collect()
    base = _fds()
    name = _name("drop-" + mode)
    caplog.set_level(logging.INFO, logger="geyser.sender")
    with geyser.Sender(device, name, DESC, ring_size=3, mode=mode, release_timeout=0.2) as sender:
        sub = geyser.Subscriber(device, name, timeout=5, client="forgetful")
        sender.publish(_frame(1))
        kept = sub.next_frame(timeout=5)
        if mode == "lossless":
            for n in range(2, 5):  # frame 4 needs frame 1's slot: the producer waits 0.2 s, then drops it
                sender.publish(_frame(n), timeout=0.2)
        else:
            time.sleep(0.5)  # past the release timeout: dropped by the producer's thread
            sender.publish(_frame(2))
        assert sender.stats.subscribers_dropped == 1
        assert sender.subscribers == 0
        sub.release(kept)  # nobody to tell any more: forgotten quietly
        with pytest.raises(geyser.SubscriptionDroppedError, match="release timeout") as e:
            while True:
                sub.release(sub.next_frame(timeout=5))  # frames announced before the drop come first
        assert not isinstance(e.value, geyser.PeerGoneError)
        sub.close()
    sender = sub = kept = e = None
    assert any("forgetful" in r.getMessage() and "release timeout" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    gc.collect()
    assert _fds() == base


def test_latest_skip_writes_around_a_stalled_consumer(device, caplog):
    name = _name("skip")
    caplog.set_level(logging.WARNING, logger="geyser.sender")
    with geyser.Sender(device, name, DESC, ring_size=3, mode="latest", stalled="skip", release_timeout=0.2) as sender:
        sub = geyser.Subscriber(device, name, timeout=5)
        sender.publish(_frame(1))
        kept = sub.next_frame(timeout=5)
        time.sleep(0.5)
        for n in range(2, 30):
            sender.publish(_frame(n), timeout=1)
        assert sender.stats.stalls_skipped == 1 and sender.stats.subscribers_dropped == 0
        assert np.array_equal(kept.texture.download(), _frame(1)), "the held slot was written"
        sub.release(kept)
        with sub.next_frame(timeout=5) as f:
            assert f.number == 29 and np.array_equal(f.texture.download(), _frame(29))
        assert sub.frames_dropped == 27
        sub.close()
    assert any("writes around it" in r.getMessage() for r in caplog.records)
    with pytest.raises(geyser.InvalidArgumentError, match="latest"):
        geyser.Sender(device, _name("skip-lossless"), DESC, stalled="skip")
    with pytest.raises(geyser.InvalidArgumentError, match="at least 3"):
        geyser.Sender(device, _name("latest-2"), DESC, ring_size=2, mode="latest")


# ---- waiting in event loops ---------------------------------------------------------------------

def test_wait_for_subscribers_and_event_loops(device):
    name = _name("loops")
    with geyser.Sender(device, name, DESC, ring_size=3, mode="latest") as sender:
        with pytest.raises(geyser.TimeoutError, match="0 subscribers"):
            sender.wait_for_subscribers(1, timeout=0.1)
        sub = geyser.Subscriber(device, name, timeout=5)
        sender.wait_for_subscribers(1, timeout=5)
        sel = selectors.DefaultSelector()
        sel.register(sub.fileno(), selectors.EVENT_READ)
        assert sel.select(timeout=0.1) == [], "readable before anything was published"
        sender.publish(_frame(1))
        assert sel.select(timeout=5), "the socket did not become readable when a frame came"
        sel.close()
        with sub.next_frame(timeout=0) as f:
            assert f.number == 1

        async def consume():
            task = asyncio.ensure_future(sub.next_frame_async(timeout=5))
            await asyncio.sleep(0.05)
            sender.publish(_frame(2))
            return await task

        with asyncio.run(consume()) as f:
            assert f.number == 2
        sub.close()
