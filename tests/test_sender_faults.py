"""A Sender that fails half way through publishing leaves nothing half-published.

``Sender(...)`` allocates its ring, creates its "frame ready" timeline, binds its socket and
starts its service thread, in that order; a subscriber's handshake exports the ring and the
timeline. Each test makes one step fail (by a real cause where one can be forced
here: a timeline kind the device cannot export, a name another sender holds, a socket path the
kernel refuses) and checks
that, while the exception is still alive (a traceback keeps the failed constructor's frame, so
release must not wait for the garbage collector), there is no socket file, nothing listed by
``list_senders()``, no fd more than before, and that the name can be published again.

The steps no real cause can make fail here (the service thread not starting, a handshake failing
half way through the ring) are forced by the core's fault injection
in tests/cpp/test_faults.cpp (SenderFaults.*), since the producer is the core's.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import types

import pytest

import geyser
from geyser import _native
from geyser import sender as sender_module
from geyser.demo import pattern

DESC = geyser.TextureDescriptor(32, 8)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _name(tag: str) -> str:
    return f"fault-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _nothing_published(name: str) -> None:
    assert not os.path.lexists(_native.sender_socket_path(name)), "a socket file was left behind"
    assert name not in [s.name for s in geyser.list_senders()]
    with pytest.raises(geyser.PeerGoneError):
        geyser.Subscriber(geyser.Device(), name, timeout=0.2)


def _publishes_again(device, name: str) -> None:
    with geyser.Sender(device, name, DESC, ring_size=2) as again:
        sub = geyser.Subscriber(device, name, timeout=5)
        again.publish(pattern(DESC.format, DESC.width, DESC.height, 1))
        with sub.next_frame(timeout=5) as f:
            assert f.number == 1
        sub.close()


def _settle(base: int) -> int:
    """The fd count, once it is back to ``base`` or 2 s have passed (the sender's accept thread
    finishes a failed handshake just after the subscriber has seen the hang-up)."""
    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()
        if _fds() == base or time.monotonic() > deadline:
            return _fds()
        time.sleep(0.01)


@pytest.fixture
def baseline():
    gc.collect()
    return _fds()


def test_timeline_the_device_cannot_export(device, baseline):
    """The ring is allocated, then the 'frame ready' timeline cannot be created."""
    if "opaque_fd" in device.info.timeline_semaphore_export:
        pytest.skip(f"{device.name} can export timeline semaphores: sync='vulkan' does not fail here")
    name = _name("sync")
    with pytest.raises(geyser.UnsupportedOperationError) as err:
        geyser.Sender(device, name, DESC, ring_size=4, sync="vulkan")
    assert _fds() == baseline, "the ring's textures outlived the failed constructor"
    _nothing_published(name)
    del err
    _publishes_again(device, name)
    gc.collect()
    assert _fds() == baseline


def test_name_held_by_a_live_sender(device, baseline):
    """Ring and timeline are made, then bind finds the name in use: the live sender is untouched."""
    name = _name("taken")
    with geyser.Sender(device, name, DESC, ring_size=2) as live:
        gc.collect()
        base = _fds()
        with pytest.raises(geyser.GeyserOSError, match="in use") as err:
            geyser.Sender(device, name, DESC, ring_size=3)
        # The failed constructor probed the name by connecting to the live sender, whose accept
        # thread holds that connection until it sees it close: give it a moment.
        deadline = time.monotonic() + 2
        while _fds() != base and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _fds() == base, "the failed sender's ring or timeline outlived its constructor"
        del err
        # The failed one must not have unlinked or replaced the live sender's socket.
        assert geyser.query_sender(name).producer_pid == os.getpid()
        sub = geyser.Subscriber(device, name, timeout=5)
        live.publish(pattern(DESC.format, DESC.width, DESC.height, 1))
        with sub.next_frame(timeout=5) as f:
            assert f.number == 1 and sub.info.ring_size == 2
        sub.close()
    _nothing_published(name)
    del live, sub, f  # a closed Sender keeps its ring until it is dropped
    gc.collect()
    assert _fds() == baseline


def test_socket_path_the_kernel_refuses(device, baseline, tmp_path, monkeypatch):
    """A runtime directory so deep that the socket path exceeds sockaddr_un: bind fails."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    name = _name("long")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert geyser.runtime_dir().startswith(str(deep))
    with pytest.raises(geyser.GeyserError) as err:
        geyser.Sender(device, name, DESC, ring_size=3)
    assert _fds() == baseline, "the failed sender's ring or timeline outlived its constructor"
    assert not any(p.name.startswith(name) for p in (deep / "geyser").iterdir())
    del err
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    _nothing_published(name)
