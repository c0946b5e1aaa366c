"""Single handles over a connected Unix-socket channel (the original project's send_handle /
receive_handle). The channel, its wire format and its checks are the core's
(``geyser/channel.hpp``): fds travel with SCM_RIGHTS, every received fd is closed on any error,
and a dead peer raises PeerGoneError.

    a, b = geyser.Channel.pair()                  # or Listener.bind(path) / Channel.connect(path)
    geyser.send_handle(a, device.export_texture(texture))
    handle = geyser.receive_handle(b, timeout=5)  # a TextureHandle owning a new fd
"""

from __future__ import annotations

import os

from . import _native
from .errors import ProtocolError
from .memory import BufferHandle, TextureHandle
from .sync import to_ns

__all__ = ["Channel", "Listener", "send_handle", "receive_handle", "runtime_dir"]

Channel = _native.Channel
Listener = _native.Listener
runtime_dir = _native.runtime_dir


def send_handle(channel, handle, timeout: float = 10.0) -> None:
    """Sends a TextureHandle or BufferHandle; the handle keeps its fd (the kernel duplicates it)."""
    if not isinstance(handle, (TextureHandle, BufferHandle)):
        raise TypeError(f"expected a TextureHandle or BufferHandle, got {type(handle).__name__}")
    channel.send(_native.MESSAGE_MEMORY_HANDLE, _native.encode_memory_handle(handle.native), [handle.fd],
                 to_ns(timeout))


def receive_handle(channel, timeout: float = 10.0):
    """The next handle on ``channel``: a TextureHandle or BufferHandle owning the received fd.

    ProtocolError for any other message (its fds are closed), TimeoutError, PeerGoneError.
    """
    msg_type, payload, fds = channel.receive(to_ns(timeout))
    if msg_type != _native.MESSAGE_MEMORY_HANDLE or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise ProtocolError(f"expected a memory handle with one fd, got message type {msg_type} with {len(fds)} fds")
    native = _native.decode_memory_handle(payload, fds[0])  # owns the fd from here, on success or failure
    return (TextureHandle if native.kind == _native.ResourceKind.TEXTURE else BufferHandle)(native)
