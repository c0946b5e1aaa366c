"""Why two processes do (or do not) share zero-copy, and the explicit copy when they cannot.

``explain(target, device)`` answers for a sender (its name or SenderInfo), a handle
(TextureHandle, BufferHandle) or another device (Device, DeviceInfo): ``zero_copy``, ``path``
(``"zero-copy"`` or ``"copy"``) and the ``reasons``, each with a stable ``code``, a sentence and
the fix where there is one. ``explain_cuda(device)`` says which CUDA device is the Vulkan
device's GPU, or why none is. The decision is the core's (``geyser/explain.hpp``): a Subscriber
takes the same one before it imports anything. ``copy_to(device, handle)`` is the explicit copy
for a single texture or buffer (``geyser/copy_to.hpp``); nothing in Geyser copies silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import _native
from .device import Device, DeviceInfo
from .errors import InvalidArgumentTypeError
from .memory import Buffer, BufferHandle, Texture, TextureHandle, _MemoryHandle
from .sender import SenderInfo
from .sync import to_ns

__all__ = ["Reason", "Explanation", "explain", "explain_cuda", "explain_peer_copy", "copy_to"]


@dataclass(frozen=True)
class Reason:
    """One reason: ``code`` (stable, for scripts), ``blocking`` (whether it rules zero-copy
    out; False for a note), ``message`` and ``fix`` (empty where nothing can be done)."""

    code: str
    blocking: bool
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}." + (f" Fix: {self.fix}." if self.fix else "")


@dataclass(frozen=True)
class Explanation:
    """The answer for one pair (``explain``, ``explain_cuda``)."""

    subject: str
    zero_copy: bool
    path: str
    reasons: list[Reason] = field(default_factory=list)
    cuda_ordinal: int | None = None

    @classmethod
    def _from_native(cls, e) -> "Explanation":
        return cls(e.subject, e.zero_copy, _native.share_path_name(e.path),
                   [Reason(r.code, r.blocking, r.message, r.fix) for r in e.reasons], e.cuda_ordinal)

    @property
    def codes(self) -> list[str]:
        """The reasons' codes, in order."""
        return [r.code for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``python -m geyser doctor --json``)."""
        return asdict(self)

    def __str__(self) -> str:
        head = f"{self.subject}: {'zero-copy' if self.zero_copy else 'no zero-copy'}"
        return "\n".join([head] + [f"  {'x' if r.blocking else '-'} [{r.code}] {r}" for r in self.reasons])


def _device(device):
    return device if device is not None else Device()


def explain(target, device=None, timeout: float = 1.0) -> Explanation:
    """Whether ``device`` (default: ``Device()``) can share zero-copy with ``target``: a sender
    name (queried within ``timeout`` seconds; PeerGoneError when nobody publishes it), a
    SenderInfo, a TextureHandle or BufferHandle (its fd is not touched), a Device or a
    DeviceInfo."""
    dev = _device(device)
    if isinstance(target, SenderInfo):
        target = target.name
    if isinstance(target, str):
        native = _native.explain(dev.native, sender=_native.query_sender(target, to_ns(timeout)))
    elif isinstance(target, _MemoryHandle):
        native = _native.explain(dev.native, handle=target.native)
    elif isinstance(target, Device):
        native = _native.explain(dev.native, other=target.native.info)
    elif isinstance(target, DeviceInfo):
        info = next(d for d in _native.enumerate_devices()
                    if d.device_uuid == target.device_uuid and d.driver_uuid == target.driver_uuid)
        native = _native.explain(dev.native, other=info)
    else:
        raise InvalidArgumentTypeError("explain takes a sender name, a SenderInfo, a TextureHandle, a BufferHandle, "
                                       f"a Device or a DeviceInfo, not {type(target).__name__}")
    return Explanation._from_native(native)


def explain_cuda(device=None) -> Explanation:
    """Which CUDA device is ``device``'s GPU (``cuda_ordinal``), or why none is visible (no
    driver, ``CUDA_VISIBLE_DEVICES``, a CPU driver)."""
    return Explanation._from_native(_native.explain_cuda(_device(device).native))


def explain_peer_copy(device, producer) -> Explanation:
    """Whether a producer on the GPU ``producer`` (a Device or a DeviceInfo) could deliver frames
    to a subscriber on ``device`` (default: ``Device()``) by peer copy, as far as this process can
    tell: CUDA usable here and both GPUs CUDA devices (blocking reasons otherwise), and a
    ``peer_copy`` note naming the path (``same_device``, ``peer`` or ``host_staging``). The
    producer's own process decides for real (docs/streams.md, "A consumer on another GPU")."""
    dev = _device(device)
    if isinstance(producer, Device):
        info = producer.native.info
    elif isinstance(producer, DeviceInfo):
        info = next(d for d in _native.enumerate_devices()
                    if d.device_uuid == producer.device_uuid and d.driver_uuid == producer.driver_uuid)
    else:
        raise InvalidArgumentTypeError(f"explain_peer_copy takes a Device or a DeviceInfo, not {type(producer).__name__}")
    return Explanation._from_native(_native.explain_peer_copy(dev.native, info))


def copy_to(device, source) -> Texture | Buffer:
    """A new texture (or buffer) of ``device`` holding a copy of ``source``: a TextureHandle or
    BufferHandle (its fd is duplicated, not taken), or a Texture or Buffer of another device (an
    unpickled one, say: it is exported first). The handle is imported on its own device,
    which this process must see too (DeviceMismatchError otherwise), downloaded once and uploaded
    once. The copy is what you ask for when ``explain(handle, device)`` says zero-copy cannot
    work; ``import_texture`` never copies."""
    if isinstance(source, Texture):
        with source.device.export_texture(source) as handle:
            return copy_to(device, handle)
    if isinstance(source, Buffer):
        with source.device.export_buffer(source) as handle:
            return copy_to(device, handle)
    if isinstance(source, TextureHandle):
        desc = source.descriptor_or_none()
        return Texture(_native.copy_texture_to(device.native, source.native), device, desc)
    if isinstance(source, BufferHandle):
        return Buffer(_native.copy_buffer_to(device.native, source.native), device)
    raise InvalidArgumentTypeError(f"copy_to takes a TextureHandle or a BufferHandle, not {type(source).__name__}")
