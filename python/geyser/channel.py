"""Single handles over a connected Unix-socket channel (the original project's send_handle /
receive_handle). The channel, its wire format, its checks and both functions are the core's
(``geyser/channel.hpp``): fds travel with SCM_RIGHTS, every received fd is closed on any error,
and a dead peer raises PeerGoneError. Every handle type travels: textures, buffers, semaphores,
fences and timelines. Timeouts are in seconds, as everywhere in Geyser.

    a, b = geyser.Channel.pair()                  # or Listener.bind(path) / Channel.connect(path)
    geyser.send_handle(a, device.export_texture(texture))
    handle = geyser.receive_handle(b, timeout=5)  # a TextureHandle owning a new fd
"""

from __future__ import annotations

from typing import Sequence

from . import _native
from .errors import InvalidArgumentTypeError, InvalidHandleError
from .memory import BufferHandle, TextureHandle
from .sync import DEFAULT_TIMEOUT, FenceHandle, SemaphoreHandle, to_ns
from .timeline import TimelineHandle

__all__ = ["Channel", "Listener", "send_handle", "receive_handle", "runtime_dir"]


def runtime_dir() -> str:
    """The directory Geyser's sockets live in ($XDG_RUNTIME_DIR/geyser, else a private one in /tmp)."""
    return _native.runtime_dir()


class Channel:
    """One end of a connected Unix-socket channel (the core's ``geyser::Channel``).

    Make a connected pair with ``Channel.pair()``, or connect to a ``Listener``'s path with
    ``Channel.connect(path)``. ``send_handle``/``receive_handle`` carry handles over it;
    ``send``/``receive`` carry raw wire messages. A context manager: leaving the block closes it.
    """

    def __init__(self, native: _native.Channel):
        if not isinstance(native, _native.Channel):
            raise InvalidArgumentTypeError("make a Channel with Channel.pair(), Channel.connect() or Listener.accept()")
        self._native: _native.Channel | None = native

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        """Two connected ends (a socketpair), e.g. for a child process."""
        a, b = _native.Channel.pair()
        return cls(a), cls(b)

    @classmethod
    def connect(cls, path: str, timeout: float = DEFAULT_TIMEOUT) -> Channel:
        """Connects to the Listener bound at ``path``, waiting up to ``timeout`` seconds for it."""
        return cls(_native.Channel.connect(str(path), to_ns(timeout)))

    @property
    def native(self) -> _native.Channel:
        """The binding's channel; InvalidHandleError once closed."""
        if self._native is None:
            raise InvalidHandleError("this Channel is closed")
        return self._native

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native is None

    def send(self, type: int, payload: bytes, fds: Sequence[int] = (), timeout: float = DEFAULT_TIMEOUT) -> None:
        """Sends one raw message of the wire format: a message type, its payload and fds (which
        the kernel duplicates; the caller keeps them)."""
        self.native.send(int(type), bytes(payload), [int(fd) for fd in fds], to_ns(timeout))

    def receive(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, bytes, list[int]]:
        """The next raw message as ``(type, payload, fds)``; the caller owns and must close the fds.
        TimeoutError after ``timeout`` seconds, PeerGoneError when the peer has hung up."""
        return self.native.receive(to_ns(timeout))

    @property
    def peer_pid(self) -> int:
        """The pid of the process on the other end (SO_PEERCRED)."""
        return self.native.peer_pid()

    @property
    def peer_uid(self) -> int:
        """The user id of the process on the other end (SO_PEERCRED)."""
        return self.native.peer_uid()

    def fileno(self) -> int:
        """The socket's fd, for ``select``/``poll`` (borrowed: do not close it)."""
        return self.native.fileno()

    def close(self) -> None:
        """Closes this end; the peer's next receive raises PeerGoneError. Idempotent."""
        if self._native is not None:
            self._native.close()
            self._native = None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._native is None:
            return "<geyser.Channel closed>"
        return f"<geyser.Channel fd={self._native.fileno()} peer_pid={self._native.peer_pid()}>"


class Listener:
    """A Unix socket bound at a path that accepts Channels (the core's ``geyser::Listener``).

    ``close()`` (or leaving a ``with`` block) stops listening and unlinks the socket. Only this
    user's processes may connect unless ``allow_other_users``.
    """

    def __init__(self, native: _native.Listener):
        if not isinstance(native, _native.Listener):
            raise InvalidArgumentTypeError("make a Listener with Listener.bind(path)")
        self._native: _native.Listener | None = native
        self._path = native.path

    @classmethod
    def bind(cls, path: str, allow_other_users: bool = False) -> Listener:
        """Listens at ``path`` (a stale socket there is replaced)."""
        return cls(_native.Listener.bind(str(path), bool(allow_other_users)))

    @property
    def native(self) -> _native.Listener:
        """The binding's listener; InvalidHandleError once closed."""
        if self._native is None:
            raise InvalidHandleError("this Listener is closed")
        return self._native

    @property
    def path(self) -> str:
        """The socket's path."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native is None

    def accept(self, timeout: float = DEFAULT_TIMEOUT) -> Channel:
        """The next connecting peer's Channel; TimeoutError after ``timeout`` seconds."""
        return Channel(self.native.accept(to_ns(timeout)))

    def fileno(self) -> int:
        """The listening socket's fd, for ``select``/``poll`` (borrowed: do not close it)."""
        return self.native.fileno()

    def close(self) -> None:
        """Stops listening and unlinks the socket. Idempotent."""
        self._native = None

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<geyser.Listener {self._path!r}{' closed' if self._native is None else ''}>"


_HANDLES = (TextureHandle, BufferHandle, SemaphoreHandle, FenceHandle, TimelineHandle)


def _channel_native(channel: Channel) -> _native.Channel:
    if isinstance(channel, Channel):
        return channel.native
    raise InvalidArgumentTypeError(f"expected a geyser.Channel, got {type(channel).__name__}")


def send_handle(channel: Channel,
                handle: TextureHandle | BufferHandle | SemaphoreHandle | FenceHandle | TimelineHandle,
                timeout: float = DEFAULT_TIMEOUT) -> None:
    """Sends any handle (texture, buffer, semaphore, fence or timeline); the handle keeps its fd
    (the kernel duplicates it). An already-signalled sync FD travels without one."""
    if not isinstance(handle, _HANDLES):
        raise InvalidArgumentTypeError(f"expected a geyser handle ({', '.join(c.__name__ for c in _HANDLES)}), "
                                       f"got {type(handle).__name__}")
    _native.send_handle(_channel_native(channel), handle.native, to_ns(timeout))


def receive_handle(channel: Channel, timeout: float = DEFAULT_TIMEOUT
                   ) -> TextureHandle | BufferHandle | SemaphoreHandle | FenceHandle | TimelineHandle:
    """The next handle on ``channel``, owning the fd that came with it: a TextureHandle,
    BufferHandle, SemaphoreHandle, FenceHandle or TimelineHandle, whichever was sent.

    ProtocolError for any other message (its fds are closed), TimeoutError, PeerGoneError.
    """
    native = _native.receive_handle(_channel_native(channel), to_ns(timeout))
    if isinstance(native, _native.MemoryHandle):
        return (TextureHandle if native.kind == _native.ResourceKind.TEXTURE else BufferHandle)(native)
    if isinstance(native, _native.SyncHandle):
        return (SemaphoreHandle if native.primitive == _native.SyncPrimitive.SEMAPHORE else FenceHandle)(native)
    return TimelineHandle._wrap(native)
