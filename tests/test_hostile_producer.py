"""Hostile and broken peers against the producer (issue 14, the geyser::Sender half), with real
processes and sockets: silent connections, peers that fill their socket queue, peers that write
their ready timeline, peers that open too many connections, a producer at its fd limit, and
garbage releases. Each case checks the outcome: the exception, the time bound (with generous
slack for a loaded 2-core machine), flat fd counts, and the frames of the other subscribers."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

import geyser
from geyser import _native

sys.path.insert(0, os.path.dirname(__file__))
import _sender_wire as wire  # noqa: E402
from test_streams import DESC, _answer, _fds, _frame, _name, _peer  # noqa: E402

NS = 10**9


def _consumer(name: str, count: int, hold: float = 0.0):
    """A consumer process (tests/_stream_peer.py) reading `count` frames and checking their bytes."""
    return _peer("consume", name, str(count), str(hold))


def _connect(name: str) -> geyser.Channel:
    return geyser.Channel.connect(_native.sender_socket_path(name), 5 * NS)


class RawSubscriber:
    """A subscriber written from the protocol, which then does what a hostile peer does."""

    def __init__(self, device, name: str):
        self.ch = _connect(name)
        self.ch.send(wire.HELLO, wire.hello(os.getpid(), True, "hostile"), [], 5 * NS)
        kind, payload, fds = self.ch.receive(5 * NS)
        assert kind == _native.MESSAGE_SENDER_INFO and not fds
        ring = geyser.query_sender(name).ring_size
        for _ in range(ring):
            kind, payload, fds = self.ch.receive(5 * NS)
            assert kind == _native.MESSAGE_MEMORY_HANDLE and len(fds) == 1
            os.close(fds[0])
        kind, payload, fds = self.ch.receive(5 * NS)
        assert kind == _native.MESSAGE_TIMELINE_HANDLE and len(fds) == 1
        self.ready = device.import_timeline(geyser.TimelineHandle.from_bytes(payload[1:], fds[0]))

    def release(self, number: int) -> bool:
        try:
            self.ch.send(wire.RELEASE, wire.frame_number(number), [], 0)
            return True
        except geyser.GeyserError:
            return False  # dropped: the producer closed the socket

    def close(self):
        self.ready.close()
        self.ch.close()


def _wait(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# ---- 1. handshakes run concurrently -------------------------------------------------------------

def test_silent_connections_delay_neither_a_real_subscriber_nor_close(device):
    name = _name("silent")
    sender = geyser.Sender(device, name, DESC)
    silent = [_connect(name) for _ in range(2)]  # connect, then never say Hello
    try:
        t = time.monotonic()
        proc = _consumer(name, 1)
        assert sender.wait_for_subscribers(1, timeout=4) is None
        sender.publish(_frame(1))
        a = _answer(proc)
        assert a["error"] is None and a["numbers"] == [1] and a["bad"] == 0
        assert time.monotonic() - t < 4.0
        # Still silent, still pending: close() does not wait for their handshakes.
        t = time.monotonic()
        sender.close()
        took = time.monotonic() - t
        assert took < 0.5, f"close() took {took:.3f} s with silent connections pending (target ~0.1 s)"
    finally:
        sender.close()
        for ch in silent:
            ch.close()


def test_a_silent_connection_is_closed_at_its_own_deadline(device):
    name = _name("deadline")
    gc.collect()
    before = _fds()
    sender = geyser.Sender(device, name, DESC)
    ch = _connect(name)
    try:
        # The default handshake timeout is 5 s: the producer hangs up on the silent peer then.
        t = time.monotonic()
        with pytest.raises(geyser.PeerGoneError):
            ch.receive(15 * NS)
        assert 4.0 < time.monotonic() - t < 9.0
    finally:
        ch.close()
        sender.close()
    sender = None
    gc.collect()
    assert _fds() == before


# ---- 3. one timeout bounds the whole publish -----------------------------------------------------

def test_subscribers_that_never_read_cost_one_publish_timeout_not_one_each(device, caplog):
    caplog.set_level(logging.INFO, logger="geyser.sender")
    name = _name("full")
    count = 700
    sender = geyser.Sender(device, name, DESC, ring_size=3)
    hostile = [RawSubscriber(device, name) for _ in range(3)]
    proc = _consumer(name, count)
    try:
        sender.wait_for_subscribers(4, timeout=10)
        worst = 0.0
        for n in range(1, count + 1):
            t = time.monotonic()
            sender.publish(_frame(n), timeout=0.5)
            worst = max(worst, time.monotonic() - t)
            # They release every frame without reading it: their socket queues fill up.
            for h in hostile:
                h.release(n)
        a = _answer(proc)
        assert a["error"] is None and a["numbers"] == list(range(1, count + 1)) and a["bad"] == 0
        assert _wait(lambda: sender.subscribers == 0)
        assert sender.stats.subscribers_dropped == 3
        assert worst < 1.5, f"a publish(timeout=0.5) took {worst:.2f} s"
    finally:
        sender.close()
        for h in hostile:
            h.close()
    events = [r.getMessage() for r in caplog.records]
    assert sum("socket queue is full" in m for m in events) == 3, events


# ---- 4. a subscriber's ready timeline is its own ---------------------------------------------

@pytest.mark.parametrize("attack", ["far_ahead", "abandoned"])
def test_a_subscriber_writing_its_ready_timeline_hurts_only_itself(device, attack, caplog):
    caplog.set_level(logging.INFO, logger="geyser.sender")
    name = _name("ready")
    count = 20
    sender = geyser.Sender(device, name, DESC, ring_size=3)
    if attack == "abandoned" and sender.ready.kind != "portable":
        sender.close()
        pytest.skip("only portable timelines carry an abandoned mark (this sender's are Vulkan timelines)")
    hostile = RawSubscriber(device, name)
    if attack == "far_ahead":
        hostile.ready.signal(2**64 - 1)
    else:
        hostile.ready.mark_abandoned()
    proc = _consumer(name, count, 0.01)
    try:
        sender.wait_for_subscribers(2, timeout=10)
        assert sender.ready.value == 0  # the producer's own timeline is untouched
        for n in range(1, count + 1):
            sender.publish(_frame(n), timeout=5)  # no exception: the producer's signal works
        a = _answer(proc)
        assert a["error"] is None and a["numbers"] == list(range(1, count + 1)) and a["bad"] == 0
        assert sender.ready.value == count
        assert _wait(lambda: sender.subscribers == 0)
    finally:
        sender.close()
        hostile.close()
    events = [r.getMessage() for r in caplog.records]
    assert any("ready timeline is unusable" in m for m in events), events


# ---- 5. per-peer caps ------------------------------------------------------------------------

def test_one_process_is_capped_on_subscriptions_and_handshakes(device):
    name = _name("caps")
    gc.collect()
    before = _fds()
    sender = geyser.Sender(device, name, DESC, max_subscriptions_per_peer=2, max_handshakes_per_peer=2)
    subs = [geyser.Subscriber(device, name, timeout=5) for _ in range(2)]
    with pytest.raises(geyser.SubscriptionDroppedError, match="max_subscriptions_per_peer"):
        geyser.Subscriber(device, name, timeout=5)
    silent = [_connect(name) for _ in range(2)]
    refused = _connect(name)
    kind, payload, fds = refused.receive(5 * NS)
    assert kind == wire.DROPPED and not fds
    assert "max_handshakes_per_peer" in wire.dropped_reason(payload)
    with pytest.raises(geyser.PeerGoneError):
        refused.receive(5 * NS)
    # Another process is not capped by this one's connections, and gets its frames.
    proc = _consumer(name, 1)
    sender.wait_for_subscribers(3, timeout=10)
    sender.publish(_frame(1), timeout=5)
    a = _answer(proc)
    assert a["error"] is None and a["numbers"] == [1] and a["bad"] == 0
    for s in subs:
        with s.next_frame(timeout=5) as f:
            assert f.number == 1
        s.close()
    for ch in silent + [refused]:
        ch.close()
    sender.close()
    sender = subs = s = f = None
    gc.collect()
    assert _fds() == before


def test_caps_must_be_positive(device):
    with pytest.raises(geyser.InvalidArgumentError, match="at least 1"):
        geyser.Sender(device, _name("zero"), DESC, max_subscriptions_per_peer=0)


# ---- garbage releases (protocol 2) ---------------------------------------------------------------

@pytest.mark.parametrize("garbage", ["unheld", "short", "fds", "frame_request"])
def test_a_garbage_release_drops_only_that_subscriber(device, garbage):
    name = _name("garbage")
    count = 10
    sender = geyser.Sender(device, name, DESC, ring_size=3)
    hostile = RawSubscriber(device, name)
    proc = _consumer(name, count)
    try:
        sender.wait_for_subscribers(2, timeout=10)
        sender.publish(_frame(1), timeout=5)
        if garbage == "unheld":
            hostile.ch.send(wire.RELEASE, wire.frame_number(99), [], NS)
        elif garbage == "short":
            hostile.ch.send(wire.RELEASE, b"\x01\x02", [], NS)
        elif garbage == "fds":
            r, w = os.pipe()
            hostile.ch.send(wire.RELEASE, wire.frame_number(1), [r], NS)
            os.close(r)
            os.close(w)
        else:
            hostile.ch.send(22, wire.frame_number(0), [], NS)  # a latest-mode message to a lossless sender
        assert _wait(lambda: sender.subscribers == 1)
        for n in range(2, count + 1):
            sender.publish(_frame(n), timeout=5)
        a = _answer(proc)
        assert a["error"] is None and a["numbers"] == list(range(1, count + 1)) and a["bad"] == 0
        kind, payload, _ = hostile.ch.receive(5 * NS)
        while kind == wire.FRAME:
            kind, payload, _ = hostile.ch.receive(5 * NS)
        assert kind == wire.DROPPED, kind
    finally:
        sender.close()
        hostile.close()


# ---- 2. the fd limit ----------------------------------------------------------------------------

PRODUCER = textwrap.dedent(
    """
    import os, resource, sys, time, geyser
    from geyser.demo import pattern
    name = sys.argv[1]
    dev = geyser.Device()
    desc = geyser.TextureDescriptor(48, 20)
    sender = geyser.Sender(dev, name, desc, max_handshakes_per_peer=64)
    # A few fds to spare, then none: the peers' connections take them.
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 6, open_now + 6))
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("cpu"):
            t = os.times(); c0 = t.user + t.system; w0 = time.monotonic()
            time.sleep(float(line.split()[1]))
            t = os.times()
            print("cpu", (t.user + t.system - c0) / (time.monotonic() - w0), sender.stats.accepts_deferred,
                  flush=True)
        elif line.startswith("publish"):
            sender.wait_for_subscribers(1, timeout=10)
            print("frame", sender.publish(pattern(desc.format, 48, 20, 1), timeout=5), flush=True)
    """
)


def test_at_the_fd_limit_the_producer_backs_off_and_recovers(device):
    name = _name("emfile")
    prod = subprocess.Popen([sys.executable, "-c", PRODUCER, name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    attackers = []
    try:
        assert prod.stdout.readline().strip() == "ready"
        for _ in range(40):  # far more than its fds: the rest wait in the listen queue
            attackers.append(_connect(name))
        time.sleep(0.5)
        prod.stdin.write("cpu 1.5\n")
        prod.stdin.flush()
        _, share, deferred = prod.stdout.readline().split()
        assert float(share) < 0.5, f"the producer used {float(share):.0%} of a core at its fd limit"
        assert int(deferred) > 0  # it did hit the limit
        for ch in attackers:
            ch.close()
        attackers = []
        # The queued attackers are accepted and hang up; fds come back; a real consumer subscribes.
        proc = _consumer(name, 1)
        prod.stdin.write("publish\n")
        prod.stdin.flush()
        assert prod.stdout.readline().split() == ["frame", "1"]
        a = _answer(proc)
        assert a["error"] is None and a["numbers"] == [1] and a["bad"] == 0
    finally:
        for ch in attackers:
            ch.close()
        prod.stdin.close()
        prod.wait(timeout=30)
        err = prod.stderr.read()
        prod.stdout.close()
        prod.stderr.close()
    assert prod.returncode == 0, err
