"""Shared timelines: "frame N is ready" across processes, on any Vulkan driver.

A ``Timeline`` is either an exported Vulkan timeline semaphore (``kind == "vulkan"``: the GPU
itself waits and signals, no CPU round trip) or Geyser's portable timeline (``kind ==
"portable"``: a 64-bit counter in a sealed memfd with futex wake-up, for drivers such as lavapipe
that cannot export semaphores). Both have the same interface: ``value``, ``signal(value)``,
``wait(value, timeout)``, ``export()``; ``Device.create_shared_timeline`` picks one and says
which.

GPU ordering: Geyser's copy operations take ``wait=[(timeline, value)]`` and
``signal=[(timeline, value)]``. A Vulkan timeline is waited and signalled by the GPU. A portable
one is waited on the host before the work is submitted and signalled after the work has
completed (Geyser's operations wait for their own completion), so the order is the same.
"""

from __future__ import annotations

import os

from ._owner import NativeOwner
from .errors import GeyserError, InvalidArgumentError, InvalidHandleError
from .sync import DEFAULT_TIMEOUT, Semaphore, SemaphoreHandle, _u64, description, to_ns

__all__ = ["Timeline", "TimelineHandle", "split_sync"]

KINDS = ("vulkan", "portable")


class Timeline(NativeOwner):
    """A 64-bit monotonic counter shared between processes (see the module docs)."""

    def __init__(self, native, device, kind: str):
        self._native = native  # a Semaphore (vulkan) or _native.PortableTimeline
        self._device = device
        self.kind = kind

    @property
    def value(self) -> int:
        # The hot path of a frame loop: one attribute read, not the `native` property.
        n = self._native
        if n is None:
            raise GeyserError("this Timeline is closed")
        return n.value

    def signal(self, value: int) -> None:
        """Moves the timeline to ``value``. Lower than the current value is an error; equal is a no-op."""
        value = _u64(value)
        if self.kind == "vulkan":
            current = self.native.value
            if value == current:
                return
            if value < current:
                raise InvalidArgumentError(f"timeline value must not decrease: current {current}, asked {value}")
        self.native.signal(value)

    def wait(self, value: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Blocks (without the GIL) until the value reaches ``value``.

        Raises geyser.TimeoutError after ``timeout`` seconds, and geyser.PeerGoneError when a
        portable timeline's producer marked it abandoned first.
        """
        n = self._native
        if n is None:
            raise GeyserError("this Timeline is closed")
        if self.kind == "vulkan":
            n.wait(value, timeout)
        else:
            n.wait(_u64(value), to_ns(timeout))

    def mark_abandoned(self) -> None:
        """Portable timelines: wake every waiter with PeerGoneError (a producer shutting down)."""
        if self.kind == "portable":
            self.native.mark_abandoned()

    def export(self) -> "TimelineHandle":
        """A handle (owning a new fd) another process can import with ``Device.import_timeline``."""
        if self.kind == "vulkan":
            return TimelineHandle("vulkan", sem_handle=self.native.device.export_semaphore(self.native))
        return TimelineHandle("portable", fd=self.native.export_fd())

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.Timeline closed>"
        return f"<geyser.Timeline {self.kind} value={self.value}>"


class TimelineHandle:
    """An exported Timeline: its kind and an fd it owns."""

    def __init__(self, kind: str, fd: int = -1, sem_handle: SemaphoreHandle | None = None):
        if kind not in KINDS:
            raise InvalidArgumentError(f"timeline kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self._fd = fd
        self._sem = sem_handle

    @property
    def fd(self) -> int:
        return self._sem.fd if self._sem is not None else self._fd

    @property
    def semaphore_handle(self) -> SemaphoreHandle | None:
        return self._sem

    def close(self) -> None:
        if self._sem is not None:
            self._sem.close()
        elif self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def detach(self) -> int:
        if self._sem is not None:
            return self._sem.detach()
        fd, self._fd = self._fd, -1
        return fd

    def duplicate(self) -> "TimelineHandle":
        if self._sem is not None:
            return TimelineHandle("vulkan", sem_handle=self._sem.duplicate())
        return TimelineHandle("portable", fd=os.dup(self._fd))

    def to_dict(self) -> dict:
        d = {"kind": self.kind}
        if self._sem is not None:
            d["semaphore"] = self._sem.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, fd: int) -> "TimelineHandle":
        """A handle from ``to_dict()`` output; takes ownership of ``fd`` (closed if refused)."""
        kind = d.get("kind") if isinstance(d, dict) else None
        if kind == "vulkan" and "semaphore" in d:
            return cls("vulkan", sem_handle=SemaphoreHandle.from_dict(d["semaphore"], fd))
        if kind == "portable":
            fd = int(fd)
            if not 0 <= fd < 2**31:
                raise InvalidHandleError(f"a portable timeline handle needs an fd, got {fd}")
            try:
                os.fstat(fd)
            except OSError as e:
                raise InvalidHandleError(f"fd {fd} of a portable timeline handle is not open: {e.strerror}") from None
            return cls("portable", fd=fd)
        if isinstance(fd, int) and not isinstance(fd, bool) and 0 <= fd < 2**31:
            try:
                os.close(fd)
            except OSError:
                pass  # not open: nothing to release
        description(d, "timeline handle")
        if kind == "vulkan":
            raise InvalidHandleError("a vulkan timeline handle description needs its 'semaphore' description")
        raise InvalidHandleError(f"unknown timeline kind {kind!r}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def __repr__(self) -> str:
        return f"<geyser.TimelineHandle {self.kind} fd={self.fd}>"


def split_sync(wait=(), signal=()):
    """Splits ``[(Timeline|Semaphore, value)]`` lists into what the GPU does and what the host does.

    Returns (native_wait, native_signal, host_wait, host_signal).
    """
    nw, ns, hw, hs = [], [], [], []
    for items, native_out, host_out in ((wait, nw, hw), (signal, ns, hs)):
        for entry in items:
            try:
                obj, value = entry
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"expected (timeline or semaphore, value) pairs, got {entry!r}") from None
            value = _u64(value) if value is not None else 0
            if isinstance(obj, Timeline):
                if obj.kind == "vulkan":
                    native_out.append((obj.native.native, value))
                else:
                    host_out.append((obj, value))
            elif isinstance(obj, Semaphore):
                native_out.append((obj.native, value))
            else:
                raise InvalidArgumentError(f"expected a Timeline or Semaphore, got {type(obj).__name__}")
    return nw, ns, hw, hs
