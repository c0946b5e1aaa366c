"""Shared timelines: "frame N is ready" across processes, on any Vulkan driver.

A ``Timeline`` is either a Vulkan timeline semaphore (``kind == "vulkan"``: the GPU itself waits
and signals, no CPU round trip) or Geyser's portable timeline (``kind == "portable"``: a 64-bit
counter in a sealed memfd with futex wake-up, for drivers such as lavapipe that cannot export
semaphores). Both have the same interface: ``value``, ``signal(value)``, ``wait(value,
timeout)``; ``Device.create_shared_timeline`` picks one and says which, ``Device.export_timeline``
and ``Device.import_timeline`` carry it to another process. It is the core's ``geyser::Timeline``.

GPU ordering: Geyser's copy operations take ``wait=[(timeline, value)]`` and
``signal=[(timeline, value)]``. A Vulkan timeline is waited and signalled by the GPU. A portable
one is waited on the host before the work is submitted and signalled after the work has
completed (Geyser's operations wait for their own completion), so the order is the same.
"""

from __future__ import annotations

from . import _native
from ._owner import NativeOwner
from .errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidHandleError
from .sync import DEFAULT_TIMEOUT, Semaphore, SemaphoreHandle, _u64, to_ns

__all__ = ["Timeline", "TimelineHandle"]

_KIND_NAMES = {_native.TimelineKind.VULKAN: "vulkan", _native.TimelineKind.PORTABLE: "portable"}
_CHOICES = {"auto": _native.TimelineChoice.AUTO, "vulkan": _native.TimelineChoice.VULKAN,
            "portable": _native.TimelineChoice.PORTABLE}


def timeline_choice(kind: str):
    """``"auto"``, ``"vulkan"`` or ``"portable"`` as the core's TimelineChoice."""
    try:
        return _CHOICES[kind]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"timeline kind must be 'auto', 'vulkan' or 'portable', got {kind!r}") from None


class Timeline(NativeOwner):
    """A 64-bit monotonic counter shared between processes (see the module docs)."""

    def __init__(self, native, device):
        self._native = native  # a _native.Timeline
        self._device = device

    @property
    def kind(self) -> str:
        """"vulkan" (a timeline semaphore) or "portable" (Geyser's memfd counter)."""
        return _KIND_NAMES[self.native.kind]

    device = property(lambda self: self._device, doc='The geyser.Device this object belongs to (None once closed).')
    imported = property(lambda self: self.native.imported,
                         doc='Whether this object was imported from a handle rather than created here.')
    vk_semaphore = property(
        lambda self: self.native.vk_semaphore,
        doc="A Vulkan timeline's VkSemaphore as an int (None for a portable one), for your own "
            "submissions to wait on or signal (docs/access.md).")

    @property
    def value(self) -> int:
        """The counter's current value."""
        # The hot path of a frame loop: one attribute read, not the `native` property.
        n = self._native
        if n is None:
            raise InvalidHandleError("this Timeline is closed")
        return n.value

    def signal(self, value: int) -> None:
        """Moves the timeline to ``value``. Lower than the current value is an error; equal is a no-op."""
        self.native.signal(_u64(value))

    def wait(self, value: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Blocks (without the GIL) until the value reaches ``value``.

        Raises geyser.TimeoutError after ``timeout`` seconds, and geyser.PeerGoneError when a
        portable timeline's producer marked it abandoned first.
        """
        n = self._native
        if n is None:
            raise InvalidHandleError("this Timeline is closed")
        n.wait(_u64(value), to_ns(timeout))

    def mark_abandoned(self) -> None:
        """Portable timelines: wake every waiter with PeerGoneError (a producer shutting down)."""
        self.native.mark_abandoned()

    @property
    def abandoned(self) -> bool:
        """Whether the producer marked this (portable) timeline abandoned."""
        return self.native.abandoned

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.Timeline closed>"
        return f"<geyser.Timeline {self.kind} value={self.value}>"


def submit_sync(wait, signal, fence, timeout: float) -> dict:
    """A copy operation's ``wait``/``signal`` (``[(Timeline or Semaphore, value)]``), ``fence``
    and ``timeout`` (seconds, for host waits on portable timelines) as the core's arguments."""

    def natives(items):
        out = []
        for entry in items:
            try:
                obj, value = entry
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"expected (timeline or semaphore, value) pairs, got {entry!r}") from None
            if not isinstance(obj, (Timeline, Semaphore)):
                raise InvalidArgumentTypeError(f"expected a Timeline or Semaphore, got {type(obj).__name__}")
            out.append((obj.native, 0 if value is None else _u64(value)))
        return out

    return {"wait": natives(wait), "signal": natives(signal), "fence": fence.native if fence is not None else None,
            "timeout_ns": to_ns(timeout)}


class TimelineHandle:
    """An exported Timeline: its kind and an fd it owns (the core's ``geyser::TimelineHandle``).

    ``TimelineHandle("portable", fd=fd)`` takes ownership of a portable timeline's fd;
    ``TimelineHandle("vulkan", sem_handle=h)`` takes a timeline semaphore handle's fd.
    """

    def __init__(self, kind: str, fd: int = -1, sem_handle: SemaphoreHandle | None = None):
        if kind == "portable":
            native = _native.TimelineHandle(int(fd))
        elif kind == "vulkan":
            if not isinstance(sem_handle, SemaphoreHandle):
                raise InvalidArgumentError("a vulkan timeline handle needs its SemaphoreHandle (sem_handle=)")
            native = _native.TimelineHandle(sem_handle.native)
        else:
            raise InvalidArgumentError(f"timeline kind must be one of {sorted(_CHOICES.keys() - {'auto'})}, got {kind!r}")
        self._native = native

    @classmethod
    def _wrap(cls, native) -> "TimelineHandle":
        h = cls.__new__(cls)
        h._native = native
        return h

    native = property(lambda self: self._native,
                       doc="The geyser._native object this wraps (for the binding's functions).")
    kind = property(lambda self: _KIND_NAMES[self._native.kind], doc='The timeline\'s kind: "vulkan" or "portable".')
    fd = property(lambda self: self._native.fd, doc="The fd this handle owns (-1 once closed).")

    @property
    def semaphore_handle(self) -> SemaphoreHandle | None:
        """A Vulkan timeline's semaphore handle (sharing this handle's fd); None if portable."""
        sem = self._native.semaphore
        return SemaphoreHandle(sem) if sem is not None else None

    def close(self) -> None:
        """Releases what this object holds (idempotent); every later use raises InvalidHandleError."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self.fd < 0

    def detach(self) -> int:
        """Gives up the fd: the caller owns it and must close it. InvalidHandleError once closed."""
        self._check_open()
        return self._native.detach()

    def duplicate(self) -> "TimelineHandle":
        """An independent handle with its own duplicate fd. InvalidHandleError once closed."""
        self._check_open()
        return TimelineHandle._wrap(self._native.duplicate())

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidHandleError("this TimelineHandle is closed (its fd was closed or detached)")

    def to_bytes(self) -> bytes:
        """The handle's wire encoding, without the fd (the core's ``encode_timeline_handle``): the
        bytes a channel sends and pickling carries. ``from_bytes(payload, fd)`` rebuilds it."""
        return _native.encode_timeline_handle(self._native)

    @classmethod
    def from_bytes(cls, payload: bytes, fd: int) -> "TimelineHandle":
        """A handle from ``to_bytes()`` output and its fd, decoded by the core
        (``decode_timeline_handle``). Takes ownership of ``fd`` and closes it on every failure:
        ProtocolError for a payload that breaks the wire format (an unknown kind, say), TypeError
        for a payload that is not bytes. An ``fd`` that is not an int raises TypeError, one no fd
        can have InvalidHandleError; neither is owned. Whether the fd is the timeline it claims
        to be is the import's to check."""
        return cls._wrap(_native.decode_timeline_handle(payload, fd))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<geyser.TimelineHandle {self.kind} closed>"
        return f"<geyser.TimelineHandle {self.kind} fd={self.fd}>"
