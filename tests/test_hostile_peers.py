"""Issue #14: hostile and broken peers, played with real processes and real sockets. No peer may
crash, corrupt, stall or impersonate another process.

The memory attacks run the victim in a process of its own (tests/_hostile_victim.py), so that a
crash shows as the signal that ended it rather than ending pytest. Each attack is made from what
a holder of a real export can read: the driver's own header, copied into a memfd of the
attacker's, with one thing changed."""

from __future__ import annotations

import fcntl
import gc
import json
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from multiprocessing import reduction

import numpy as np
import pytest

import geyser
import _hostile_victim
import _sender_wire
from geyser import _native
from geyser.sync import to_ns

DESC = geyser.TextureDescriptor(48, 20)
F_ADD_SEALS, F_GET_SEALS = 1033, 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW = 0x1, 0x2, 0x4
VICTIM = os.path.join(os.path.dirname(__file__), "_hostile_victim.py")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _name(tag: str) -> str:
    return f"h-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _is_memfd(fd: int) -> bool:
    return os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")


@pytest.fixture(scope="module")
def memfd_device(device):
    """The device, where its opaque FDs are memfds (lavapipe): the attacks below are on the file."""
    with device.export_buffer(device.create_shareable_buffer(256)) as h:
        if not _is_memfd(h.fd):
            pytest.skip(f"this driver's memory fds are {os.readlink(f'/proc/self/fd/{h.fd}')}, not memfds: "
                        "there is no file to attack (NVIDIA's are /dev/nvidiactl)")
    return device


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _forgery(real_fd: int, case: str) -> int:
    """A memfd made from the file of a real export, with the change `case` names."""
    data = os.pread(real_fd, os.fstat(real_fd).st_size, 0)
    if case == "short":  # 4096 bytes, described as the whole allocation
        data = data[:4096]
    elif case == "forged-offset":  # the data "at" 2^40: the driver's size check wraps
        data = data[:8] + struct.pack("<Q", 1 << 40) + data[16:]
    evil = os.memfd_create("hostile", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    _write_all(evil, data)
    if case != "unsealed":
        fcntl.fcntl(evil, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)
    return evil


def _victim(mode: str, arg: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, VICTIM, mode, arg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(__file__))


def _verdict(proc: subprocess.Popen, first: dict | None = None) -> dict:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"the victim died (exit {proc.returncode}): {err[-2000:]}"
    lines = ([json.dumps(first)] if first else []) + out.splitlines()
    result = json.loads(lines[-1])
    assert result["fds_leaked"] == 0, result
    return result


def _expect_refused(result: dict, words: str) -> None:
    assert result["outcome"] == "InvalidHandleError", result
    assert words in result["message"], result["message"]


WORDS = {"short": "reading past its end would die of SIGBUS", "unsealed": "not sealed against shrinking",
         "forged-offset": "puts the data at offset 1099511627776"}


# ---- memory fds through a channel ------------------------------------------------------------

@pytest.mark.parametrize("case", ["short", "unsealed", "forged-offset"])
def test_forged_memory_through_a_channel(memfd_device, tmp_path, case):
    device = memfd_device
    gc.collect()
    base = _fds()
    path = str(tmp_path / "c.sock")
    listener = geyser.Listener.bind(path)
    victim = _victim("channel", path)
    buffer = device.create_shareable_buffer(16384)
    buffer.write(bytes(range(256)) * 64)
    with device.export_buffer(buffer) as h:
        evil = _forgery(h.fd, case)
        ch = listener.accept(20)
        ch.send(_native.MESSAGE_MEMORY_HANDLE, h.to_bytes(), [evil])
    first = json.loads(victim.stdout.readline())
    if first.get("imported"):
        # Accepted: the hostile holder now truncates the file under the victim's mapping.
        if case == "unsealed":
            os.ftruncate(evil, 4096)
        victim.stdin.write("\n")
        victim.stdin.flush()
        first = None
    result = _verdict(victim, first)
    _expect_refused(result, WORDS[case])
    os.close(evil)
    ch.close()
    del listener, ch, buffer
    gc.collect()
    assert _fds() == base


def test_a_header_rewritten_after_the_import_does_not_corrupt_the_importers_free(memfd_device, tmp_path):
    """Mesa frees imported memory by the header in the shared file: a peer that rewrites the
    size it names and the offset kept before the data, after the import, would make the
    importer unmap 2^40 bytes of itself. The import keeps a duplicate of the fd and restores
    the header before it frees."""
    device = memfd_device
    path = str(tmp_path / "c.sock")
    listener = geyser.Listener.bind(path)
    victim = _victim("channel", path)
    buffer = device.create_shareable_buffer(16384)
    with device.export_buffer(buffer) as h:
        original = os.pread(h.fd, 4096, 0)
        ch = listener.accept(20)
        geyser.send_handle(ch, h)
        assert json.loads(victim.stdout.readline()) == {"imported": True}
        os.pwrite(h.fd, struct.pack("<Q", 1 << 40), 0)
        os.pwrite(h.fd, struct.pack("<Q", 8), 4096 - 8)
        victim.stdin.write("\n")
        victim.stdin.flush()
        try:
            assert _verdict(victim)["outcome"] == "read"
            assert os.pread(h.fd, 4096, 0) == original  # restored by the victim before its free
        finally:
            os.pwrite(h.fd, original, 0)  # this process frees the buffer by it too
    ch.close()


def test_geysers_exports_cannot_be_truncated(memfd_device):
    """Geyser's (and lavapipe's) exports carry F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL, so a
    receiver can require them and no holder can change the size or the seals."""
    device = memfd_device
    with device.export_texture(device.create_shareable_texture(DESC)) as h:
        seals = fcntl.fcntl(h.fd, F_GET_SEALS)
        assert seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL
        with pytest.raises(PermissionError):
            os.ftruncate(h.fd, 4096)


# ---- memory fds from a fake producer -----------------------------------------------------------

def _fake_producer(device, name: str, texture, ready, memory_fd: int | None = None, *,
                   info_name: str | None = None, pid: int | None = None, frames=(1,)):
    """Serves one subscription of `name` the way a hostile producer would: its SenderInfo says
    `info_name` and `pid`, its ring texture's fd is `memory_fd` (the real export's by default),
    and it announces `frames` in that order. Returns the thread and a holder of its error."""
    listener = _native.Listener.bind(_native.sender_socket_path(name))
    errors = []

    def serve():
        try:
            ch = listener.accept(to_ns(20))
            ch.receive(to_ns(10))
            ch.send(_native.MESSAGE_SENDER_INFO, _sender_wire.sender_info(
                info_name or name, os.getpid() if pid is None else pid, 1, DESC.width, DESC.height,
                texture.vk_format, int(DESC.format), int(DESC.usage), _sender_wire.PORTABLE, 0, 0,
                bytes.fromhex(device.info.device_uuid), bytes.fromhex(device.info.driver_uuid)), [])
            with device.export_texture(texture) as h:
                ch.send(_native.MESSAGE_MEMORY_HANDLE, h.to_bytes(), [h.fd if memory_fd is None else memory_fd])
            with device.export_timeline(ready) as th:  # protocol 2: the ready timeline only
                ch.send(_native.MESSAGE_TIMELINE_HANDLE,
                        _sender_wire.timeline_announce(_sender_wire.READY, _sender_wire.PORTABLE), [th.fd])
            ready.signal(max(frames))
            for n in frames:
                ch.send(_native.MESSAGE_FRAME, _sender_wire.frame(n, 0), [])
            ch.receive(to_ns(20))  # until the subscriber hangs up
        except geyser.GeyserError as e:  # the subscriber hung up on what it was sent
            errors.append(str(e))

    t = threading.Thread(target=serve)
    t.start()
    return t, listener, errors


@pytest.mark.parametrize("case", ["short", "forged-offset"])
def test_forged_memory_from_a_fake_producer(memfd_device, case):
    device = memfd_device
    gc.collect()
    base = _fds()
    name = _name(case)
    tex = device.create_shareable_texture(DESC)
    ready = device.create_shared_timeline("portable")
    with device.export_texture(tex) as h:
        evil = _forgery(h.fd, case)
    t, listener, _ = _fake_producer(device, name, tex, ready, evil)
    _expect_refused(_verdict(_victim("subscribe", name)), WORDS[case])
    t.join(20)
    os.close(evil)
    del tex, ready, listener, t
    gc.collect()
    assert _fds() == base


# ---- memory fds in a pickled Texture --------------------------------------------------------------

class _ForgedTexture:
    """Pickles as a Texture does (geyser.pickling), with the attacker's fd in place of the export's."""

    def __init__(self, payload: bytes, fd: int):
        self.payload, self.fd = payload, fd

    def __reduce__(self):
        from geyser import pickling
        return pickling._rebuild_texture, (self.payload, reduction.DupFd(self.fd), None)


@pytest.mark.parametrize("case", ["short", "forged-offset"])
def test_forged_memory_in_a_pickled_texture(memfd_device, case):
    device = memfd_device
    with device.export_texture(device.create_shareable_texture(DESC)) as h:
        evil = _forgery(h.fd, case)
        payload = h.to_bytes()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_hostile_victim.spawned, args=(theirs,))
    child.start()
    try:
        ours.send(_ForgedTexture(payload, evil))
        assert ours.poll(60), "the spawned child did not answer"
        result = ours.recv()
    finally:
        child.join(60)
        os.close(evil)
    assert child.exitcode == 0, f"the spawned child died (exit {child.exitcode})"
    assert result["fds_leaked"] == 0, result
    _expect_refused(result, WORDS[case])


# ---- a subscriber rewrites the producer's headers ---------------------------------------------------

_CONSUMER = """
import json, sys, numpy as np, geyser
from geyser.demo import pattern
dev = geyser.Device()
sub = geyser.Subscriber(dev, sys.argv[1], timeout=10)
print(json.dumps({"subscribed": True}), flush=True)
numbers, bad = [], 0
for _ in range(int(sys.argv[2])):
    with sub.next_frame(timeout=10) as f:
        bad += not np.array_equal(f.texture.download(), pattern(sub.info.descriptor.format, sub.info.width,
                                                              sub.info.height, f.number))
        numbers.append(f.number)
print(json.dumps({"numbers": numbers, "bad": bad}), flush=True)
"""


def _hostile_subscriber(name: str) -> list[int]:
    """Subscribes by speaking the protocol itself, and keeps the ring's fds."""
    ch = _native.Channel.connect(_native.sender_socket_path(name), to_ns(10))
    ch.send(_native.MESSAGE_HELLO, _sender_wire.hello(os.getpid()), [])
    _, info, _ = ch.receive(to_ns(10))
    ring_size = struct.unpack_from("<I", info, 2 + 4 + len(name) + 4)[0]
    fds = []
    for _ in range(ring_size + 1):  # the ring, then the ready timeline (protocol 2)
        _, _, got = ch.receive(to_ns(10))
        fds += got
    ch.close()
    for fd in fds[ring_size:]:
        os.close(fd)
    return fds[:ring_size]


def test_a_subscriber_that_rewrites_the_ring_headers_harms_nobody(memfd_device):
    from geyser.demo import pattern

    device = memfd_device
    name = _name("rewrite")
    with geyser.Sender(device, name, DESC, ring_size=2) as sender:
        ring = _hostile_subscriber(name)
        originals = [os.pread(fd, 32, 0) for fd in ring]
        for fd in ring:  # the data "at" 2^40, as the forged-offset attack
            os.pwrite(fd, struct.pack("<Q", 1 << 40), 8)
            os.close(fd)
        consumer = subprocess.Popen([sys.executable, "-c", _CONSUMER, name, "3"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        if consumer.stdout.readline():  # subscribed (an empty line: it died importing the ring)
            for _ in range(3):
                frame = sender.begin_frame(timeout=10)
                frame.texture.upload(pattern(DESC.format, DESC.width, DESC.height, frame.number))
                sender.end_frame(frame)
        out, err = consumer.communicate(timeout=60)
        assert consumer.returncode == 0, f"the next consumer died (exit {consumer.returncode}): {err[-2000:]}"
        assert json.loads(out.splitlines()[-1]) == {"numbers": [1, 2, 3], "bad": 0}
        # The producer's own files carry the driver's header again (what its free reads).
        now = []
        for texture in sender.ring:
            with device.export_texture(texture) as h:
                now.append(os.pread(h.fd, 32, 0))
        assert sorted(now) == sorted(originals)
        # Last, a subscriber rewrites what the producer's own free reads: the size its header
        # names and the offset kept before the data. Freeing the ring by them would unmap 2^40
        # bytes of this process.
        ring = _hostile_subscriber(name)
        for fd in ring:
            os.pwrite(fd, struct.pack("<Q", 1 << 40), 0)
            os.pwrite(fd, struct.pack("<Q", 8), 4096 - 8)
    del sender, frame
    gc.collect()  # the ring is freed here, and this process lives on
    assert sorted(os.pread(fd, 32, 0) for fd in ring) == sorted(originals)
    for fd in ring:
        os.close(fd)


# ---- identity -------------------------------------------------------------------------------------

@pytest.mark.parametrize("lie", ["name", "pid"])
def test_a_sender_that_is_not_who_it_says_is_refused(device, lie):
    gc.collect()
    base = _fds()
    name = _name("who")
    tex = device.create_shareable_texture(DESC)
    ready = device.create_shared_timeline("portable")
    kw = {"info_name": "cam-trusted"} if lie == "name" else {"pid": 1}
    t, listener, _ = _fake_producer(device, name, tex, ready, **kw)
    with pytest.raises(geyser.ProtocolError, match="not who it says") as e:
        geyser.Subscriber(device, name, timeout=5)
    assert ("calls itself 'cam-trusted'" if lie == "name" else "claims pid 1, but the process listening there is pid "
            + str(os.getpid())) in str(e.value)
    t.join(20)

    # The directory asks the same socket: it does not list it, and query_sender refuses it.
    def serve_info(listener):
        try:
            ch = listener.accept(to_ns(10))
            ch.receive(to_ns(10))
            ch.send(_native.MESSAGE_SENDER_INFO, _sender_wire.sender_info(
                kw.get("info_name", name), kw.get("pid", os.getpid()), 1, DESC.width, DESC.height, tex.vk_format,
                int(DESC.format), int(DESC.usage), _sender_wire.PORTABLE, 0, 0,
                bytes.fromhex(device.info.device_uuid), bytes.fromhex(device.info.driver_uuid)), [])
            ch.receive(to_ns(10))
        except geyser.PeerGoneError:  # the asker hung up once it had refused the answer
            pass

    for ask in (lambda: geyser.query_sender(name, timeout=5), lambda: geyser.list_senders(timeout=5)):
        s = threading.Thread(target=lambda: serve_info(listener))
        s.start()
        try:
            try:
                listed = ask()
            except geyser.ProtocolError as err:
                assert "not who it says" in str(err)
            else:
                assert all(i.name not in (name, "cam-trusted") for i in listed), listed
        finally:
            s.join(20)
    del listener, tex, ready, e
    gc.collect()
    assert _fds() == base


# ---- frame numbers --------------------------------------------------------------------------------

def test_frames_that_go_backwards_break_the_subscription(device):
    name = _name("backwards")
    tex = device.create_shareable_texture(DESC)
    ready = device.create_shared_timeline("portable")
    t, listener, _ = _fake_producer(device, name, tex, ready, frames=(3, 2, 2, 1))
    sub = geyser.Subscriber(device, name, timeout=5)
    try:
        with sub.next_frame(timeout=5) as f:
            assert f.number == 3
        with pytest.raises(geyser.ProtocolError, match="announced frame 2 after frame 3: frame numbers must increase"):
            sub.next_frame(timeout=5)
        with pytest.raises(geyser.ProtocolError, match="after frame 3"):  # broken for good
            sub.next_frame(timeout=5)
    finally:
        sub.close()
        t.join(20)


# ---- other refusals -------------------------------------------------------------------------------

def test_an_o_path_fd_is_not_a_timeline(device, fd_count):
    timeline = device.create_shared_timeline("portable")
    with device.export_timeline(timeline) as th:
        payload = th.to_bytes()
        opath = os.open(f"/proc/self/fd/{th.fd}", os.O_PATH | os.O_CLOEXEC)
    before = fd_count()
    with geyser.TimelineHandle.from_bytes(payload, opath) as handle:
        with pytest.raises(geyser.InvalidHandleError, match="O_PATH"):
            device.import_timeline(handle)
    assert fd_count() == before - 1  # from_bytes took the O_PATH fd, and closing the handle closed it


class _Detachable:
    def __init__(self, fd):
        self.fd = fd

    def detach(self):
        return self.fd


@pytest.mark.parametrize("uuid", [5, None, b"\x00" * 16, "not-hex"])
def test_a_rebuilt_timeline_with_a_uuid_that_is_not_one(device, fd_count, uuid):
    from geyser import pickling

    timeline = device.create_shared_timeline("portable")
    with device.export_timeline(timeline) as th:
        payload, fd = th.to_bytes(), os.dup(th.fd)
    before = fd_count()
    with pytest.raises(geyser.InvalidHandleError, match="device UUID"):
        pickling._rebuild_timeline(uuid, payload, _Detachable(fd))
    assert fd_count() == before - 1  # the fd that travelled is closed


def test_a_width_of_2_to_the_32(device):
    with pytest.raises(geyser.InvalidArgumentError, match="width 4294967296 is not a 32-bit unsigned value"):
        geyser.TextureDescriptor(2 ** 32, 1)


# ---- privilege ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o777, 0o750, 0o701])
def test_a_runtime_dir_others_can_reach_is_not_used(tmp_path, monkeypatch, mode):
    shared = tmp_path / "xdg"
    shared.mkdir()
    shared.chmod(mode)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert geyser.runtime_dir() == f"/tmp/geyser-{os.geteuid()}"
    shared.chmod(0o700)
    assert geyser.runtime_dir() == str(shared / "geyser")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a listener as another uid")
def test_a_listener_of_another_user_is_not_our_sender(device, monkeypatch):
    import pathlib
    import shutil
    import tempfile

    name = _name("other-uid")
    # Both directories on one filesystem, so the socket can be moved from theirs into ours.
    ours = pathlib.Path(tempfile.mkdtemp(prefix="geyser-xdg-"))
    theirs = pathlib.Path(tempfile.mkdtemp(prefix="geyser-other-uid-"))
    os.chown(theirs, 65534, 65534)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(ours))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child: another user's process listening
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.bind(str(theirs / "s.sock"))
            s.listen()
            os.write(w, b"1")
            time.sleep(30)
        finally:
            os._exit(0)
    try:
        os.close(w)
        assert os.read(r, 1) == b"1"
        os.rename(theirs / "s.sock", _native.sender_socket_path(name))  # as a swapped directory would
        for ask in (lambda: geyser.Subscriber(device, name, timeout=2), lambda: geyser.query_sender(name, timeout=2)):
            with pytest.raises(geyser.GeyserOSError, match="served by uid 65534"):
                ask()
        assert name not in [i.name for i in geyser.list_senders(timeout=1)]
    finally:
        os.close(r)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        shutil.rmtree(ours)
        shutil.rmtree(theirs)


# ---- listing --------------------------------------------------------------------------------------

def test_listing_over_junk_is_bounded_by_one_deadline(device, tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    junk_dir = geyser.runtime_dir()
    held = []
    for i in range(15):  # stale sockets of crashed producers: bound, then closed
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(os.path.join(junk_dir, f"stale-{i}.sock"))
        s.close()
    for i in range(15):  # files that are no sockets at all
        open(os.path.join(junk_dir, f"file-{i}.sock"), "w").close()
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # listens, never answers
    silent.bind(os.path.join(junk_dir, "silent.sock"))
    silent.listen(64)
    held.append(silent)
    name = _name("listed")
    with geyser.Sender(device, name, DESC, ring_size=1):
        start = time.monotonic()
        listed = geyser.list_senders(timeout=0.5)
        took = time.monotonic() - start
    assert [i.name for i in listed] == [name]
    assert took < 2.0, f"list_senders(timeout=0.5) over 31 junk entries took {took:.1f} s"
    silent.close()
