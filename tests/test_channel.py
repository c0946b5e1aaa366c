"""send_handle / receive_handle over real Unix sockets, in one process and across two."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import _handle_wire
import geyser
from geyser import _native


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_texture_and_buffer_handles_round_trip(device):
    a, b = geyser.Channel.pair()
    tex = device.create_shareable_texture(geyser.TextureDescriptor(13, 5))
    data = np.random.default_rng(5).integers(0, 256, (5, 13, 4), np.uint8)
    tex.upload(data)
    buf = device.create_shareable_buffer(77)
    buf.write(bytes(range(77)))
    with device.export_texture(tex) as th, device.export_buffer(buf) as bh:
        geyser.send_handle(a, th)
        geyser.send_handle(a, bh)
    with geyser.receive_handle(b, timeout=5) as got_t, geyser.receive_handle(b, timeout=5) as got_b:
        assert isinstance(got_t, geyser.TextureHandle) and isinstance(got_b, geyser.BufferHandle)
        assert np.array_equal(device.import_texture(got_t).download(), data)
        assert device.import_buffer(got_b).read() == bytes(range(77))


def test_every_handle_type_round_trips(device, fd_count):
    # A timeline of the kind this driver exports, and a semaphore and a fence as a driver that can
    # export them would describe them (lavapipe exports neither; a handle is an fd and its bytes).
    uuids = {"device_uuid": bytes.fromhex(device.info.device_uuid),
             "driver_uuid": bytes.fromhex(device.info.driver_uuid)}
    semaphore = _handle_wire.sync_handle(semaphore_type=_handle_wire.TIMELINE, initial_value=5, **uuids)
    signalled_fence = _handle_wire.sync_handle(primitive=_handle_wire.FENCE, handle_type=_handle_wire.SYNC_FD,
                                               already_signaled=True, permanent=False, **uuids)
    a, b = geyser.Channel.pair()
    timeline = device.create_shared_timeline(initial_value=4)
    before = fd_count()
    with device.export_timeline(timeline) as th, \
            geyser.SemaphoreHandle.from_bytes(semaphore, os.memfd_create("semaphore")) as sh, \
            geyser.FenceHandle.from_bytes(signalled_fence, -1) as fh:
        sent = [th, sh, fh]
        for h in sent:
            geyser.send_handle(a, h)
        got = [geyser.receive_handle(b, timeout=5) for _ in sent]
        for mine, theirs in zip(sent, got):
            assert type(theirs) is type(mine) and theirs.to_bytes() == mine.to_bytes()
            if mine.fd >= 0:
                assert theirs.fd not in (-1, mine.fd)
                assert os.fstat(theirs.fd).st_ino == os.fstat(mine.fd).st_ino
        assert got[2].fd == -1 and got[2].already_signaled  # travelled without an fd
        with got[0], device.import_timeline(got[0]) as imported:
            assert imported.kind == timeline.kind and imported.value == 4
        for h in got[1:]:
            h.close()
    assert fd_count() == before


def test_bad_messages_are_refused_and_their_fds_closed(device):
    a, b = geyser.Channel.pair()
    before = _fd_count()
    r, w = os.pipe()
    a.send(_native.MESSAGE_FRAME, b"12345678", [r])  # a message that is not a handle, with an fd
    with pytest.raises(geyser.ProtocolError, match="expected a handle message"):
        geyser.receive_handle(b, timeout=5)
    a.send(_native.MESSAGE_MEMORY_HANDLE, b"\x01\x00\x00", [r])  # a truncated description
    with pytest.raises(geyser.ProtocolError):
        geyser.receive_handle(b, timeout=5)
    a.send(_native.MESSAGE_SYNC_HANDLE, b"\x01\x00\x00", [r])
    with pytest.raises(geyser.ProtocolError, match="sync_handle"):
        geyser.receive_handle(b, timeout=5)
    a.send(_native.MESSAGE_TIMELINE_HANDLE, b"\x07", [r])
    with pytest.raises(geyser.ProtocolError, match="unknown timeline kind 7"):
        geyser.receive_handle(b, timeout=5)
    os.close(r)
    os.close(w)
    assert _fd_count() == before
    with pytest.raises(TypeError):
        geyser.send_handle(a, "not a handle")


def test_timeout_and_dead_peer(device):
    a, b = geyser.Channel.pair()
    start = time.monotonic()
    with pytest.raises(geyser.TimeoutError):
        geyser.receive_handle(b, timeout=0.2)
    assert time.monotonic() - start < 2
    a.close()
    with pytest.raises(geyser.PeerGoneError):
        geyser.receive_handle(b, timeout=5)


_SENDER = textwrap.dedent(
    """
    import sys, numpy as np, geyser
    dev = geyser.Device()
    tex = dev.create_shareable_texture(geyser.TextureDescriptor(9, 4))
    tex.upload(np.full((4, 9, 4), 42, np.uint8))
    ch = geyser.Channel.connect(sys.argv[1], timeout=10)
    with dev.export_texture(tex) as h:
        geyser.send_handle(ch, h)
    try:
        ch.receive(timeout=10)  # wait for the parent to hang up
    except geyser.PeerGoneError:
        pass
    """
)


def test_handle_across_processes_through_a_listener(device, tmp_path):
    path = os.path.join(geyser.runtime_dir(), f"test-channel-{os.getpid()}.sock")
    listener = geyser.Listener.bind(path)
    proc = subprocess.Popen([sys.executable, "-c", _SENDER, path], stderr=subprocess.PIPE, text=True)
    try:
        ch = listener.accept(timeout=10)
        assert ch.peer_pid == proc.pid
        with geyser.receive_handle(ch, timeout=10) as h:
            tex = device.import_texture(h)
        assert (tex.download() == 42).all()
        ch.close()
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    del listener
    assert not os.path.exists(path)
