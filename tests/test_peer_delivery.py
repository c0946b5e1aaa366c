"""Peer-copy delivery: a subscriber on another GPU than the producer's asks the producer to copy
each frame GPU to GPU (CUDA, in the producer) into a ring on its GPU (docs/streams.md, "A consumer
on another GPU").

The CUDA tests run each case twice (the ``target`` fixture):
- ``same-gpu``: the consumers set the test-only GEYSER_TEST_PEER_COPY_SAME_DEVICE=1, so a
  subscriber on the producer's own GPU asks for peer copy as one on another GPU does; the producer
  makes its copy engine on a second VkDevice of that GPU (PeerCopy's same_device path) and the
  whole delivery runs on one GPU;
- ``other-gpu``: the consumers open another GPU that CUDA sees (GEYSER_DEVICE=its UUID), with no
  switch: the real cross-GPU path, peer or host staging as cuDeviceCanAccessPeer says. It skips
  where CUDA sees one GPU, saying so; scripts/gpu/peerdelivery.sh runs it on nvidia-h200-x2.

Without CUDA in the producer (CI's lavapipe) the producer must answer that peer copy is not
possible and the subscriber must take the copy path, every frame verified: that runs everywhere.
The CUDA tests skip elsewhere, saying why, and run on the GPU machine (scripts/gpu/peerdelivery.sh).
Consumers run in processes of their own (tests/_fallback_peer.py).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time

import numpy as np
import pytest

import geyser
import geyser.cuda
from geyser import _native
from geyser.demo import pattern
from geyser.sync import to_ns

import _fallback_peer
import _sender_wire as wire

DESC = geyser.TextureDescriptor(48, 20)
SAME = "GEYSER_TEST_PEER_COPY_SAME_DEVICE"
FORCE = "GEYSER_TEST_FORCE_DEVICE_MISMATCH"
CUDA = geyser.cuda.status()
needs_cuda = pytest.mark.skipif(not CUDA.available, reason=f"CUDA unavailable: {CUDA.reason} "
                                "(peer copy runs in the producer's CUDA; scripts/gpu/peerdelivery.sh runs these)")
without_cuda = pytest.mark.skipif(CUDA.available, reason="CUDA is available here: the producer copies for real "
                                  "(the CUDA tests below cover it)")


def _name(tag: str) -> str:
    return f"pd-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _frame(n: int, desc=DESC):
    return pattern(desc.format, desc.width, desc.height, n)


@pytest.fixture(scope="module")
def device():
    try:
        dev = geyser.Device()
    except geyser.VulkanUnavailableError as e:
        pytest.skip(f"no Vulkan device: {e}")
    yield dev


@pytest.fixture
def peer_capable(device):
    """On the CUDA machine: skips unless this device can export the Vulkan timelines peer copy needs."""
    try:
        device.create_shared_timeline("vulkan")
    except geyser.UnsupportedOperationError as e:
        pytest.skip(f"{device.info.name} cannot export timeline semaphores, which peer copy needs: {e}")
    return device


class Target:
    """Where a peer-copy consumer runs: ``same-gpu`` (the producer's GPU with the test-only switch,
    PeerCopy's same_device) or ``other-gpu`` (another GPU that CUDA sees, no switch: the real
    cross-GPU path, peer or host staging as cuDeviceCanAccessPeer says)."""

    def __init__(self, uuid: str | None = None, path: str = "same_device"):
        self.uuid, self.path = uuid, path

    def env(self) -> dict:
        env = dict(os.environ)  # GEYSER_DEVICE, where set, picked the producer's GPU too
        env.pop(FORCE, None)
        env.pop(SAME, None)
        if self.uuid is None:
            env[SAME] = "1"
        else:
            env["GEYSER_DEVICE"] = self.uuid
        return env

    def reason_part(self) -> str:
        return f"copied GPU to GPU by CUDA ({self.path}: "

    def in_this_process(self, producer_device, monkeypatch):
        """The device a subscriber in this process opens for this target, with the switches set
        (by ``monkeypatch``) as a consumer process of it would have them."""
        monkeypatch.delenv(FORCE, raising=False)
        if self.uuid is None:
            monkeypatch.setenv(SAME, "1")
            return producer_device
        monkeypatch.delenv(SAME, raising=False)
        return geyser.Device(self.uuid)


SAME_GPU = Target()


def _other_gpu(device) -> Target:
    """Another GPU than ``device``'s that CUDA sees, with its PeerCopy path; skips on one GPU."""
    t = geyser.gpu_topology()
    mine = next((g.cuda_ordinal for g in t.gpus if g.vulkan.device_uuid == device.info.device_uuid), None)
    for g in t.gpus:
        if g.vulkan.device_uuid != device.info.device_uuid and g.cuda_ordinal is not None and mine is not None:
            path = "peer" if t.peer_access[mine][g.cuda_ordinal] else "host_staging"
            return Target(g.vulkan.device_uuid, path)
    pytest.skip(f"one GPU that CUDA sees here ({len(t.cuda_devices)} CUDA device(s)): the cross-GPU case needs "
                "a second one (scripts/gpu/peerdelivery.sh on nvidia-h200-x2)")


@pytest.fixture(params=["same-gpu", "other-gpu"])
def target(request, peer_capable) -> Target:
    """Both places a peer-copy consumer can be: parametrises a test over them."""
    return SAME_GPU if request.param == "same-gpu" else _other_gpu(peer_capable)


def _env(same: bool = True) -> dict:
    """A consumer on the producer's GPU: asking for peer copy (``same``) or zero-copy."""
    if same:
        return SAME_GPU.env()
    env = dict(os.environ)
    env.pop(FORCE, None)
    env.pop(SAME, None)
    return env


def _consumer(name: str, count: int, zero_copy: str = "auto", hold: float = 0.0, same: bool = True,
              target: Target | None = None):
    env = target.env() if target is not None else _env(same)
    return _fallback_peer.start(name, count, zero_copy, env, hold)


def _answer(proc) -> dict:
    return _fallback_peer.answer(proc, timeout=180)


def _subscribed(proc) -> dict:
    return json.loads(proc.stdout.readline())


def _publish_until(sender: geyser.Sender, count: int, procs) -> int:
    return _fallback_peer.publish_until(sender, count, procs, _frame, seconds=90)


def _check_every_frame(a: dict, count: int, mode: str) -> None:
    assert a["error"] is None or mode == "latest", a
    assert a["bad"] == 0, a
    if mode == "lossless":
        assert a["numbers"] == list(range(1, count + 1)), a
    else:
        assert a["numbers"] == sorted(set(a["numbers"])) and a["numbers"], a
    assert a["fds"][1] <= a["fds"][0] + 1, a


# ---- without CUDA in the producer: refused, the copy path, for real --------------------------------

@without_cuda
@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_without_cuda_the_peer_request_is_refused_and_the_copy_path_delivers_every_frame(device, mode):
    name = _name(f"nocuda-{mode}")
    with geyser.Sender(device, name, DESC, ring_size=3, mode=mode) as sender:
        procs = [_consumer(name, 12) for _ in range(2)]
        for p in procs:
            assert _subscribed(p)["path"] == "copy"
        sender.wait_for_subscribers(2, timeout=30)
        n = _publish_until(sender, 12, procs)
        answers = [_answer(p) for p in procs]
        assert sender.stats.frames_peer_copied == 0
        assert sender.stats.frames_copied >= 1
    for a in answers:
        assert a["path"] == "copy", a
        assert "GEYSER_TEST_PEER_COPY_SAME_DEVICE=1 asked for peer copy" in a["reason"], a
        assert "peer copy is not possible: CUDA unavailable in the producer" in a["reason"], a
        assert "the copy path" in a["reason"], a
        _check_every_frame(a, 12, mode)
    assert n >= 12


def test_zero_copy_require_and_never_ignore_the_peer_switch(device, monkeypatch):
    name = _name("modes")
    monkeypatch.setenv(SAME, "1")
    monkeypatch.delenv(FORCE, raising=False)
    with geyser.Sender(device, name, DESC) as sender:
        # require: zero-copy works on this device, so it is taken (peer copy is a copy).
        with geyser.Subscriber(device, name, timeout=10, zero_copy="require") as sub:
            assert sub.path == "zero-copy" and sub.reason == ""
        with geyser.Subscriber(device, name, timeout=10, zero_copy="never") as sub:
            assert sub.path == "copy" and "zero_copy=never" in sub.reason
        # The test switch that forces another device wins: the copy path, no peer request.
        monkeypatch.setenv(FORCE, "1")
        with pytest.raises(geyser.DeviceMismatchError, match="zero_copy=require"):
            geyser.Subscriber(device, name, timeout=10, zero_copy="require")
        with geyser.Subscriber(device, name, timeout=10) as sub:
            assert sub.path == "copy" and "GEYSER_TEST_FORCE_DEVICE_MISMATCH" in sub.reason
            assert "peer copy" not in sub.reason
        assert sender.stats.frames_peer_copied == 0


def test_explain_notes_the_peer_request_only_for_another_gpu(device, monkeypatch):
    monkeypatch.delenv(FORCE, raising=False)
    monkeypatch.delenv(SAME, raising=False)
    name = _name("explain")
    with geyser.Sender(device, name, DESC):
        assert "peer_copy_request" not in geyser.explain(name, device).codes
        monkeypatch.setenv(SAME, "1")
        e = geyser.explain(name, device)
        assert e.zero_copy and "peer_copy_request" in e.codes
        monkeypatch.setenv(FORCE, "1")
        assert "peer_copy_request" not in geyser.explain(name, device).codes
    p = geyser.explain_peer_copy(device, device)
    if not CUDA.available:
        assert not p.zero_copy and "cuda_unavailable" in p.codes, p
    elif p.zero_copy:
        assert "peer_copy" in p.codes and "same_device" in str(p), p


# ---- hostile peers -------------------------------------------------------------------------------

def _raw_hello(name: str, path: int, uuid: bytes):
    ch = geyser.Channel.connect(_native.sender_socket_path(name), 5)
    ch.send(_native.MESSAGE_HELLO, wire.hello(os.getpid(), True, "raw", path=path, device_uuid=uuid), [], 5)
    return ch


@pytest.mark.parametrize("uuid", [bytes(16), bytes(range(16))], ids=["zero-uuid", "unknown-uuid"])
def test_a_peer_request_with_a_bad_uuid_is_refused_and_the_producer_goes_on(device, uuid, fd_count):
    gc.collect()
    base = fd_count()
    name = _name("baduuid")
    with geyser.Sender(device, name, DESC) as sender:
        ch = _raw_hello(name, wire.PEER_COPY, uuid)
        if uuid == bytes(16):
            # A peer-copy Hello without a UUID breaks the protocol: the producer hangs up.
            with pytest.raises(geyser.PeerGoneError):
                ch.receive(10)
        else:
            t, info, _ = ch.receive(10)
            assert t == _native.MESSAGE_SENDER_INFO
            t, payload, fds = ch.receive(10)
            assert t == wire.PEER_ANSWER and not fds
            accepted, message = wire.decode_peer_answer(payload)
            assert not accepted and message.startswith("peer copy is not possible: "), message
            assert ("CUDA unavailable" in message) if not CUDA.available else ("no Vulkan device with UUID" in message)
            t, _, fds = ch.receive(10)  # the copy path follows on the same connection
            assert t == wire.COPY_RING and len(fds) == 1
            for fd in fds:
                os.close(fd)
        ch.close()
        del ch
        sender.publish(_frame(1))
        with geyser.Subscriber(device, name, timeout=10) as sub:  # it still serves others
            with sub.next_frame(timeout=10) as f:
                np.testing.assert_array_equal(f.texture.download(), _frame(1))
        assert sender.stats.frames_peer_copied == 0
    sender = sub = f = None
    gc.collect()
    assert fd_count() == base


def _fake_peer_producer(device, name: str, second, sync_kind: int = wire.VULKAN):
    """A hostile producer: the first connection's SenderInfo says it is on another GPU (so the
    subscriber asks for peer copy), the second gets SenderInfo and then `second(channel)`."""
    listener = _native.Listener.bind(_native.sender_socket_path(name))
    seen = []
    info = wire.sender_info(name, os.getpid(), 1, DESC.width, DESC.height, 37, int(DESC.format), int(DESC.usage),
                            sync_kind, 0, 0, b"\x01" * 16, bytes.fromhex(device.info.driver_uuid))

    t = _fallback_peer.fake_producer(listener, info, lambda ch, path: second(ch), seen)
    return t, listener, seen


@pytest.mark.parametrize("case, words", [
    ("empty-answer", "empty message"),
    ("bad-flag", "must be 0 or 1"),
    ("no-answer", "expected"),
    ("accepted-then-copy-ring", "expected"),
    ("accepted-portable", "portable ready timeline"),
])
def test_a_bad_peer_answer_is_a_protocol_error_with_no_fd_leak(device, case, words, fd_count):
    gc.collect()
    base = fd_count()
    name = _name(case)

    def second(ch):
        if case == "empty-answer":
            ch.send(wire.PEER_ANSWER, wire.peer_answer(True, ""), [])
        elif case == "bad-flag":
            ch.send(wire.PEER_ANSWER, bytes([2]) + wire.peer_answer(True, "x")[1:], [])
        elif case == "no-answer":
            ch.send(_native.MESSAGE_FRAME, wire.frame(1, 0), [])
        else:
            ch.send(wire.PEER_ANSWER, wire.peer_answer(True, "copied"), [])
            fd = os.memfd_create("evil")
            try:  # the subscriber may have hung up already (accepted-portable): the send then fails
                os.ftruncate(fd, 4096)
                ch.send(wire.COPY_RING, wire.copy_ring(1, 4096, [(1, 0, 4096)]), [fd])
            finally:
                os.close(fd)

    # A producer announcing a portable timeline cannot accept peer copy (CUDA waits on Vulkan ones).
    t, listener, seen = _fake_peer_producer(device, name, second,
                                            wire.PORTABLE if case == "accepted-portable" else wire.VULKAN)
    with pytest.raises(geyser.ProtocolError, match=words):
        geyser.Subscriber(device, name, timeout=10)
    t.join(30)
    want_uuid = bytes.fromhex(device.info.device_uuid)
    assert [p for p, _ in seen] == [wire.ZERO_COPY, wire.PEER_COPY]
    assert seen[0][1] == bytes(16) and seen[1][1] == want_uuid
    del listener, t
    gc.collect()
    assert fd_count() == base


# ---- with CUDA: the whole path on one GPU (same_device) -----------------------------------------

@needs_cuda
@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_peer_copy_and_zero_copy_consumers_get_every_frame_verified(peer_capable, target, mode):
    """The producer's GPU: a zero-copy consumer. ``target``'s GPU: two peer-copy consumers."""
    name = _name(f"peer-{mode}")
    count = 40
    with geyser.Sender(peer_capable, name, DESC, ring_size=4, mode=mode) as sender:
        peers = [_consumer(name, count, target=target) for _ in range(2)]
        zero = _consumer(name, count, same=False)
        for p in peers:
            assert _subscribed(p)["path"] == "peer-copy"
        assert _subscribed(zero)["path"] == "zero-copy"
        sender.wait_for_subscribers(3, timeout=60)
        n = _publish_until(sender, count, peers + [zero])
        answers = [_answer(p) for p in peers]
        z = _answer(zero)
        stats = sender.stats
    for a in answers:
        assert a["path"] == "peer-copy", a
        assert target.reason_part() in a["reason"], a
        assert a["uuid"] == (target.uuid or peer_capable.info.device_uuid), a
        _check_every_frame(a, count, mode)
    assert z["uuid"] == peer_capable.info.device_uuid, z
    _check_every_frame(z, count, mode)
    # Once per frame for the GPU, however many subscribers are on it.
    assert 1 <= stats.frames_peer_copied <= n
    if mode == "lossless":
        assert stats.frames_peer_copied == count


@needs_cuda
@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_host_staging_can_be_asked_for_and_delivers_every_frame(peer_capable, target, mode):
    """peer_copy_host_staging=True: the copy goes through pinned host memory even where the GPUs
    have peer access, and the consumer is told so."""
    name = _name(f"staging-{mode}")
    count = 30
    with geyser.Sender(peer_capable, name, DESC, ring_size=4, mode=mode, peer_copy_host_staging=True) as sender:
        p = _consumer(name, count, target=target)
        assert _subscribed(p)["path"] == "peer-copy"
        sender.wait_for_subscribers(1, timeout=60)
        _publish_until(sender, count, [p])
        a = _answer(p)
    assert "copied GPU to GPU by CUDA (host_staging: host staging was asked for (" in a["reason"], a
    _check_every_frame(a, count, mode)


def test_peer_copy_host_staging_must_be_a_bool(device, fd_count):
    base = fd_count()
    with pytest.raises(geyser.InvalidArgumentTypeError, match="peer_copy_host_staging must be a bool, got str"):
        geyser.Sender(device, _name("staging-type"), DESC, peer_copy_host_staging="yes")  # type: ignore[arg-type]
    assert fd_count() == base


@needs_cuda
def test_consumers_on_two_gpus_get_one_copy_per_gpu(peer_capable):
    """Peer-copy consumers on the producer's GPU (same_device) and on another GPU, two on each:
    each frame is copied once per GPU, never once per consumer, and every frame arrives whole."""
    other = _other_gpu(peer_capable)
    name = _name("two-gpus")
    count = 30
    with geyser.Sender(peer_capable, name, DESC, ring_size=4) as sender:
        procs = [_consumer(name, count, target=t) for t in (SAME_GPU, other) for _ in range(2)]
        for p in procs:
            assert _subscribed(p)["path"] == "peer-copy"
        sender.wait_for_subscribers(4, timeout=60)
        _publish_until(sender, count, procs)
        answers = [_answer(p) for p in procs]
        stats = sender.stats
    for a, t in zip(answers, [SAME_GPU] * 2 + [other] * 2):
        assert t.reason_part() in a["reason"], a
        assert a["uuid"] == (t.uuid or peer_capable.info.device_uuid), a
        _check_every_frame(a, count, "lossless")
    assert stats.frames_peer_copied == 2 * count


@needs_cuda
def test_a_late_peer_joiner_gets_the_current_frame_then_every_later_one(peer_capable, target):
    name = _name("late")
    with geyser.Sender(peer_capable, name, DESC, ring_size=3) as sender:
        for n in range(1, 6):
            sender.publish(_frame(n))
        p = _consumer(name, 6, target=target)
        assert _subscribed(p)["path"] == "peer-copy"
        sender.wait_for_subscribers(1, timeout=60)
        for n in range(6, 11):
            sender.publish(_frame(n), timeout=20)
        a = _answer(p)
    assert a["numbers"] == list(range(5, 11)) and a["bad"] == 0, a


@needs_cuda
def test_a_peer_consumer_killed_mid_stream_leaves_the_others_whole(peer_capable, target):
    """A consumer killed while frames are copied to its GPU: the other one there, and the
    producer, go on; the dead one's subscription is dropped."""
    name = _name("kill")
    count = 30
    with geyser.Sender(peer_capable, name, DESC, ring_size=3) as sender:
        victim = _consumer(name, 1000, hold=0.05, target=target)
        other = _consumer(name, count, target=target)
        assert _subscribed(victim)["path"] == "peer-copy"
        assert _subscribed(other)["path"] == "peer-copy"
        sender.wait_for_subscribers(2, timeout=60)
        for n in range(1, count + 1):
            sender.publish(_frame(n), timeout=20)
            if n == 5:
                victim.send_signal(signal.SIGKILL)
        _fallback_peer.finish(victim, timeout=30)
        a = _answer(other)
        deadline = time.monotonic() + 10
        while sender.subscribers > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sender.subscribers == 0
    assert a["numbers"] == list(range(1, count + 1)) and a["bad"] == 0, a


@needs_cuda
@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_a_thousand_frames_leave_fd_and_device_memory_counts_flat(peer_capable, target, monkeypatch, mode, fd_count):
    """The producer and a peer-copy subscriber on ``target``'s GPU in this process, 1,000 frames,
    every one verified; fds and both devices' memory flat."""
    sub_device = target.in_this_process(peer_capable, monkeypatch)
    name = _name(f"flat-{mode}")
    with geyser.Sender(peer_capable, name, DESC, ring_size=3, mode=mode) as sender:
        with geyser.Subscriber(sub_device, name, timeout=30) as sub:
            assert sub.path == "peer-copy", sub.reason
            assert target.reason_part() in sub.reason, sub.reason
            sender.wait_for_subscribers(1, timeout=30)

            def one(n: int) -> None:
                sender.publish(_frame(n), timeout=20)
                with sub.next_frame(timeout=20) as f:
                    assert f.number == n
                    np.testing.assert_array_equal(f.texture.download(), _frame(n), err_msg=f"frame {n}")

            for n in range(1, 21):
                one(n)
            gc.collect()
            fds, mem, sub_mem = fd_count(), peer_capable.memory_usage(), sub_device.memory_usage()
            for n in range(21, 1021):
                one(n)
            gc.collect()
            assert fd_count() == fds
            assert peer_capable.memory_usage() == mem
            assert sub_device.memory_usage() == sub_mem
            assert sender.stats.frames_peer_copied == 1020


@needs_cuda
def test_a_gpu_signalled_frame_is_copied_after_the_signal(peer_capable, target, monkeypatch):
    """end_frame(ReadySignal GPU) with the signal still to come: the copy waits on the GPU; the
    producer's call does not wait."""
    sub_device = target.in_this_process(peer_capable, monkeypatch)
    name = _name("gpu")
    with geyser.Sender(peer_capable, name, DESC, ring_size=3) as sender:
        if sender.ready.kind != "vulkan":
            pytest.skip("the ready timeline is portable here")
        with geyser.Subscriber(sub_device, name, timeout=30) as sub:
            assert sub.path == "peer-copy", sub.reason
            sender.wait_for_subscribers(1, timeout=30)
            frame = sender.begin_frame()
            frame.texture.upload(_frame(1))
            sender.end_frame(frame, ready="gpu")
            with pytest.raises(geyser.TimeoutError):
                sub.next_frame(timeout=0.2)
            sender.ready.signal(1)
            with sub.next_frame(timeout=20) as f:
                np.testing.assert_array_equal(f.texture.download(), _frame(1))
