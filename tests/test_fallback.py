"""When zero-copy is impossible: explain(), doctor, and the copy path (docs/fallback.md).

The producer runs here, each consumer in a process of its own (tests/_fallback_peer.py). The
devices come from GEYSER_TEST_PRODUCER_DEVICE and GEYSER_TEST_CONSUMER_DEVICE (selectors; empty:
the default device). Where both are the same device (CI has only lavapipe), the consumers set
the test-only GEYSER_TEST_FORCE_DEVICE_MISMATCH=1, so that they take the decision a consumer on
another device takes, and the copy path then runs for real. scripts/gpu/fallback.sh runs this
file with NVIDIA and lavapipe, both ways round.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import geyser
from geyser import _native
from geyser.demo import pattern
from geyser.sync import to_ns

import _fallback_peer
import _sender_wire as wire
from _fallback_peer import answer as _answer

DESC = geyser.TextureDescriptor(48, 20)
FORCE = "GEYSER_TEST_FORCE_DEVICE_MISMATCH"
PRODUCER = os.environ.get("GEYSER_TEST_PRODUCER_DEVICE") or None
CONSUMER = os.environ.get("GEYSER_TEST_CONSUMER_DEVICE") or None
F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL = 0x2, 0x4, 0x1
F_ADD_SEALS = 1033


def _name(tag: str) -> str:
    return f"fb-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _frame(n: int, desc=DESC):
    return pattern(desc.format, desc.width, desc.height, n)


@pytest.fixture(scope="module")
def producer_device():
    try:
        dev = geyser.Device(PRODUCER)
    except geyser.VulkanUnavailableError as e:
        pytest.skip(f"no Vulkan device: {e}")
    yield dev


@pytest.fixture(scope="module")
def consumer_info(producer_device):
    """The consumer's DeviceInfo, and whether it is the producer's own device."""
    with geyser.Device(CONSUMER) as dev:
        info = dev.info
    same = (info.device_uuid, info.driver_uuid) == (producer_device.info.device_uuid,
                                                      producer_device.info.driver_uuid)
    return info, same


def _consumer_env(same: bool, force: bool | None = None) -> dict:
    env = dict(os.environ)
    if CONSUMER:
        env["GEYSER_DEVICE"] = CONSUMER
    else:
        env.pop("GEYSER_DEVICE", None)
    if force if force is not None else same:
        env[FORCE] = "1"
    else:
        env.pop(FORCE, None)
    return env


def _peer(name: str, count: int, zero_copy: str, env: dict, hold: float = 0.0) -> subprocess.Popen:
    return _fallback_peer.start(name, count, zero_copy, env, hold)


def _publish_until(sender: geyser.Sender, count: int, procs, desc=DESC) -> int:
    return _fallback_peer.publish_until(sender, count, procs, lambda n: _frame(n, desc))


# ---- the copy path, for real ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_copy_subscribers_get_every_frame_verified(producer_device, consumer_info, mode):
    info, same = consumer_info
    name = _name(mode)
    count = 12
    with geyser.Sender(producer_device, name, DESC, ring_size=3, mode=mode) as sender:
        env = _consumer_env(same)
        copies = [_peer(name, count if mode == "lossless" else 3, "auto", env) for _ in range(2)]
        zero = [_peer(name, count if mode == "lossless" else 3, "auto", _consumer_env(same, force=False))] if same else []
        procs = copies + zero
        for p in procs:
            assert json.loads(p.stdout.readline())["path"] in ("copy", "zero-copy")
        sender.wait_for_subscribers(len(procs), timeout=30)
        published = _publish_until(sender, count, procs)
        answers = [_answer(p) for p in procs]
        stats = sender.stats
    for a in answers[:2]:
        assert a["error"] is None, a
        assert a["path"] == "copy", a
        assert "GEYSER_TEST_FORCE_DEVICE_MISMATCH" in a["reason"] if same else a["reason"], a
        assert a["bad"] == 0, a
        if mode == "lossless":
            assert a["numbers"] == list(range(1, count + 1)), a
        else:
            assert a["numbers"] == sorted(set(a["numbers"])) and len(a["numbers"]) == 3, a
        assert a["fds"][0] == a["fds"][1], a
    for a in answers[2:]:
        assert a["path"] == "zero-copy" and a["bad"] == 0 and a["error"] is None, a
    # Downloaded once per frame however many copy subscribers there are.
    if mode == "lossless":
        assert stats.frames_copied == count, stats.frames_copied
    else:
        assert 3 <= stats.frames_copied <= published, (stats.frames_copied, published)


def test_a_late_copy_joiner_gets_the_current_frame_then_every_later_one(producer_device, consumer_info):
    info, same = consumer_info
    name = _name("late")
    with geyser.Sender(producer_device, name, DESC, ring_size=3) as sender:
        for n in range(1, 4):
            sender.publish(_frame(n))
        assert sender.stats.frames_copied == 0  # nobody to copy for: nothing downloaded
        proc = _peer(name, 4, "auto", _consumer_env(same))
        assert json.loads(proc.stdout.readline()) == {"subscribed": 3, "path": "copy"}
        sender.wait_for_subscribers(1, timeout=30)
        for n in range(4, 7):
            sender.publish(_frame(n), timeout=20)
        a = _answer(proc)
    assert a["error"] is None and a["bad"] == 0, a
    assert a["numbers"] == [3, 4, 5, 6], a


def test_zero_copy_require_is_refused_before_any_import(producer_device, consumer_info):
    info, same = consumer_info
    name = _name("require")
    with geyser.Sender(producer_device, name, DESC) as sender:
        sender.publish(_frame(1))
        a = _answer(_peer(name, 1, "require", _consumer_env(same)))
        assert sender.stats.frames_copied == 0
    assert a["error"].startswith("DeviceMismatchError"), a
    assert "zero_copy=require" in a["error"] and "Fix:" in a["error"], a
    assert a["fds"][0] == a["fds"][1], a


def test_release_rules_hold_on_the_copy_path(producer_device, monkeypatch, fd_count):
    # In this process: zero_copy="never" takes the copy path on the producer's own device.
    gc.collect()
    base = fd_count()
    name = _name("release")
    with geyser.Sender(producer_device, name, DESC, ring_size=2, release_timeout=0.3) as sender:
        sub = geyser.Subscriber(producer_device, name, timeout=10, zero_copy="never")
        assert sub.path == "copy" and "zero_copy=never" in sub.reason
        assert sub.ring[0].device is producer_device
        sender.wait_for_subscribers(1, timeout=10)
        sender.publish(_frame(1))
        sender.publish(_frame(2))
        f1, f2 = sub.next_frame(timeout=5), sub.next_frame(timeout=5)
        assert np.array_equal(f1.texture.download(), _frame(1)) and np.array_equal(f2.texture.download(), _frame(2))
        with pytest.raises(geyser.UnsupportedOperationError):
            sub.next_frame(timeout=1)  # holds max_held (2) already
        with pytest.raises(geyser.UnsupportedOperationError):
            sub.next_frame(timeout=1, wait="gpu")  # a copy subscriber's timeline is portable
        f1.release()
        with pytest.raises(geyser.InvalidHandleError):
            f1.texture
        assert sender.publish(_frame(3), timeout=5) == 3  # slot 0 is free again
        with sub.next_frame(timeout=5) as f3:
            assert np.array_equal(f3.texture.download(), _frame(3))
        # f2 is still held: the producer needs its slot, and drops the holder after the timeout.
        assert sender.publish(_frame(4), timeout=0.2) == 4
        with pytest.raises(geyser.SubscriptionDroppedError, match="held frame 2"):
            sub.next_frame(timeout=5)
        sub.close()
        assert sender.stats.frames_copied == 3
    del sub, f1, f2, f3, sender
    gc.collect()
    assert fd_count() == base


@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_a_tensor_stream_takes_the_copy_path_too(producer_device, consumer_info, fd_count, mode):
    # The consumer's device in this process: another device where there is one (the GPU machine),
    # else the producer's own with zero_copy="never" (the same copy path, run for real).
    info, same = consumer_info
    gc.collect()
    base = fd_count()
    name = _name(f"tensors-{mode}")
    spec = {"obs": ("float32", (3, 5, 7)), "step": ("int64", (1,))}
    consumer = producer_device if same else geyser.Device(CONSUMER)
    with geyser.Sender(producer_device, name, tensors=spec, ring_size=3, mode=mode) as sender:
        sub = geyser.Subscriber(consumer, name, timeout=10, zero_copy="never" if same else "auto")
        assert sub.path == "copy" and sub.reason
        assert sub.layout == sender.layout and len(sub.buffers) == 3 and not sub.ring
        assert sub.buffers[0].device is consumer
        sender.wait_for_subscribers(1, timeout=10)
        for n in range(1, 6):
            obs = np.arange(3 * 5 * 7, dtype=np.float32).reshape(3, 5, 7) * n
            sender.publish({"obs": obs, "step": np.array([n], np.int64)})
            with sub.next_frame(timeout=5) as frame:
                got = frame.read()
                assert frame.number == n and got["step"][0] == n
                assert np.array_equal(got["obs"], obs)
        sub.close()
        assert sender.stats.frames_copied == 5
    del sub, sender, frame
    if not same:
        consumer.close()
    gc.collect()
    assert fd_count() == base


# ---- explain and doctor -----------------------------------------------------------------------

def test_explain_a_sender_a_handle_and_a_device(producer_device, monkeypatch):
    monkeypatch.delenv(FORCE, raising=False)
    name = _name("explain")
    dev = producer_device
    with geyser.Sender(dev, name, DESC) as sender:
        e = geyser.explain(name, dev)
        assert e.zero_copy and e.path == "zero-copy", e
        assert all(not r.blocking for r in e.reasons), e
        assert ("portable_timeline" in e.codes) == (sender.info().sync_kind == "portable")
        assert geyser.explain(sender.info(), dev).zero_copy
        monkeypatch.setenv(FORCE, "1")
        forced = geyser.explain(name, dev)
        assert not forced.zero_copy and forced.path == "copy"
        assert forced.codes[0] == "forced_device_mismatch" and forced.reasons[0].blocking
        assert "unset GEYSER_TEST_FORCE_DEVICE_MISMATCH" in forced.reasons[0].fix
        d = forced.to_dict()
        assert d["reasons"][0]["code"] == "forced_device_mismatch" and d["zero_copy"] is False
        assert json.loads(json.dumps(d)) == d
        monkeypatch.delenv(FORCE)
    tex = dev.create_shareable_texture(DESC)
    with dev.export_texture(tex) as h:
        assert geyser.explain(h, dev).zero_copy
    assert geyser.explain(dev, dev).zero_copy
    assert geyser.explain(dev.info, dev).zero_copy
    with pytest.raises(geyser.InvalidArgumentTypeError):
        geyser.explain(3.5, dev)
    with pytest.raises(geyser.PeerGoneError):
        geyser.explain(_name("nobody"), dev, timeout=0.5)


def test_explain_names_another_device_and_its_fix(producer_device, consumer_info):
    info, same = consumer_info
    if same:
        pytest.skip("one device only (GEYSER_TEST_CONSUMER_DEVICE names another to run this)")
    with geyser.Device(CONSUMER) as dev:
        e = geyser.explain(producer_device.info, dev)
    assert not e.zero_copy
    assert e.codes[0] in ("device_uuid_mismatch", "driver_uuid_mismatch"), e
    assert producer_device.info.device_uuid in e.reasons[0].message + e.reasons[0].fix


def test_explain_cuda_says_which_device_or_why_none(producer_device):
    e = geyser.explain_cuda(producer_device)
    if not geyser.cuda.available():
        assert e.codes == ["cuda_unavailable"] and e.cuda_ordinal is None, e
        assert e.reasons[0].fix
    elif producer_device.info.device_type == "cpu":
        assert e.codes == ["cuda_not_visible"] and "lavapipe" in e.reasons[0].fix, e
    else:
        assert e.codes == ["cuda_device"] and e.cuda_ordinal is not None and e.zero_copy, e
    # CUDA_VISIBLE_DEVICES hiding every GPU (in a process of its own: CUDA reads it once).
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    if PRODUCER:
        env["GEYSER_DEVICE"] = PRODUCER
    cuda = _doctor(env=env)["cuda"]
    assert not cuda["zero_copy"] and cuda["cuda_ordinal"] is None, cuda
    codes = [r["code"] for r in cuda["reasons"]]
    assert codes in (["cuda_unavailable"], ["cuda_not_visible"]), cuda
    assert 'CUDA_VISIBLE_DEVICES=""' in cuda["reasons"][0]["message"], cuda


def test_a_fork_child_is_told_why(producer_device):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's Device is inherited
        try:
            os.close(r)
            codes = geyser.explain(producer_device, producer_device).codes
            os.write(w, json.dumps(codes).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        codes = json.loads(f.read())
    os.waitpid(pid, 0)
    assert codes[0] == "forked_child", codes


def _doctor(*args: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "geyser", "doctor", *args, "--json"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_doctor_json(producer_device, consumer_info):
    info, same = consumer_info
    name = _name("doctor")
    with geyser.Sender(producer_device, name, DESC):
        d = _doctor(name, env=_consumer_env(same))
        everyone = _doctor(env=_consumer_env(same))
    assert d["device"]["device_uuid"] == info.device_uuid
    assert d["test_forced_mismatch"] is same
    [s] = d["senders"]
    assert s["subject"] == f"sender '{name}'" and s["zero_copy"] is False and s["path"] == "copy"
    codes = [r["code"] for r in s["reasons"]]
    assert ("forced_device_mismatch" in codes) if same else ("device_uuid_mismatch" in codes
                                                              or "driver_uuid_mismatch" in codes)
    assert d["cuda"]["subject"].startswith("CUDA for device")
    assert name in [s["subject"].split("'")[1] for s in everyone["senders"]]


def test_doctor_text_names_the_fix(producer_device):
    name = _name("doctor-text")
    env = dict(os.environ, **{FORCE: "1"})
    with geyser.Sender(producer_device, name, DESC):
        out = subprocess.run([sys.executable, "-m", "geyser", "doctor", name], capture_output=True, text=True,
                             env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "[forced_device_mismatch]" in out.stdout and "Fix: unset" in out.stdout


# ---- copy_to: single handles --------------------------------------------------------------------

def test_copy_to_copies_a_texture_and_a_buffer(producer_device, consumer_info):
    info, _ = consumer_info
    with geyser.Device(CONSUMER) as target:
        tex = producer_device.create_shareable_texture(DESC)
        tex.upload(_frame(7))
        with producer_device.export_texture(tex) as h:
            copy = geyser.copy_to(target, h)
            assert h.fd >= 0  # duplicated, not taken
        assert copy.device is target and np.array_equal(copy.download(), _frame(7))
        assert np.array_equal(geyser.copy_to(target, tex).download(), _frame(7))
        buf = producer_device.create_shareable_buffer(4096)
        data = np.arange(4096, dtype=np.uint8)
        buf.write(data)
        bcopy = geyser.copy_to(target, buf)
        assert bcopy.device is target and bcopy.read() == data.tobytes()
        with pytest.raises(geyser.InvalidArgumentTypeError):
            geyser.copy_to(target, "not a handle")


# ---- hostile producers of the copy path -----------------------------------------------------------

def _memfd(size: int, seal: bool = True) -> int:
    fd = os.memfd_create("evil", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seal:
        import fcntl
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
    return fd


def _fake_copy_producer(device, name: str, ring: bytes, ring_fd: int, tensors=None):
    """Serves a subscriber the way a hostile producer of the copy path would: its first
    connection gets a SenderInfo saying it is another device, its second (the copy path's) the
    given copy ring and fd, then a portable timeline and frame 1. ``tensors``: describe a tensor
    stream of that layout ((name, dtype number, shape) each) instead of DESC's textures."""
    listener = _native.Listener.bind(_native.sender_socket_path(name))
    ready = device.create_shared_timeline("portable")
    seen = []

    def info() -> bytes:
        if tensors is not None:
            return wire.sender_info(name, os.getpid(), 1, 0, 0, 0, 0, 0, wire.PORTABLE, 0, 0, b"\x01" * 16,
                                    b"\x02" * 16, payload=wire.BUFFER, tensors=tensors)
        return wire.sender_info(name, os.getpid(), 1, DESC.width, DESC.height, 37, int(DESC.format), int(DESC.usage),
                                wire.PORTABLE, 0, 0, b"\x01" * 16, b"\x02" * 16)

    def second(ch, path):
        if path == wire.PEER_COPY:
            # It says it is on another GPU: the subscriber asks for peer copy first (protocol 4).
            ch.send(wire.PEER_ANSWER, wire.peer_answer(False, "peer copy is not possible: a test"), [])
        ch.send(wire.COPY_RING, ring, [ring_fd])
        with device.export_timeline(ready) as th:
            ch.send(_native.MESSAGE_TIMELINE_HANDLE, wire.timeline_announce(wire.READY, wire.PORTABLE), [th.fd])
        ready.signal(1)
        ch.send(_native.MESSAGE_FRAME, wire.frame(1, 0), [])

    t = _fallback_peer.fake_producer(listener, info(), second, seen)
    return t, listener, seen


SLOT = DESC.width * DESC.height * 4  # RGBA8


@pytest.mark.parametrize("case, words", [
    ("size-lies", "has 4096 bytes, but its description says"),
    ("unsealed", "not sealed against shrinking"),
    ("plane-past-slot", "is not packed after"),
    ("wrong-plane-size", "does not describe its 48x20 textures"),
    ("two-slots", "2 slots for a ring of 1"),
    ("bytes-plane-for-textures", "does not describe its 48x20 textures"),
    ("tensor-ring-wrong-size", "does not describe its tensor stream"),
])
def test_a_hostile_copy_ring_is_refused(producer_device, case, words):
    gc.collect()
    base = _fds()
    name = _name(case)
    ring = wire.copy_ring(1, SLOT, [(1, 0, SLOT)])
    fd = _memfd(SLOT)
    if case == "size-lies":
        os.close(fd)
        fd = _memfd(4096)
    elif case == "unsealed":
        os.close(fd)
        fd = _memfd(SLOT, seal=False)
    elif case == "plane-past-slot":
        ring = struct.pack("<IQIIQQ", 1, SLOT, 1, 1, 64, SLOT)
    elif case == "wrong-plane-size":
        ring = wire.copy_ring(1, SLOT - 4, [(1, 0, SLOT - 4)])
    elif case == "two-slots":
        ring = wire.copy_ring(2, SLOT, [(1, 0, SLOT)])
    elif case == "bytes-plane-for-textures":
        ring = wire.copy_ring(1, SLOT, [(0, 0, SLOT)])  # a tensor stream's plane, for a texture ring
    tensors = [("t", 12, (4,))] if case == "tensor-ring-wrong-size" else None  # 16 bytes of float32
    t, listener, seen = _fake_copy_producer(producer_device, name, ring, fd, tensors)
    with pytest.raises(geyser.ProtocolError, match=words):
        geyser.Subscriber(producer_device, name, timeout=10)
    t.join(30)
    assert [path for path, _ in seen] == [wire.ZERO_COPY, wire.PEER_COPY]
    os.close(fd)
    del listener, t
    gc.collect()
    assert _fds() == base


def test_a_copy_subscriber_cannot_write_the_ring_others_read(producer_device):
    # A raw copy subscriber (the protocol by hand) takes the ring's memfd and tries to write it.
    gc.collect()
    base = _fds()
    name = _name("readonly")
    with geyser.Sender(producer_device, name, DESC, ring_size=1):
        with geyser.Channel.connect(_native.sender_socket_path(name), 5) as ch:
            ch.send(_native.MESSAGE_HELLO, wire.hello(os.getpid(), path=wire.COPY), [], 5)
            kind, _, fds = ch.receive(5)
            assert kind == _native.MESSAGE_SENDER_INFO and not fds
            kind, _, fds = ch.receive(5)
            assert kind == wire.COPY_RING and len(fds) == 1
            fd = fds[0]
            try:
                with pytest.raises(PermissionError):
                    mmap.mmap(fd, SLOT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                with pytest.raises(PermissionError):
                    os.pwrite(fd, b"forged", 0)
                mmap.mmap(fd, SLOT, mmap.MAP_SHARED, mmap.PROT_READ).close()  # reading is what it is for
            finally:
                os.close(fd)
    gc.collect()
    assert _fds() == base


def test_a_sound_fake_copy_ring_is_read(producer_device):
    # The same fake producer with an honest ring: what the hostile cases change is all that is wrong.
    name = _name("honest")
    fd = _memfd(SLOT)
    os.pwrite(fd, _frame(1).tobytes(), 0)
    t, listener, seen = _fake_copy_producer(producer_device, name, wire.copy_ring(1, SLOT, [(1, 0, SLOT)]), fd)
    sub = geyser.Subscriber(producer_device, name, timeout=10)
    assert sub.path == "copy" and "device" in sub.reason
    with sub.next_frame(timeout=10) as f:
        assert np.array_equal(f.texture.download(), _frame(1))
    sub.close()
    t.join(30)
    os.close(fd)


def test_doctor_of_a_sender_nobody_publishes_is_one_line_and_exit_1():
    out = subprocess.run([sys.executable, "-m", "geyser", "doctor", _name("nobody"), "--timeout", "0.5"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "PeerGoneError" in lines[0], out.stderr
