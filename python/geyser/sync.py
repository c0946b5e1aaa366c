"""Semaphores, fences and timelines: exported, imported, waited on from the host and the GPU."""

from __future__ import annotations

import math

from . import _native
from ._owner import NativeOwner
from .errors import InvalidArgumentError, InvalidHandleError

__all__ = ["Semaphore", "Fence", "SemaphoreHandle", "FenceHandle", "to_ns", "DEFAULT_TIMEOUT"]

#: Seconds every wait uses unless told otherwise. Nothing in Geyser waits forever by default.
DEFAULT_TIMEOUT = 10.0


def to_ns(timeout: float) -> int:
    """Seconds (float) to nanoseconds for the core; refuses negative, NaN and infinite timeouts."""
    if timeout is None or isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgumentError(f"timeout must be a number of seconds, got {timeout!r}")
    if math.isnan(timeout) or timeout < 0 or math.isinf(timeout):
        raise InvalidArgumentError(f"timeout must be finite and >= 0 seconds, got {timeout!r}")
    return int(timeout * 1e9)


class Semaphore(NativeOwner):
    """A Vulkan semaphore: ``kind`` is ``"binary"`` or ``"timeline"``.

    Timelines have ``value``, ``signal(value)`` and ``wait(value, timeout)`` on the host; binary
    semaphores are waited and signalled only by GPU work (``wait=``/``signal=`` of the copy
    operations).
    """

    def __init__(self, native, device):
        self._native = native
        self._device = device

    @property
    def kind(self) -> str:
        """"binary" or "timeline"."""
        return "timeline" if self.native.type == _native.SemaphoreType.TIMELINE else "binary"

    imported = property(lambda self: self.native.imported,
                         doc='Whether this object was imported from a handle rather than created here.')
    device = property(lambda self: self._device, doc='The geyser.Device this object belongs to (None once closed).')
    vk_semaphore = property(lambda self: self.native.vk_semaphore,
                            doc="The VkSemaphore, as an int, to wait on or signal in your own submissions.")

    @property
    def value(self) -> int:
        """The counter's current value."""
        return self.native.value

    def signal(self, value: int) -> None:
        """Sets a timeline to ``value`` from the host; it must be greater than the current one."""
        self.native.signal(_u64(value))

    def wait(self, value: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Blocks (without the GIL) until a timeline reaches ``value``; geyser.TimeoutError after ``timeout`` s."""
        self.native.wait(_u64(value), to_ns(timeout))

    def __repr__(self) -> str:
        if self._native is None:
            return "<geyser.Semaphore closed>"
        extra = f" value={self.value}" if self.kind == "timeline" else ""
        return f"<geyser.Semaphore {self.kind}{extra}{' imported' if self.imported else ''}>"


class Fence(NativeOwner):
    """A Vulkan fence: ``signaled``, ``wait(timeout)``, ``reset()``."""

    def __init__(self, native, device):
        self._native = native
        self._device = device

    imported = property(lambda self: self.native.imported,
                         doc='Whether this object was imported from a handle rather than created here.')
    device = property(lambda self: self._device, doc='The geyser.Device this object belongs to (None once closed).')
    signaled = property(lambda self: self.native.signaled, doc='Whether the fence is signalled now.')
    vk_fence = property(lambda self: self.native.vk_fence, doc="The VkFence, as an int.")

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Blocks (without the GIL) until the fence is signalled; geyser.TimeoutError after ``timeout`` s."""
        self.native.wait(to_ns(timeout))

    def reset(self) -> None:
        """Returns the fence to unsignalled."""
        self.native.reset()

    def __repr__(self) -> str:
        if self._native is None:
            return "<geyser.Fence closed>"
        return f"<geyser.Fence {'signaled' if self.signaled else 'unsignaled'}{' imported' if self.imported else ''}>"


class _SyncHandle:
    """An exported semaphore or fence: owns an fd (or stands for an already-signalled sync FD)."""

    def __init__(self, native):
        self._native = native

    native = property(lambda self: self._native,
                       doc="The geyser._native object this wraps (for the binding's functions).")
    fd = property(lambda self: self._native.fd, doc="The fd this handle owns (-1 if none).")
    already_signaled = property(lambda self: self._native.already_signaled,
                                 doc='Whether this is an already-signalled sync FD, which travels without an fd.')
    permanent = property(lambda self: self._native.permanent,
                          doc='Whether an import replaces the payload permanently (opaque FDs) rather than temporarily (sync FDs).')
    device_uuid = property(lambda self: self._native.device_uuid.hex(), doc="The exporting device's UUID, as hex.")
    driver_uuid = property(lambda self: self._native.driver_uuid.hex(), doc="The exporting driver's UUID, as hex.")

    @property
    def handle_type(self) -> str:
        """The external handle type: "opaque_fd", "sync_fd" or "dma_buf"."""
        return _native.external_handle_type_name(self._native.handle_type)

    _closed = False

    def close(self) -> None:
        """Closes the fd. Idempotent."""
        self._closed = True
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` or ``detach()`` gave up the fd (an already-signalled sync FD has
        none from the start and is not closed)."""
        return self._closed or (self._native.fd < 0 and not self._native.already_signaled)

    def detach(self) -> int:
        """Gives up the fd (-1 for an already-signalled sync FD): the caller owns it and must
        close it. InvalidHandleError once closed."""
        self._check_open()
        self._closed = True
        return self._native.detach()

    def duplicate(self):
        """An independent handle with its own duplicate fd. InvalidHandleError once closed."""
        self._check_open()
        return type(self)(self._native.duplicate())

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidHandleError(f"this {type(self).__name__} is closed (its fd was closed or detached)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def to_bytes(self) -> bytes:
        """The handle's wire encoding, without the fd (the core's ``encode_sync_handle``): the
        bytes a channel sends and pickling carries. ``from_bytes(payload, fd)`` rebuilds it."""
        return _native.encode_sync_handle(self._native)

    @classmethod
    def from_bytes(cls, payload: bytes, fd: int):
        """A handle from ``to_bytes()`` output and its fd (-1 for an already-signalled sync FD),
        decoded by the core (``decode_sync_handle``). Takes ownership of ``fd`` and closes it on
        every failure: ProtocolError for a payload that breaks the wire format (or an fd where
        none belongs), TypeError for a payload that is not bytes. An ``fd`` that is not an int
        raises TypeError, one no fd can have InvalidHandleError; neither is owned. Whether the
        handle fits the device (and the class the primitive) is the import's to check."""
        return cls(_native.decode_sync_handle(payload, fd))


class SemaphoreHandle(_SyncHandle):
    """An exported semaphore (binary or timeline): an fd it owns plus what an importer must know."""

    @property
    def kind(self) -> str:
        """"binary" or "timeline"."""
        return "timeline" if self._native.semaphore_type == _native.SemaphoreType.TIMELINE else "binary"

    def __repr__(self) -> str:
        if self.closed:
            return f"<geyser.SemaphoreHandle {self.kind} closed>"
        return f"<geyser.SemaphoreHandle {self.kind} {self.handle_type} fd={self.fd}>"


class FenceHandle(_SyncHandle):
    """An exported fence: an fd it owns (or none for an already-signalled sync FD) plus what an
    importer must know."""

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.FenceHandle closed>"
        return f"<geyser.FenceHandle {self.handle_type} fd={self.fd}>"


def _u64(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise InvalidArgumentError(f"timeline values are 64-bit unsigned integers, got {value!r}")
    return value
