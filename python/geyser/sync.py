"""Semaphores, fences and timelines: exported, imported, waited on from the host and the GPU."""

from __future__ import annotations

import math

from . import _native
from ._owner import NativeOwner
from .errors import InvalidArgumentError, InvalidHandleError

__all__ = ["Semaphore", "Fence", "SemaphoreHandle", "FenceHandle", "to_ns", "DEFAULT_TIMEOUT"]

#: Seconds every wait uses unless told otherwise. Nothing in Geyser waits forever by default.
DEFAULT_TIMEOUT = 10.0

_HANDLE_TYPES = {"opaque_fd": 0x1, "sync_fd": 0x10}
_HANDLE_NAMES = {v: k for k, v in _HANDLE_TYPES.items()}


def to_ns(timeout: float) -> int:
    """Seconds (float) to nanoseconds for the core; refuses negative, NaN and infinite timeouts."""
    if timeout is None or isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgumentError(f"timeout must be a number of seconds, got {timeout!r}")
    if math.isnan(timeout) or timeout < 0 or math.isinf(timeout):
        raise InvalidArgumentError(f"timeout must be finite and >= 0 seconds, got {timeout!r}")
    return int(timeout * 1e9)


def description(d, what: str) -> dict:
    """``d`` if it is a handle description (a dict, as ``to_dict()`` makes), else InvalidHandleError."""
    if not isinstance(d, dict):
        raise InvalidHandleError(f"a {what} description is a dict (to_dict() output), got {type(d).__name__}")
    return d


def uuid_field(d: dict, key: str) -> bytes:
    """The UUID ``d[key]`` (hex) as bytes; InvalidHandleError when it is missing or not hex."""
    value = d.get(key)
    if not isinstance(value, str):
        raise InvalidHandleError(f"handle description needs {key!r} as a hex string, got {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidHandleError(f"handle description's {key!r} is not hex: {value!r}") from None


def handle_type_bit(name: str) -> int:
    try:
        return _HANDLE_TYPES[name]
    except KeyError:
        raise InvalidArgumentError(f"handle type must be one of {sorted(_HANDLE_TYPES)}, got {name!r}") from None


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
        return "timeline" if self.native.type == _native.SemaphoreType.TIMELINE else "binary"

    imported = property(lambda self: self.native.imported)
    device = property(lambda self: self._device)
    vk_semaphore = property(lambda self: self.native.vk_semaphore,
                            doc="The VkSemaphore, as an int, to wait on or signal in your own submissions.")

    @property
    def value(self) -> int:
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

    imported = property(lambda self: self.native.imported)
    device = property(lambda self: self._device)
    signaled = property(lambda self: self.native.signaled)
    vk_fence = property(lambda self: self.native.vk_fence, doc="The VkFence, as an int.")

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.native.wait(to_ns(timeout))

    def reset(self) -> None:
        self.native.reset()


class _SyncHandle:
    """An exported semaphore or fence: owns an fd (or stands for an already-signalled sync FD)."""

    _primitive = None

    def __init__(self, native):
        self._native = native

    native = property(lambda self: self._native)
    fd = property(lambda self: self._native.fd, doc="The fd this handle owns (-1 if none).")
    already_signaled = property(lambda self: self._native.already_signaled)
    permanent = property(lambda self: self._native.permanent)
    device_uuid = property(lambda self: self._native.device_uuid.hex())
    driver_uuid = property(lambda self: self._native.driver_uuid.hex())

    @property
    def handle_type(self) -> str:
        return _HANDLE_NAMES.get(self._native.handle_type, "unknown")

    def close(self) -> None:
        self._native.close()

    def detach(self) -> int:
        return self._native.detach()

    def duplicate(self):
        return type(self)(self._native.duplicate())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def to_dict(self) -> dict:
        return {
            "primitive": self._primitive,
            "kind": getattr(self, "kind", None),
            "handle_type": self.handle_type,
            "already_signaled": self.already_signaled,
            "permanent": self.permanent,
            "initial_value": self._native.initial_value,
            "device_uuid": self.device_uuid,
            "driver_uuid": self.driver_uuid,
        }

    @classmethod
    def from_dict(cls, d: dict, fd: int | None):
        """A handle from ``to_dict()`` output; takes ownership of ``fd`` (None for a signalled sync FD)."""
        n = _native.SyncHandle(-1 if fd is None else int(fd))  # owns fd from here, on failure too
        d = description(d, "semaphore or fence handle")
        n.primitive = _native.SyncPrimitive.FENCE if d.get("primitive", cls._primitive) == "fence" else _native.SyncPrimitive.SEMAPHORE
        n.semaphore_type = _native.SemaphoreType.TIMELINE if d.get("kind") == "timeline" else _native.SemaphoreType.BINARY
        n.handle_type = handle_type_bit(d.get("handle_type", "opaque_fd"))
        n.already_signaled = bool(d.get("already_signaled", False))
        n.permanent = bool(d.get("permanent", True))
        n.initial_value = _u64(d.get("initial_value", 0))
        n.device_uuid = uuid_field(d, "device_uuid")
        n.driver_uuid = uuid_field(d, "driver_uuid")
        return cls(n)


class SemaphoreHandle(_SyncHandle):
    _primitive = "semaphore"

    @property
    def kind(self) -> str:
        return "timeline" if self._native.semaphore_type == _native.SemaphoreType.TIMELINE else "binary"

    def __repr__(self) -> str:
        return f"<geyser.SemaphoreHandle {self.kind} {self.handle_type} fd={self.fd}>"


class FenceHandle(_SyncHandle):
    _primitive = "fence"

    def __repr__(self) -> str:
        return f"<geyser.FenceHandle {self.handle_type} fd={self.fd}>"


def _u64(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise InvalidArgumentError(f"timeline values are 64-bit unsigned integers, got {value!r}")
    return value
