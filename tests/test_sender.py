"""Named senders with real processes and real sockets: many consumers, late joins, early leaves,
crashes on either side, stale sockets and hostile peers."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import geyser
import _sender_wire
from _forked import refusals, run_forked
from geyser import _native
from geyser.demo import pattern

DESC = geyser.TextureDescriptor(48, 20)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _name(tag: str) -> str:
    return f"t-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


_CONSUMER = textwrap.dedent(
    """
    import json, sys, numpy as np, geyser
    from geyser.demo import pattern
    name, count = sys.argv[1], int(sys.argv[2])
    dev = geyser.Device()
    sub = geyser.Subscriber(dev, name, timeout=10)
    print(json.dumps({"subscribed": sub.info.current_frame}), flush=True)
    numbers, bad = [], 0
    for _ in range(count):
        with sub.next_frame(timeout=10) as f:
            want = pattern(sub.info.descriptor.format, sub.info.width, sub.info.height, f.number)
            bad += not np.array_equal(f.texture.download(), want)
            numbers.append(f.number)
    print(json.dumps({"numbers": numbers, "bad": bad}), flush=True)
    """
)


def _consumer(name: str, count: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CONSUMER, name, str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_one_producer_two_consumers_late_join_early_leave(device):
    frames = 300
    name = _name("three")
    with geyser.Sender(device, name, DESC, ring_size=3) as sender:
        a = _consumer(name, frames)
        assert "subscribed" in a.stdout.readline()
        _wait_for(lambda: sender.subscribers == 1, what="consumer A")
        b = None
        for n in range(1, frames + 1):
            if n == 101:  # B joins late and leaves after 80 frames
                b = _consumer(name, 80)
                assert "subscribed" in b.stdout.readline()
                _wait_for(lambda: sender.subscribers == 2, what="consumer B")
            sender.publish(pattern(DESC.format, DESC.width, DESC.height, n), timeout=10)
        ra, rb = _result(a), _result(b)
        _wait_for(lambda: sender.subscribers == 0, what="both consumers dropped")
    assert ra == {"numbers": list(range(1, frames + 1)), "bad": 0}
    assert rb["bad"] == 0 and len(rb["numbers"]) == 80
    first = rb["numbers"][0]
    assert first >= 100 and rb["numbers"] == list(range(first, first + 80))  # 100: the current frame at join


def test_consumer_killed_mid_stream_is_dropped(device):
    name = _name("kill-consumer")
    with geyser.Sender(device, name, DESC, ring_size=2, release_timeout=5) as sender:
        for n in range(1, 3):
            sender.publish(pattern(DESC.format, DESC.width, DESC.height, n))
        base = _fd_count()
        c = _consumer(name, 10_000)
        assert "subscribed" in c.stdout.readline()
        _wait_for(lambda: sender.subscribers == 1, what="subscriber")
        for n in range(3, 8):
            sender.publish(pattern(DESC.format, DESC.width, DESC.height, n))
        c.send_signal(signal.SIGKILL)
        c.wait(timeout=10)
        c.stdout.close()
        c.stderr.close()
        start = time.monotonic()
        for n in range(8, 14):  # needs the dead consumer's slots: it is dropped, not waited for
            sender.publish(pattern(DESC.format, DESC.width, DESC.height, n))
        assert time.monotonic() - start < 4.0
        assert sender.subscribers == 0
        assert _fd_count() == base


_PRODUCER = textwrap.dedent(
    """
    import sys, time, geyser
    from geyser.demo import pattern
    name, frames = sys.argv[1], int(sys.argv[2])
    dev = geyser.Device()
    desc = geyser.TextureDescriptor(48, 20)
    s = geyser.Sender(dev, name, desc, ring_size=2)
    print("up", flush=True)
    while s.subscribers == 0:
        time.sleep(0.005)
    for n in range(1, frames + 1):
        s.publish(pattern(desc.format, 48, 20, n))
    print("published", flush=True)
    time.sleep(60)   # killed by the test
    """
)


def test_producer_killed_ends_waits_with_peer_gone(device):
    name = _name("kill-producer")
    p = subprocess.Popen([sys.executable, "-c", _PRODUCER, name, "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        import gc

        gc.collect()
        base = _fd_count()
        sub = geyser.Subscriber(device, name, timeout=10)
        for n in (1, 2):
            with sub.next_frame(timeout=10) as f:
                assert f.number == n
        assert p.stdout.readline().strip() == "published"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        start = time.monotonic()
        with pytest.raises(geyser.PeerGoneError, match="has gone"):
            sub.next_frame(timeout=5)
        assert time.monotonic() - start < 5
        # Memory already imported stays valid after the producer is gone.
        assert np.array_equal(sub.ring[1].download(), pattern(DESC.format, 48, 20, 2))
        with pytest.raises(geyser.PeerGoneError):
            sub.next_frame(timeout=1)
        sub.close()
        del sub, f
        gc.collect()
        assert _fd_count() == base
        # The crashed producer's socket is stale: listing skips it, a new producer replaces it.
        assert name not in [s.name for s in geyser.list_senders()]
        with geyser.Sender(device, name, DESC) as again:
            assert geyser.query_sender(name).producer_pid == os.getpid()
            assert again.subscribers == 0
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


def test_clean_close_says_goodbye(device):
    name = _name("goodbye")
    sender = geyser.Sender(device, name, DESC)
    sub = geyser.Subscriber(device, name)
    sender.publish(pattern(DESC.format, 48, 20, 1))
    sender.close()
    with sub.next_frame(timeout=5) as f:  # frames announced before the goodbye still arrive
        assert f.number == 1
    with pytest.raises(geyser.PeerGoneError, match="closed the sender"):
        sub.next_frame(timeout=5)
    assert name not in [s.name for s in geyser.list_senders()]


@pytest.mark.parametrize("sync", ["portable", "auto"])
def test_frames_released_in_any_order(device, sync):
    # Nested frames leave their `with` blocks inner first: frame 2 is released before frame 1,
    # which is then already covered (a release covers every earlier frame) and changes nothing.
    name = _name(f"order-{sync}")
    with geyser.Sender(device, name, DESC, ring_size=3, sync=sync) as sender:
        with geyser.Subscriber(device, name) as sub:
            for n in (1, 2):
                sender.publish(pattern(DESC.format, 48, 20, n))
            with sub.next_frame(timeout=5) as a:
                with sub.next_frame(timeout=5) as b:
                    assert (a.number, b.number) == (1, 2)
            # Every slot can be written again: frames 4 and 5 reuse the slots of 1 and 2.
            for n in (3, 4, 5):
                sender.publish(pattern(DESC.format, 48, 20, n), timeout=2)
                with sub.next_frame(timeout=5) as f:
                    assert f.number == n
                    np.testing.assert_array_equal(f.texture.download(), pattern(DESC.format, 48, 20, n))


def _forked_child_report(sender, sub) -> list[str]:
    # In a fork() child of the producer and subscriber: what was NOT refused with a message
    # naming fork(). Then close both, which must leave the parent's stream alone.
    _, wrong = refusals({
        "next_frame": lambda: sub.next_frame(timeout=0.2),
        "release": lambda: sub.release(1),
        "publish": lambda: sender.publish(pattern(DESC.format, 48, 20, 99)),
        "begin_frame": lambda: sender.begin_frame(),
    })
    sub.close()
    sender.close()
    return wrong


@pytest.mark.parametrize("sync", ["portable", "auto"])
def test_forked_child_leaves_the_parents_stream_alone(device, sync):
    # A child forked from a producer that is also subscribed (the shared socket and timelines are
    # inherited) must neither take the parent's frames nor publish or say goodbye on its sender.
    name = _name(f"fork-{sync}")
    with geyser.Sender(device, name, DESC, sync=sync) as sender:
        sub = geyser.Subscriber(device, name)
        report = run_forked(lambda: _forked_child_report(sender, sub))
        assert report == [], report
        # The parent's stream goes on: frames 1 and 2 arrive in order with their bytes.
        for n in (1, 2):
            sender.publish(pattern(DESC.format, 48, 20, n))
            with sub.next_frame(timeout=5) as f:
                assert f.number == n
                np.testing.assert_array_equal(f.texture.download(), pattern(DESC.format, 48, 20, n))
        assert name in [s.name for s in geyser.list_senders()]
        sub.close()


def test_names_and_conflicts(device):
    for bad in ["", ".hidden", "a/b", "x" * 65, "spaces here", "semi;colon"]:
        with pytest.raises(geyser.InvalidArgumentError):
            geyser.Sender(device, bad, DESC)
    name = _name("taken")
    with geyser.Sender(device, name, DESC):
        with pytest.raises(geyser.GeyserOSError, match="in use"):
            geyser.Sender(device, name, DESC)
    with pytest.raises(geyser.PeerGoneError, match="no producer"):
        geyser.Subscriber(device, name, timeout=0.3)


def test_list_describes_the_sender(device):
    name = _name("listed")
    with geyser.Sender(device, name, DESC, ring_size=4) as s:
        s.publish(pattern(DESC.format, 48, 20, 1))
        d = {x.name: x for x in geyser.list_senders()}[name]
    assert (d.width, d.height, d.ring_size, d.producer_pid, d.current_frame) == (48, 20, 4, os.getpid(), 1)
    assert d.descriptor.format == geyser.TextureFormat.RGBA8_UNORM
    assert d.sync_kind == s.ready.kind and d.device_uuid == device.info.device_uuid


def test_hostile_clients_do_not_disturb_the_sender(device):
    name = _name("hostile")
    path = _native.sender_socket_path(name)
    with geyser.Sender(device, name, DESC) as sender:
        sub = geyser.Subscriber(device, name)
        for payload in [b"", b"garbage", b"GYSR" + b"\xff" * 12, struct.pack("<IHHIHH", 0x52535947, 1, 16, 3, 0, 0)]:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(path)
            if payload:
                s.send(payload)
            s.close()
        # A client that connects and says nothing is given up after the handshake timeout
        # without blocking anyone else: the subscriber keeps receiving frames meanwhile.
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        silent.connect(path)
        for n in range(1, 4):
            sender.publish(pattern(DESC.format, 48, 20, n))
            with sub.next_frame(timeout=5) as f:
                assert f.number == n
        silent.close()
        assert sender.subscribers == 1


def _fake_producer(name: str):
    """A raw listener that speaks just enough protocol to send a hostile message."""
    return _native.Listener.bind(_native.sender_socket_path(name))


@pytest.mark.parametrize("case", ["bad-info", "wrong-fd-count", "goodbye-first", "bad-slot"])
def test_hostile_producer_gives_specific_errors(device, case):
    import gc
    import threading

    gc.collect()
    base = _fd_count()
    name = _name(case)
    listener = _native.Listener.bind(_native.sender_socket_path(name))
    real = geyser.Sender(device, name + "-real", DESC, ring_size=1)

    def serve():
        try:
            ch = listener.accept(geyser.sync.to_ns(10))
            _, _, fds = ch.receive(geyser.sync.to_ns(10))
            for fd in fds:
                os.close(fd)
            if case == "bad-info":
                ch.send(_native.MESSAGE_SENDER_INFO, b"\x01\x00short", [])
                return ch
            if case == "goodbye-first":
                ch.send(_native.MESSAGE_GOODBYE, b"", [])
                return ch
            i = real.info()
            ch.send(_native.MESSAGE_SENDER_INFO, _sender_wire.sender_info(
                name, os.getpid(), i.ring_size, i.width, i.height, i.vk_format, int(DESC.format), int(DESC.usage),
                _sender_wire.VULKAN if i.sync_kind == "vulkan" else _sender_wire.PORTABLE, 0, 0,
                bytes.fromhex(device.info.device_uuid), bytes.fromhex(device.info.driver_uuid)), [])
            with device.export_texture(real.ring[0]) as h:
                fds = [h.fd, h.fd] if case == "wrong-fd-count" else [h.fd]
                ch.send(_native.MESSAGE_MEMORY_HANDLE, h.to_bytes(), fds)
            with device.export_timeline(real.ready) as th:
                role = _sender_wire.READY
                if th.kind == "portable":
                    payload = _sender_wire.timeline_announce(role, _sender_wire.PORTABLE)
                else:
                    sh = th.semaphore_handle
                    payload = _sender_wire.timeline_announce(role, _sender_wire.VULKAN, _sender_wire.sync_handle(
                        2, 0x1, False, True, 0, bytes.fromhex(sh.device_uuid), bytes.fromhex(sh.driver_uuid)))
                ch.send(_native.MESSAGE_TIMELINE_HANDLE, payload, [th.fd])
            ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(1, 7), [])  # slot 7 of a ring of 1
            return ch
        except geyser.GeyserError:  # the subscriber hung up on the hostile message: expected
            return None

    def subscribe_and_read():
        sub = geyser.Subscriber(device, name, timeout=5)
        try:
            sub.next_frame(timeout=5)
        finally:
            sub.close()

    holder = []
    t = threading.Thread(target=lambda: holder.append(serve()))
    t.start()
    expected = {"bad-info": geyser.ProtocolError, "wrong-fd-count": geyser.ProtocolError,
                "goodbye-first": geyser.PeerGoneError, "bad-slot": geyser.ProtocolError}[case]
    try:
        with pytest.raises(expected) as err:
            subscribe_and_read()
        assert type(err.value) is expected
        err = None
    finally:
        t.join(timeout=20)
        real.close()
    real = listener = None
    holder.clear()
    gc.collect()
    assert _fd_count() == base


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a peer as another uid")
def test_other_user_cannot_subscribe(device):
    name = _name("uid")
    with geyser.Sender(device, name, DESC) as sender:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    geyser.Subscriber(geyser.Device(), name, timeout=2)
                except geyser.GeyserError:
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "another uid subscribed"
        assert sender.subscribers == 0


def test_end_frame_ready_gpu_needs_a_vulkan_timeline(device):
    name = _name("ready-gpu")
    with geyser.Sender(device, name, DESC, ring_size=2) as sender:
        sub = geyser.Subscriber(device, name, timeout=5)
        frame = sender.begin_frame()
        with pytest.raises(geyser.InvalidArgumentError, match="'host' or 'gpu'"):
            sender.end_frame(frame, ready="later")
        if sender.ready.kind == "portable":
            assert sender.ready.vk_semaphore is None
            with pytest.raises(geyser.InvalidArgumentError, match="portable"):
                sender.end_frame(frame, ready="gpu")
            sender.end_frame(frame)
        else:
            assert isinstance(sender.ready.vk_semaphore, int)
            # What the caller's submission does, a little later: end_frame does not wait for it;
            # its queue submission forwards it to each subscriber's own ready timeline, and the
            # subscriber's next_frame waits for that.
            gpu = threading.Timer(1.0, lambda: sender.ready.signal(frame.number))
            gpu.start()
            sender.end_frame(frame, ready="gpu")
            assert sender.ready.value == 0, "end_frame waited for the signal"
            gpu.join()
        with sub.next_frame(timeout=5) as f:
            assert f.number == 1
        sub.close()


def _pixels(n: int):
    return pattern(DESC.format, DESC.width, DESC.height, n)


def test_next_frame_wait_gpu_leaves_the_ready_wait_to_the_gpu(device):
    """wait="gpu" hands over the frame once announced, with its ready point for a GPU wait: refused
    for a portable ready timeline (CI's lavapipe), whose host path goes on working."""
    name = _name("wait-gpu")
    with geyser.Sender(device, name, DESC, ring_size=2) as sender:
        consumer = geyser.Device()  # its own queue: the download below waits on the GPU
        with geyser.Subscriber(consumer, name, timeout=5) as sub:
            with pytest.raises(geyser.InvalidArgumentError, match="'host' or 'gpu'"):
                sub.next_frame(timeout=1, wait="soon")
            if sub.ready.kind == "portable":
                sender.publish(_pixels(1))
                with pytest.raises(geyser.UnsupportedOperationError, match="portable"):
                    sub.next_frame(timeout=5, wait="gpu")
                assert sub.held == []
                with sub.next_frame(timeout=5) as f:
                    assert (f.number, f.ready_wait) == (1, "host")
                    assert f.ready[0].value >= 1
                    assert np.array_equal(f.texture.download(wait=[f.ready]), _pixels(1))
                return
            for n in range(1, 4):
                frame = sender.begin_frame()
                # The producer's GPU writes the frame and signals its ready timeline; end_frame
                # announces at once, and its queue submission forwards the signal to each
                # subscriber's own timeline.
                frame.texture.upload(_pixels(n), signal=[(sender.ready, n)])
                sender.end_frame(frame, ready="gpu")
                with sub.next_frame(timeout=5, wait="gpu") as f:
                    assert (f.number, f.ready_wait) == (n, "gpu")
                    assert f.ready == (sub.ready, n)
                    assert np.array_equal(f.texture.download(wait=[f.ready]), _pixels(n))


def _portable_handshake(device, listener, name, tex, ready):
    """Plays a producer's side of a subscription with a one-texture ring and a portable ready
    timeline the test controls; returns the channel, ready for Frame messages."""
    ch = listener.accept(geyser.sync.to_ns(10))
    ch.receive(geyser.sync.to_ns(10))
    ch.send(_native.MESSAGE_SENDER_INFO, _sender_wire.sender_info(
        name, os.getpid(), 1, DESC.width, DESC.height, tex.vk_format, int(DESC.format), int(DESC.usage),
        _sender_wire.PORTABLE, 0, 0, bytes.fromhex(device.info.device_uuid),
        bytes.fromhex(device.info.driver_uuid)), [])
    with device.export_texture(tex) as h:
        ch.send(_native.MESSAGE_MEMORY_HANDLE, h.to_bytes(), [h.fd])
    with device.export_timeline(ready) as th:
        ch.send(_native.MESSAGE_TIMELINE_HANDLE, _sender_wire.timeline_announce(_sender_wire.READY,
                                                                                _sender_wire.PORTABLE), [th.fd])
    return ch


@contextlib.contextmanager
def _fake_stream(device, name, serve):
    """A fake producer of `name` on a thread: after the portable handshake, `serve(ch, done)`
    sends what the test needs (done: an Event set when the test ends, before the thread is
    joined). Yields the producer's portable ready timeline."""
    listener = _fake_producer(name)
    tex = device.create_shareable_texture(DESC)
    ready = device.create_shared_timeline("portable")
    done = threading.Event()

    def run():
        ch = _portable_handshake(device, listener, name, tex, ready)
        serve(ch, done)
        done.wait(10)
        ch.close()

    t = threading.Thread(target=run)
    t.start()
    try:
        yield ready
    finally:
        done.set()
        t.join(10)


def test_frame_announced_before_it_is_ready_is_not_skipped(device):
    """A producer announces frame 1 before its ready timeline reaches it (as a GPU-signalled
    frame is): a next_frame that times out leaves frame 1 the next frame, instead of reading on."""
    go = threading.Event()

    def serve(ch, done):
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(1, 0), [])
        go.wait(10)
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(2, 0), [])

    name = _name("announced")
    try:
        with _fake_stream(device, name, serve) as ready:
            sub = geyser.Subscriber(device, name, timeout=5)
            with pytest.raises(geyser.TimeoutError):
                sub.next_frame(timeout=0.1)  # announced, not ready
            ready.signal(1)
            with sub.next_frame(timeout=5) as f:
                assert f.number == 1
            go.set()
            ready.signal(2)
            with sub.next_frame(timeout=5) as f:
                assert f.number == 2
            sub.close()
    finally:
        go.set()


def test_frame_sent_complete_is_read_without_a_wait(device):
    """Protocol 4's ready flag: a frame the producer sends complete (as end_frame(ready="host")
    does, before it signals the timelines) is returned at once, even with its ready timeline not
    yet signalled, and says there is nothing left to wait for; an unflagged frame still waits."""

    def serve(ch, done):
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(1, 0, flags=1), [])
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(2, 0), [])

    name = _name("sent-ready")
    with _fake_stream(device, name, serve) as ready:
        sub = geyser.Subscriber(device, name, timeout=5)
        with sub.next_frame(timeout=1) as f:  # its timeline is still at 0
            assert f.number == 1 and f.ready_wait == "host"
        assert sub.ready.value == 0
        with pytest.raises(geyser.TimeoutError):
            sub.next_frame(timeout=0.1)  # frame 2 is not flagged: it waits for the timeline
        ready.signal(2)
        with sub.next_frame(timeout=5) as f:
            assert f.number == 2
        sub.close()


@pytest.mark.parametrize("flags", [2, 0x80, 0xFF])
def test_frame_with_undefined_flags_is_a_protocol_error(device, flags):
    """Bits protocol 4 does not define: ProtocolError naming them, and nothing leaks."""

    def serve(ch, done):
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(1, 0, flags=flags), [])

    name = _name(f"flags-{flags}")
    with _fake_stream(device, name, serve):
        sub = geyser.Subscriber(device, name, timeout=5)
        gc.collect()  # what earlier tests left for the collector (their listeners) goes first
        base = _fd_count()
        with pytest.raises(geyser.ProtocolError, match="frame flags"):
            sub.next_frame(timeout=2)
        assert _fd_count() == base
        sub.close()


def test_producer_gone_before_an_announced_frame_is_ready(device):
    """A producer that hangs up after announcing a frame it never made ready (its GPU signal never
    ran) is gone: the subscriber's next_frame raises PeerGoneError, not TimeoutError forever."""
    import threading

    name = _name("gone-announced")
    listener = _fake_producer(name)
    tex = device.create_shareable_texture(DESC)
    ready = device.create_shared_timeline("portable")

    def serve():
        ch = _portable_handshake(device, listener, name, tex, ready)
        ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(1, 0), [])
        ch.close()  # gone, frame 1 never made ready

    t = threading.Thread(target=serve)
    t.start()
    sub = geyser.Subscriber(device, name, timeout=5)
    t.join(10)
    with pytest.raises(geyser.PeerGoneError, match="before frame 1 was ready"):
        sub.next_frame(timeout=0.2)
    with pytest.raises(geyser.PeerGoneError):
        sub.next_frame(timeout=0.2)
    sub.close()


def test_abandon_frame_after_a_failed_write(device):
    name = _name("abandon")
    with geyser.Sender(device, name, DESC, ring_size=2) as sender:
        frame = sender.begin_frame()
        with pytest.raises(geyser.InvalidArgumentError, match="begun and not ended"):
            sender.begin_frame()
        sender.abandon_frame(frame)
        again = sender.begin_frame()
        assert again.number == frame.number == 1
        sender.end_frame(again)
        assert sender.frame == 1
