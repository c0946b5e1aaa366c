"""Geyser objects through ``multiprocessing`` pickling (``geyser.pickling``), with real processes.

The cross-process tests talk to one peer process per start method (spawn, fork) and channel
(Queue, Pipe), started once for this module: the parent sends it textures, buffers, timelines
and handles; it imports them, reads, writes, waits and signals, and answers. The parent then
sees the peer's writes in its own objects, which proves the memory is shared, not copied.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import itertools
import multiprocessing
import multiprocessing.resource_tracker
import os
import pickle
import queue
import time
import traceback
import warnings
import weakref
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import _handle_wire
import geyser
from _forked import refusals, run_forked

TIMEOUT = 30.0  # seconds for any one wait; nothing here waits forever
DESC = geyser.TextureDescriptor(33, 17)  # RGBA8_UNORM with an odd extent
BUFFER_SIZE = 1001
LEAK_CYCLES = 50


def _texels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(DESC.height, DESC.width, 4), dtype=np.uint8)


def _bytes(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=BUFFER_SIZE, dtype=np.uint8).tobytes()


def _sha(data) -> str:
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return hashlib.sha256(data).hexdigest()


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _quiet_fd_count() -> int:
    """The fd count once garbage is collected and it has not changed for 0.1 s (at most 2 s)."""
    gc.collect()
    deadline = time.monotonic() + 2
    n = _fd_count()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n, last = _fd_count(), n
        if n == last:
            break
    return n


def _settled_fd_count(expected: int) -> int:
    """The fd count once it reaches ``expected`` or 5 s have passed: multiprocessing's resource
    sharer thread closes each fd it sent a moment after the receiver has it."""
    deadline = time.monotonic() + 5
    while (n := _fd_count()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return n


def _start(process) -> None:
    # Python 3.12 warns when a process with threads forks (the Vulkan driver and multiprocessing's
    # own threads run here); the child only imports what it is sent into a device of its own.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
        process.start()


@pytest.fixture(scope="module", autouse=True)
def _fds_quiet_at_the_end():
    """Leaves no fd for the resource sharer's thread to close during the next module's tests."""
    yield
    _quiet_fd_count()


# -- the peer process ----------------------------------------------------------------------------

class _End:
    """One end of a two-way channel: two Queues, or one end of a duplex Pipe."""

    def __init__(self, inbox, outbox=None):
        self._in = inbox
        self._out = outbox

    def send(self, obj) -> None:
        if self._out is None:
            self._in.send(obj)
        else:
            self._out.put(obj)

    def recv(self, timeout: float = TIMEOUT):
        if self._out is not None:
            return self._in.get(timeout=timeout)
        if not self._in.poll(timeout):
            raise queue.Empty
        return self._in.recv()

    def close(self) -> None:
        if self._out is None:
            self._in.close()
            return
        for q in (self._in, self._out):
            q.close()
            q.join_thread()


def _peer_texture(texture, seed):
    digest = _sha(texture.download())
    texture.upload(_texels(seed))
    answer = {"sha": digest, "imported": texture.imported, "uuid": texture.device.info.device_uuid}
    texture.close()
    return answer


def _peer_texture_frames(texture, timeline, seed):
    device = texture.device
    device.wait_for_texture(texture, 1, TIMEOUT)
    digest = _sha(texture.download())
    texture.upload(_texels(seed))
    device.signal_texture_ready(texture, 2)
    answer = {"sha": digest, "same_timeline": texture.timeline is timeline}
    timeline.close()
    texture.close()
    return answer


def _peer_buffer(buffer, seed):
    digest = _sha(buffer.read())
    buffer.write(_bytes(seed))
    answer = {"sha": digest, "imported": buffer.imported}
    buffer.close()
    return answer


def _peer_timeline(timeline, rounds):
    for k in range(rounds):
        timeline.wait(2 * k + 1, TIMEOUT)
        timeline.signal(2 * k + 2)
    answer = {"kind": timeline.kind, "value": timeline.value}
    timeline.close()
    return answer


def _peer_handles(texture_handle, buffer_handle, timeline_handle, seed):
    with texture_handle, buffer_handle, timeline_handle, geyser.Device(texture_handle.device_uuid) as device:
        with device.import_texture(texture_handle) as texture, device.import_buffer(buffer_handle) as buffer, \
                device.import_timeline(timeline_handle) as timeline:
            answer = {"texture_sha": _sha(texture.download()), "buffer_sha": _sha(buffer.read())}
            texture.upload(_texels(seed))
            timeline.signal(1)
    return answer


def _peer_send_back(uuid, seed):
    # The answer carries a texture of this process and a handle of it; the channel pickles them.
    device = geyser.Device(uuid)
    texture = device.create_shareable_texture(DESC)
    texture.upload(_texels(seed))
    return {"texture": texture, "handle": device.export_texture(texture)}


_PEER_OPS = {
    "texture": _peer_texture,
    "texture_frames": _peer_texture_frames,
    "buffer": _peer_buffer,
    "timeline": _peer_timeline,
    "handles": _peer_handles,
    "send_back": _peer_send_back,
}


def _peer_main(end: _End) -> None:
    """The peer's loop: ``(id, op, *args)`` in, ``{"id", "result" or "error", "validation"}`` out."""
    geyser.clear_validation_messages()  # a forked child starts with a copy of the parent's
    while (request := end.recv(TIMEOUT * 4)) is not None:
        request_id, op, *args = request
        try:
            answer = {"result": _PEER_OPS[op](*args)}
        except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the test
            answer = {"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"}
        del request, args  # what the op received goes when it is done with it
        answer["id"] = request_id
        answer["validation"] = geyser.validation_messages()
        geyser.clear_validation_messages()
        end.send(answer)
    end.close()


class _Peer:
    def __init__(self, name: str, end: _End, process):
        self.name = name
        self._end = end
        self._process = process
        self._ids = itertools.count()
        self._last = -1

    def send(self, op: str, *args) -> None:
        self._last = next(self._ids)
        self._end.send((self._last, op, *args))

    def answer(self):
        """The answer to the last request (older ones, left by a failed test, are dropped)."""
        while True:
            try:
                answer = self._end.recv(TIMEOUT)
            except queue.Empty:
                raise AssertionError(
                    f"peer {self.name} did not answer in {TIMEOUT} s (exit code {self._process.exitcode})"
                ) from None
            if answer["id"] == self._last:
                break
        assert not answer["validation"], f"peer {self.name}: validation messages {answer['validation']}"
        if "error" in answer:
            raise AssertionError(f"peer {self.name} raised {answer['error']}")
        return answer["result"]

    def call(self, op: str, *args):
        self.send(op, *args)
        return self.answer()

    def stop(self) -> None:
        try:
            self._end.send(None)
            self._process.join(TIMEOUT)
            assert self._process.exitcode == 0, f"peer {self.name} exited with {self._process.exitcode}"
        finally:
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process.close()
            self._end.close()


@pytest.fixture(scope="module")
def fork_support(device):
    """Empty when a child forked from this process (which has Vulkan open) can open a device;
    else the reason it cannot (NVIDIA's driver refuses, and Geyser says so: VulkanUnavailableError)."""
    def open_a_device() -> str:
        try:
            geyser.Device(device.info.device_uuid)
            return ""
        except geyser.VulkanUnavailableError as e:
            return str(e)[:4000]
        except Exception as e:  # noqa: BLE001 - report anything else as a failure below
            return "UNEXPECTED " + repr(e)[:4000]

    msg = run_forked(open_a_device)
    assert not msg.startswith("UNEXPECTED"), msg
    return f"{device.info.driver_name} cannot open a device in a forked child: {msg}" if msg else ""


@pytest.fixture(scope="module", params=[(c, ch) for c in ("spawn", "fork") for ch in ("queue", "pipe")],
                ids=lambda p: "-".join(p))
def peer(request, device):
    method, channel = request.param
    # The fork probe runs only where a fork test does, so that `-k "not fork"` never forks.
    if method == "fork" and request.getfixturevalue("fork_support"):
        pytest.skip(request.getfixturevalue("fork_support"))
    ctx = multiprocessing.get_context(method)
    if channel == "queue":
        to_peer, from_peer = ctx.Queue(), ctx.Queue()
        mine, theirs, their_conn = _End(from_peer, to_peer), _End(to_peer, from_peer), None
    else:
        my_conn, their_conn = ctx.Pipe()
        mine, theirs = _End(my_conn), _End(their_conn)
    process = ctx.Process(target=_peer_main, args=(theirs,), name=f"geyser-peer-{method}-{channel}", daemon=True)
    _start(process)
    if their_conn is not None:
        their_conn.close()  # the peer has its own
    p = _Peer(f"{method}/{channel}", mine, process)
    yield p
    p.stop()


# -- across processes ------------------------------------------------------------------------------

def test_texture_is_shared(peer, device):
    with device.create_shareable_texture(DESC) as texture:
        texture.upload(_texels(1))
        answer = peer.call("texture", texture, 2)
        assert answer["sha"] == _sha(_texels(1))
        assert answer["imported"] and answer["uuid"] == device.info.device_uuid
        # The peer's write, seen here: the same memory, not a copy.
        np.testing.assert_array_equal(texture.download(), _texels(2))


def test_texture_frames_through_its_timeline(peer, device):
    with device.create_shareable_texture(DESC) as texture:
        texture.timeline = device.create_shared_timeline()
        # Sent in one message, the timeline arrives once: the texture's timeline is the same object.
        peer.send("texture_frames", texture, texture.timeline, 4)
        texture.upload(_texels(3))
        device.signal_texture_ready(texture, 1)
        device.wait_for_texture(texture, 2, TIMEOUT)
        np.testing.assert_array_equal(texture.download(), _texels(4))
        answer = peer.answer()
        assert answer == {"sha": _sha(_texels(3)), "same_timeline": True}
        texture.timeline.close()


def test_buffer_is_shared(peer, device):
    with device.create_shareable_buffer(BUFFER_SIZE) as buffer:
        buffer.write(_bytes(5))
        answer = peer.call("buffer", buffer, 6)
        assert answer == {"sha": _sha(_bytes(5)), "imported": True}
        assert buffer.read() == _bytes(6)


@pytest.mark.parametrize("kind", ["portable", "vulkan"])
def test_timeline_round_trips(peer, device, kind):
    if kind == "vulkan" and "opaque_fd" not in device.info.timeline_semaphore_export:
        pytest.skip(f"{device.name!r} cannot export timeline semaphores")
    rounds = 20
    with device.create_shared_timeline(kind) as timeline:
        peer.send("timeline", timeline, rounds)
        for k in range(rounds):
            timeline.signal(2 * k + 1)
            timeline.wait(2 * k + 2, TIMEOUT)
        assert peer.answer() == {"kind": kind, "value": 2 * rounds}


def test_handles_round_trip(peer, device):
    with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer, \
            device.create_shared_timeline() as timeline:
        texture.upload(_texels(7))
        buffer.write(_bytes(8))
        with device.export_texture(texture) as th, device.export_buffer(buffer) as bh, device.export_timeline(timeline) as tlh:
            answer = peer.call("handles", th, bh, tlh, 9)
            # The parent's handles keep their own fds.
            assert min(th.fd, bh.fd, tlh.fd) >= 0
        assert answer == {"texture_sha": _sha(_texels(7)), "buffer_sha": _sha(_bytes(8))}
        timeline.wait(1, TIMEOUT)
        np.testing.assert_array_equal(texture.download(), _texels(9))


def test_objects_come_back_from_the_peer(peer, device):
    answer = peer.call("send_back", device.info.device_uuid, 10)
    with answer["texture"] as texture, answer["handle"] as handle, device.import_texture(handle) as imported:
        assert texture.imported
        np.testing.assert_array_equal(texture.download(), _texels(10))
        np.testing.assert_array_equal(imported.download(), _texels(10))


def _fill_and_exit(texture, buffer, seed):
    texture.upload(_texels(seed))
    buffer.write(_bytes(seed))
    texture.close()
    buffer.close()
    if geyser.validation_messages():
        raise SystemExit(f"validation messages: {geyser.validation_messages()}")


def test_spawned_process_arguments(device):
    # Arguments of a process being spawned travel with the fds the child inherits, not the
    # resource sharer; the parent holds its duplicates only as long as the Process object.
    ctx = multiprocessing.get_context("spawn")
    multiprocessing.resource_tracker.ensure_running()  # holds an fd for good once started
    with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer:
        before = _quiet_fd_count()
        process = ctx.Process(target=_fill_and_exit, args=(texture, buffer, 11))
        process.start()
        process.join(TIMEOUT)
        try:
            assert process.exitcode == 0
        finally:
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        del process
        gc.collect()
        assert _settled_fd_count(before) == before
        np.testing.assert_array_equal(texture.download(), _texels(11))
        assert buffer.read() == _bytes(11)


def _leak_peer(inbox, outbox, cycles):
    counts = []
    for i in range(cycles):
        texture, buffer = inbox.get(timeout=TIMEOUT)
        digest = _sha(texture.download())
        buffer.write(digest.encode())
        texture.timeline.signal(1)
        texture.timeline.close()
        texture.close()
        buffer.close()
        counts.append(_fd_count())
        outbox.put(i)
    messages = geyser.validation_messages()
    geyser.clear_validation_messages()
    outbox.put({"first": counts[0], "last": counts[-1], "validation": messages})


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_no_fd_leaks(device, method, request):
    if method == "fork" and request.getfixturevalue("fork_support"):
        pytest.skip(request.getfixturevalue("fork_support"))
    ctx = multiprocessing.get_context(method)
    # Started once, then held for good: the resource tracker (spawn) and the resource sharer's
    # listening socket.
    multiprocessing.resource_tracker.ensure_running()
    with device.create_shareable_texture(DESC) as texture:
        ForkingPickler.loads(ForkingPickler.dumps(texture)).close()
    before = _quiet_fd_count()

    inbox, outbox = ctx.Queue(), ctx.Queue()
    process = ctx.Process(target=_leak_peer, args=(inbox, outbox, LEAK_CYCLES), daemon=True)
    _start(process)
    try:
        for i in range(LEAK_CYCLES):
            with device.create_shareable_texture(DESC) as texture, \
                    device.create_shareable_buffer(BUFFER_SIZE) as buffer:
                texture.timeline = device.create_shared_timeline()
                texture.upload(_texels(i))
                inbox.put((texture, buffer))
                # Closed only once the child has them: the queue pickles in its feeder thread.
                assert outbox.get(timeout=TIMEOUT) == i
                texture.timeline.wait(1, TIMEOUT)
                texture.timeline.close()
                assert buffer.read(64) == _sha(_texels(i)).encode()
        answer = outbox.get(timeout=TIMEOUT)
        process.join(TIMEOUT)
        assert process.exitcode == 0
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        process.close()
        for q in (inbox, outbox):
            q.close()
            q.join_thread()
        # Queue.close() leaves the pipe ends this process never used open until the Queue goes.
        del inbox, outbox, q
    assert not answer["validation"]
    assert answer["last"] == answer["first"], f"the child leaked {answer['last'] - answer['first']} fds"
    gc.collect()
    assert _settled_fd_count(before) == before


def _inherited_report(device, texture, buffer, fence, semaphore) -> dict:
    # In a fork() child: every use of the parent's objects must raise UnsupportedOperationError
    # naming fork(); dropping them must not crash; a Device of the child's own behaves as the
    # driver allows (fork_support).
    ops = {
        "download": lambda: texture.download(),
        "upload": lambda: texture.upload(_texels(1)),
        "export_texture": lambda: device.export_texture(texture),
        "create_texture": lambda: device.create_shareable_texture(DESC),
        "buffer.write": lambda: buffer.write(b"x"),
        "buffer.read": lambda: buffer.read(8),
        "export_buffer": lambda: device.export_buffer(buffer),
        "fence.wait": lambda: fence.wait(0.0),
        "create_fence": lambda: device.create_fence(),
        "format_support": lambda: device.format_support("RGBA8_UNORM"),
        # The raw handles and the access protocol (docs/access.md): the parent's handles are no
        # use here, and a refusal comes before the command buffer is looked at.
        "vk_device": lambda: device.vk_device,
        "vk_queue": lambda: device.vk_queue,
        "queue_mutex": lambda: device.queue_mutex().__enter__(),
        "vk_image": lambda: texture.vk_image,
        "vk_buffer": lambda: buffer.vk_buffer,
        "texture.begin_access": lambda: texture.begin_access(0, 1, 1, 0),
        "texture.end_access": lambda: texture.end_access(0, 1, 1, 0),
        "buffer.begin_access": lambda: buffer.begin_access(0, 1, 0),
        "buffer.end_access": lambda: buffer.end_access(0, 1, 0),
    }
    if semaphore is not None:
        ops["semaphore.signal"] = lambda: semaphore.signal(2)
        ops["vk_semaphore"] = lambda: semaphore.vk_semaphore
    fds_before = _fd_count()
    refused, not_refused = refusals(ops)
    report = {"refused": refused, "not_refused": not_refused, "fds_opened": _fd_count() - fds_before}
    # Closing drops the child's references; the core frees nothing of the parent's.
    for obj in (texture, buffer, fence, semaphore):
        if obj is not None:
            obj.close()
    gc.collect()
    try:
        with geyser.Device(device.info.device_uuid) as own, own.create_shareable_texture(DESC) as t:
            t.upload(_texels(2))
            report["own_device"] = bool((t.download() == _texels(2)).all())
    except geyser.VulkanUnavailableError as e:
        report["own_device"] = str(e)
    return report


def test_forked_child_cannot_use_inherited_objects(device, fork_support):
    # Vulkan objects cannot cross fork(). Geyser says so in the child instead of calling the
    # driver with the parent's handles, and the parent's objects are untouched.
    with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer, \
            device.create_fence() as fence:
        semaphore = device.create_semaphore("timeline", 1) if device.info.timeline_semaphores else None
        texture.upload(_texels(7))
        buffer.write(b"parent")
        # run_forked fails the test if the child raised, hung, or did not exit with status 0.
        report = run_forked(lambda: _inherited_report(device, texture, buffer, fence, semaphore), TIMEOUT)
        assert "crashed" not in report, report
        assert report["not_refused"] == [], report
        assert report["fds_opened"] == 0, report
        assert len(report["refused"]) >= 10, report
        if fork_support:
            assert "forked after its parent had opened Vulkan" in report["own_device"], report
        else:
            assert report["own_device"] is True, report
        # The parent's objects still work.
        np.testing.assert_array_equal(texture.download(), _texels(7))
        assert buffer.read(6) == b"parent"
        assert not fence.signaled
        if semaphore is not None:
            semaphore.signal(2)
            assert semaphore.value == 2
            semaphore.close()


# -- in this process -------------------------------------------------------------------------------

def _round_trip(obj):
    return ForkingPickler.loads(ForkingPickler.dumps(obj))


def _some_fd() -> int:
    return os.open(os.devnull, os.O_RDONLY)


def _sync_payload(primitive: str, device, **extra) -> bytes:
    """A semaphore's (a timeline's) or a fence's wire encoding, as an export on this device would
    give it (tests/_handle_wire.py)."""
    fields = dict(
        primitive=_handle_wire.SEMAPHORE if primitive == "semaphore" else _handle_wire.FENCE,
        semaphore_type=_handle_wire.TIMELINE if primitive == "semaphore" else _handle_wire.BINARY,
        initial_value=3 if primitive == "semaphore" else 0,
        device_uuid=bytes.fromhex(device.info.device_uuid), driver_uuid=bytes.fromhex(device.info.driver_uuid))
    fields.update(extra)
    return _handle_wire.sync_handle(**fields)


PICKLABLE = {
    "Texture": lambda d: d.create_shareable_texture(DESC),
    "Buffer": lambda d: d.create_shareable_buffer(BUFFER_SIZE),
    "Timeline": lambda d: d.create_shared_timeline(),
    "TextureHandle": lambda d: d.export_texture(d.create_shareable_texture(DESC)),
    "BufferHandle": lambda d: d.export_buffer(d.create_shareable_buffer(BUFFER_SIZE)),
    "TimelineHandle": lambda d: d.export_timeline(d.create_shared_timeline()),
    # The driver here may export neither; a handle holds an fd and its description all the same.
    "SemaphoreHandle": lambda d: geyser.SemaphoreHandle.from_bytes(_sync_payload("semaphore", d), _some_fd()),
    "FenceHandle": lambda d: geyser.FenceHandle.from_bytes(_sync_payload("fence", d), _some_fd()),
}


@pytest.mark.parametrize("name", sorted(PICKLABLE))
def test_plain_pickle_refused(device, name):
    obj = PICKLABLE[name](device)
    try:
        assert type(obj) is getattr(geyser, name)
        for refuse in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError, match=rf"geyser\.{name} holds a file descriptor.*through multiprocessing"):
                refuse(obj)
    finally:
        obj.close()


@pytest.mark.parametrize("name", sorted(PICKLABLE))
def test_closed_refused(device, name):
    obj = PICKLABLE[name](device)
    obj.close()
    with pytest.raises(geyser.GeyserError, match="closed"):
        ForkingPickler.dumps(obj)


@pytest.mark.parametrize("primitive", ["semaphore", "fence"])
def test_sync_handles_round_trip(device, fd_count, primitive):
    cls = geyser.SemaphoreHandle if primitive == "semaphore" else geyser.FenceHandle
    with cls.from_bytes(_sync_payload(primitive, device), _some_fd()) as handle:
        with _round_trip(handle) as copy_:
            assert type(copy_) is cls and copy_.to_bytes() == handle.to_bytes()
            assert copy_.fd not in (-1, handle.fd)
            assert os.fstat(copy_.fd).st_ino == os.fstat(handle.fd).st_ino
    # A sync FD the exporter found already signalled has no fd to pass.
    signalled = _sync_payload(primitive, device, semaphore_type=_handle_wire.BINARY, initial_value=0,
                              handle_type=_handle_wire.SYNC_FD, already_signaled=True, permanent=False)
    before = fd_count()
    with _round_trip(cls.from_bytes(signalled, -1)) as copy_:
        assert copy_.fd == -1 and copy_.to_bytes() == signalled
    assert fd_count() == before


def test_imported_objects_refused(device, device2):
    with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer, \
            device.export_texture(texture) as th, device.export_buffer(buffer) as bh, \
            device2.import_texture(th) as imported_texture, device2.import_buffer(bh) as imported_buffer:
        for imported in (imported_texture, imported_buffer):
            what = type(imported).__name__
            with pytest.raises(geyser.UnsupportedOperationError, match=rf"cannot pickle this geyser\.{what}.*export"):
                ForkingPickler.dumps(imported)
            # A Pipe pickles in send(), so the error reaches the sender there.
            a, b = multiprocessing.Pipe()
            with a, b, pytest.raises(geyser.UnsupportedOperationError, match="cannot pickle"):
                a.send(imported)
        # What the message suggests instead: the handle it was imported from.
        with _round_trip(th) as again, device2.import_texture(again) as t2:
            assert t2.width == DESC.width


def test_unpickled_objects_go_to_the_open_device(device):
    # A process that has a Device open for the sender's GPU receives into it: what it receives
    # and what it made can be copied between (copies need one Device), and no second VkDevice opens.
    with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer:
        texture.upload(_texels(12))
        a, b = _round_trip((texture, buffer))
        assert a.device is device and b.device is device
        np.testing.assert_array_equal(a.download(), _texels(12))
        with device.create_shareable_texture(DESC) as mine:
            device.copy_texture(a, mine)
            np.testing.assert_array_equal(mine.download(), _texels(12))
        a.close()
        b.close()


def _receive_without_a_device(conn) -> None:
    """Spawned: receives objects with no Device of its own open and reports how they share one."""
    try:
        a, b = conn.recv()
        report = {"shared": a.device is b.device, "bytes": bool((a.download() == _texels(5)).all())}
        gone = weakref.ref(a.device)
        for obj in (a, b):
            obj.close()
        del obj
        gc.collect()
        report["released"] = gone() is None
        d = conn.recv()
        report["reopened"] = not d.device.closed and len(d.read()) == BUFFER_SIZE
        d.close()
        conn.send(report)
    except BaseException as e:  # noqa: BLE001 - reported to the test
        conn.send({"error": repr(e)})


def test_unpickled_objects_share_one_device_while_they_live(device):
    # With no Device open, the receiver opens one, shares it between what it receives while any of
    # it lives, and opens another once all of it is gone.
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_receive_without_a_device, args=(theirs,), daemon=True)
    _start(child)
    theirs.close()
    try:
        with device.create_shareable_texture(DESC) as texture, device.create_shareable_buffer(BUFFER_SIZE) as buffer:
            texture.upload(_texels(5))
            mine.send((texture, buffer))
            mine.send(buffer)
            assert mine.poll(TIMEOUT), "the receiving process did not answer"
            report = mine.recv()
        assert report == {"shared": True, "bytes": True, "released": True, "reopened": True}, report
    finally:
        child.join(TIMEOUT)
        if child.is_alive():
            child.kill()
            child.join()
        mine.close()
    assert child.exitcode == 0


def test_new_devices_open_after_the_fork_probe(device, fork_support):
    # After the fork probe's child (this test asks for it) and, run as a whole file, the spawn
    # peers: the sequence that on NVIDIA left this process's next vkCreateDevice blocked inside
    # the driver while the child still called into it (docs/hardware.md, runs 37-42; a regression
    # shows as this test hanging in geyser.Device()). Geyser now refuses such a child before
    # any driver call, with the advice; the parent keeps opening devices and sharing memory.
    if fork_support:
        assert "forked after its parent had opened Vulkan" in fork_support, fork_support
        assert "'spawn' or 'forkserver'" in fork_support, fork_support
    with device.create_shareable_texture(DESC) as texture:
        for seed in range(3):
            texture.upload(_texels(seed))
            with geyser.Device(device.info.device_uuid) as further, device.export_texture(texture) as handle, \
                    further.import_texture(handle) as imported:
                np.testing.assert_array_equal(imported.download(), _texels(seed))
