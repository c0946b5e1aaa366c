"""send_handle / receive_handle over real Unix sockets, in one process and across two."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

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


def test_bad_messages_are_refused_and_their_fds_closed(device):
    a, b = geyser.Channel.pair()
    before = _fd_count()
    r, w = os.pipe()
    a.send(_native.MESSAGE_FRAME, b"12345678", [r])  # a message that is not a handle, with an fd
    with pytest.raises(geyser.ProtocolError, match="expected a memory handle"):
        geyser.receive_handle(b, timeout=5)
    a.send(_native.MESSAGE_MEMORY_HANDLE, b"\x01\x00\x00", [r])  # a truncated description
    with pytest.raises(geyser.ProtocolError):
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
    ch = geyser.Channel.connect(sys.argv[1], 10 * 10**9)
    with dev.export_texture(tex) as h:
        geyser.send_handle(ch, h)
    try:
        ch.receive(10 * 10**9)  # wait for the parent to hang up
    except geyser.PeerGoneError:
        pass
    """
)


def test_handle_across_processes_through_a_listener(device, tmp_path):
    path = os.path.join(geyser.runtime_dir(), f"test-channel-{os.getpid()}.sock")
    listener = geyser.Listener.bind(path)
    proc = subprocess.Popen([sys.executable, "-c", _SENDER, path], stderr=subprocess.PIPE, text=True)
    try:
        ch = listener.accept(10 * 10**9)
        assert ch.peer_pid() == proc.pid
        with geyser.receive_handle(ch, timeout=10) as h:
            tex = device.import_texture(h)
        assert (tex.download() == 42).all()
        ch.close()
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    del listener
    assert not os.path.exists(path)
