"""Single handles over a connected Unix-socket channel (the original project's send_handle /
receive_handle). The channel, its wire format, its checks and both functions are the core's
(``geyser/channel.hpp``): fds travel with SCM_RIGHTS, every received fd is closed on any error,
and a dead peer raises PeerGoneError. Every handle type travels: textures, buffers, semaphores,
fences and timelines.

    a, b = geyser.Channel.pair()                  # or Listener.bind(path) / Channel.connect(path)
    geyser.send_handle(a, device.export_texture(texture))
    handle = geyser.receive_handle(b, timeout=5)  # a TextureHandle owning a new fd
"""

from __future__ import annotations

from . import _native
from .errors import InvalidArgumentTypeError
from .memory import BufferHandle, TextureHandle
from .sync import FenceHandle, SemaphoreHandle, to_ns
from .timeline import TimelineHandle

__all__ = ["Channel", "Listener", "send_handle", "receive_handle", "runtime_dir"]

Channel = _native.Channel
Listener = _native.Listener
runtime_dir = _native.runtime_dir

_HANDLES = (TextureHandle, BufferHandle, SemaphoreHandle, FenceHandle, TimelineHandle)


def send_handle(channel, handle, timeout: float = 10.0) -> None:
    """Sends any handle (texture, buffer, semaphore, fence or timeline); the handle keeps its fd
    (the kernel duplicates it). An already-signalled sync FD travels without one."""
    if not isinstance(handle, _HANDLES):
        raise InvalidArgumentTypeError(f"expected a geyser handle ({', '.join(c.__name__ for c in _HANDLES)}), "
                        f"got {type(handle).__name__}")
    _native.send_handle(channel, handle.native, to_ns(timeout))


def receive_handle(channel, timeout: float = 10.0):
    """The next handle on ``channel``, owning the fd that came with it: a TextureHandle,
    BufferHandle, SemaphoreHandle, FenceHandle or TimelineHandle, whichever was sent.

    ProtocolError for any other message (its fds are closed), TimeoutError, PeerGoneError.
    """
    native = _native.receive_handle(channel, to_ns(timeout))
    if isinstance(native, _native.MemoryHandle):
        return (TextureHandle if native.kind == _native.ResourceKind.TEXTURE else BufferHandle)(native)
    if isinstance(native, _native.SyncHandle):
        return (SemaphoreHandle if native.primitive == _native.SyncPrimitive.SEMAPHORE else FenceHandle)(native)
    return TimelineHandle._wrap(native)
