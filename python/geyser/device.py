"""Devices: discovery (``devices()``) and the ``Device`` that creates, exports and imports."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import _native
from ._owner import NativeOwner
from .errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidHandleError
from .formats import TextureFormat, TextureUsage, format_info
from .memory import Buffer, BufferHandle, BufferUsage, Texture, TextureDescriptor, TextureHandle, _default_aspect
from .sync import DEFAULT_TIMEOUT, Fence, FenceHandle, Semaphore, SemaphoreHandle, _u64, to_ns
from .timeline import Timeline, TimelineHandle, submit_sync, timeline_choice

__all__ = ["DeviceInfo", "FormatSupport", "HandleTypeSupport", "devices", "Device"]

_DEVICE_TYPES = {0: "other", 1: "integrated_gpu", 2: "discrete_gpu", 3: "virtual_gpu", 4: "cpu"}


def _names(mask: int) -> list[str]:
    """The core's names of the handle-type bits in ``mask`` (bits it has no name for left out)."""
    names = (_native.external_handle_type_name(1 << i) for i in range(32) if mask >> i & 1)
    return [n for n in names if n != "unknown"]


# VkExternalFenceHandleTypeFlagBits: SYNC_FD is 0x8 there, where the memory and semaphore bits the
# core names have 0x10; DeviceInfo's fence masks are in the fence bits.
_FENCE_SYNC_FD, _SYNC_FD = 0x8, 0x10


def _fence_names(mask: int) -> list[str]:
    return _names((mask & ~_FENCE_SYNC_FD) | (_SYNC_FD if mask & _FENCE_SYNC_FD else 0))


def _version(v: int) -> str:
    return f"{v >> 22}.{(v >> 12) & 0x3FF}.{v & 0xFFF}"


@dataclass(frozen=True)
class DeviceInfo:
    """One physical device, as ``geyser.devices()`` reports it.

    The ``*_export``/``*_import`` fields list the external handle types (``"opaque_fd"``,
    ``"dma_buf"``, ``"sync_fd"``) the device can export or import for that kind of object.
    """

    index: int
    name: str
    device_type: str
    driver_name: str
    driver_info: str
    driver_version: int
    api_version: str
    vendor_id: int
    device_id: int
    device_uuid: str
    driver_uuid: str
    timeline_semaphores: bool
    memory_export: list[str] = field(default_factory=list)
    memory_import: list[str] = field(default_factory=list)
    buffer_export: list[str] = field(default_factory=list)
    buffer_import: list[str] = field(default_factory=list)
    binary_semaphore_export: list[str] = field(default_factory=list)
    binary_semaphore_import: list[str] = field(default_factory=list)
    timeline_semaphore_export: list[str] = field(default_factory=list)
    timeline_semaphore_import: list[str] = field(default_factory=list)
    fence_export: list[str] = field(default_factory=list)
    fence_import: list[str] = field(default_factory=list)

    @classmethod
    def _from_native(cls, d) -> "DeviceInfo":
        return cls(
            index=d.index,
            name=d.name,
            device_type=_DEVICE_TYPES.get(d.device_type, "other"),
            driver_name=d.driver_name,
            driver_info=d.driver_info,
            driver_version=d.driver_version,
            api_version=_version(d.api_version),
            vendor_id=d.vendor_id,
            device_id=d.device_id,
            device_uuid=d.device_uuid,
            driver_uuid=d.driver_uuid,
            timeline_semaphores=d.timeline_semaphores,
            memory_export=_names(d.image_memory.exportable),
            memory_import=_names(d.image_memory.importable),
            buffer_export=_names(d.buffer_memory.exportable),
            buffer_import=_names(d.buffer_memory.importable),
            binary_semaphore_export=_names(d.binary_semaphore.exportable),
            binary_semaphore_import=_names(d.binary_semaphore.importable),
            timeline_semaphore_export=_names(d.timeline_semaphore.exportable),
            timeline_semaphore_import=_names(d.timeline_semaphore.importable),
            fence_export=_fence_names(d.fence.exportable),
            fence_import=_fence_names(d.fence.importable),
        )


def devices() -> list[DeviceInfo]:
    """Every physical device the Vulkan loader reports. Raises VulkanUnavailableError without one."""
    return [DeviceInfo._from_native(d) for d in _native.enumerate_devices()]


@dataclass(frozen=True)
class HandleTypeSupport:
    """What one external memory handle type allows for a format and usage (geyser::HandleTypeSupport)."""

    exportable: bool
    importable: bool
    dedicated_only: bool
    max_width: int
    max_height: int

    @classmethod
    def _from_native(cls, s) -> "HandleTypeSupport":
        return cls(s.exportable, s.importable, s.dedicated_only, s.max_width, s.max_height)


@dataclass(frozen=True)
class FormatSupport:
    """What ``Device.format_support`` answers for one format and usage (geyser::FormatSupport).

    ``vk_format`` is the Vulkan format the device would use (None if it can create none with
    external memory); ``handle_types`` maps each handle type the device has an extension for to
    its support; ``reason`` says why the format is not shareable.
    """

    format: TextureFormat
    usage: TextureUsage
    vk_format: int | None
    handle_types: dict[str, HandleTypeSupport]
    reason: str = ""

    @property
    def shareable(self) -> bool:
        """Exportable and importable as opaque_fd, the handle type Geyser shares through."""
        s = self.handle_types.get("opaque_fd")
        return bool(s and s.exportable and s.importable)

    @classmethod
    def _from_native(cls, s) -> "FormatSupport":
        return cls(TextureFormat(s.format), TextureUsage(s.usage), s.vk_format or None,
                   {_native.external_handle_type_name(bit): HandleTypeSupport._from_native(h)
                    for bit, h in sorted(s.handle_types.items())},
                   s.reason)


DEFAULT_USAGE = TextureUsage.COPY_SRC | TextureUsage.COPY_DST | TextureUsage.TEXTURE_BINDING


class Device(NativeOwner):
    """An open Vulkan device.

    ``selector`` (or the ``GEYSER_DEVICE`` environment variable) picks a device by index, UUID,
    CUDA ordinal (``"cuda:1"`` or ``torch.device("cuda", 1)``, the GPU CUDA numbers so under this
    process's ``CUDA_VISIBLE_DEVICES``, matched by UUID) or a case-insensitive name substring; by
    default the first discrete GPU, else integrated, else the CPU driver. A CUDA selector where
    CUDA cannot be used raises UnsupportedOperationError saying why. Textures and buffers keep the underlying device alive, so ``close()`` (or
    leaving a ``with`` block) is safe while they live: the Vulkan device goes when the last does.
    """

    def __init__(self, selector: Any = None):
        self._native = _native.Device.open(device_selector(selector))
        self.info = DeviceInfo._from_native(self._native.info)
        _register(self)

    def close(self) -> None:
        """Closes this Device; the Vulkan device goes when the last texture or buffer made with it does."""
        super().close()
        # geyser.cuda keeps this Device's CudaDevice here (cuda_device()); a closed Device keeps
        # nothing alive, its CUDA context included.
        self.__dict__.pop("_cuda_device", None)

    def __repr__(self) -> str:
        return f"<geyser.Device {self.info.name!r} uuid={self.info.device_uuid}{' closed' if self.closed else ''}>"

    @property
    def name(self) -> str:
        """The device's name (``info.name``)."""
        return self.info.name

    # -- raw Vulkan handles, for Python Vulkan libraries that record their own work ----------
    # (docs/access.md). Each is the handle's integer value: the vulkan package takes it back as
    # ffi.cast("VkDevice", device.vk_device). Borrowed: valid while this Device is open.

    vk_instance = property(lambda self: self.native.vk_instance, doc="The VkInstance, as an int.")
    vk_physical_device = property(lambda self: self.native.vk_physical_device,
                                  doc="The VkPhysicalDevice, as an int.")
    vk_device = property(lambda self: self.native.vk_device, doc="The VkDevice, as an int.")
    vk_queue = property(lambda self: self.native.vk_queue,
                        doc="The device's one VkQueue, as an int; submit to it inside ``queue_mutex()``.")
    queue_family_index = property(
        lambda self: self.native.queue_family_index,
        doc="The queue family of ``vk_queue``: create command pools for it to use Geyser's textures and buffers.",
    )

    @contextlib.contextmanager
    def queue_mutex(self):
        """Holds the lock Geyser's own submissions take, for yours to ``vk_queue``.

        ``vkQueueSubmit`` needs the queue externally synchronised. Submit inside the block and
        call no Geyser operation of this device there (they take the same lock). Waiting for it
        releases the GIL.
        """
        native = self.native
        native.lock_queue()
        try:
            yield
        finally:
            native.unlock_queue()

    def memory_usage(self) -> list[int] | None:
        """Bytes this process uses in each memory heap (VK_EXT_memory_budget), or None where the
        driver does not report it (lavapipe 22.3: there device memory is host memory)."""
        usage = self.native.heap_usage()
        return list(usage) if usage else None

    # -- formats ------------------------------------------------------------------------------
    def format_support(self, format: TextureFormat | int | str, usage: TextureUsage = DEFAULT_USAGE) -> FormatSupport:
        """Whether ``format`` with ``usage`` can be shared, and as which VkFormat, asked before any
        allocation (geyser::Device::format_support)."""
        info = format_info(format)
        return FormatSupport._from_native(self.native.format_support(int(info.format), int(usage)))

    # -- textures -----------------------------------------------------------------------------
    def create_shareable_texture(self, desc: TextureDescriptor) -> Texture:
        """A 2D texture whose memory is allocated exportable (VkExportMemoryAllocateInfo).

        The core picks the VkFormat (``format_support``) and raises UnsupportedFormatError with
        the reason when the device cannot share the format with that usage.
        """
        if not isinstance(desc, TextureDescriptor):
            raise InvalidArgumentTypeError(f"expected a TextureDescriptor, got {type(desc).__name__}")
        t = self.native.create_shareable_texture(desc.width, desc.height, int(desc.format), int(desc.usage),
                                                 desc.label or "")
        return Texture(t, self, desc)

    def export_texture(self, texture: Texture) -> TextureHandle:
        """A new handle (owning a new fd) for ``texture``. Close it, or use it as a context manager."""
        return TextureHandle(self.native.export_texture(_texture_native(texture)))

    def import_texture(self, handle: TextureHandle, descriptor: TextureDescriptor | None = None,
                       timeline: "Timeline | TimelineHandle | None" = None) -> Texture:
        """Imports a texture. ``handle`` keeps its fd (Geyser imports a duplicate).

        If ``descriptor`` is given, the handle must describe exactly that texture. ``timeline``
        (a Timeline or a TimelineHandle to import) becomes the texture's frame timeline for
        ``wait_for_texture``.
        """
        native_handle = _handle_native(handle)
        if descriptor is not None:
            theirs = TextureHandle(native_handle).descriptor_or_none()
            diffs = _descriptor_diff(descriptor, theirs, native_handle)
            if diffs:
                raise InvalidHandleError("handle does not match the expected descriptor: " + "; ".join(diffs))
        if isinstance(timeline, TimelineHandle):
            timeline = self.import_timeline(timeline)
        elif timeline is not None and not isinstance(timeline, Timeline):
            raise InvalidArgumentError(f"timeline must be a Timeline or TimelineHandle, got {type(timeline).__name__}")
        t = self.native.import_texture(native_handle, timeline.native if timeline is not None else None)
        tex = Texture(t, self, descriptor)  # None: derived from the texture on first use
        tex._timeline = timeline  # the caller's object is the texture's timeline
        return tex

    def release_texture_handle(self, handle: TextureHandle) -> None:
        """Releases what an export or import holds for ``handle``: closes its fd."""
        self.native.release_texture_handle(_handle_native(handle))

    # -- buffers ------------------------------------------------------------------------------
    def create_shareable_buffer(self, size: int, usage: BufferUsage = BufferUsage.STORAGE) -> Buffer:
        """A buffer whose memory is allocated exportable. It can always be copied to and from."""
        if int(size) <= 0:
            raise InvalidArgumentError(f"buffer size must be positive, got {size}")
        return Buffer(self.native.create_shareable_buffer(int(size), int(BufferUsage(usage))), self)

    def export_buffer(self, buffer: Buffer) -> BufferHandle:
        """A new handle (owning a new fd) for ``buffer``. Close it, or use it as a context manager."""
        return BufferHandle(self.native.export_buffer(_buffer_native(buffer)))

    def import_buffer(self, handle: BufferHandle) -> Buffer:
        """Imports a buffer; ``handle`` keeps its fd (Geyser imports a duplicate)."""
        return Buffer(self.native.import_buffer(_handle_native(handle)), self)

    def release_buffer_handle(self, handle: BufferHandle) -> None:
        """Closes ``handle``'s fd."""
        self.native.release_buffer_handle(_handle_native(handle))

    # -- semaphores and fences ------------------------------------------------------------------
    def create_shared_semaphore(self, kind: str = "binary", initial_value: int = 0) -> Semaphore:
        """An exportable semaphore (``"binary"`` or ``"timeline"``).

        Raises UnsupportedOperationError where the driver cannot export that kind (lavapipe cannot
        export any); ``create_shared_timeline`` then offers the portable timeline instead.
        """
        return Semaphore(self.native.create_shared_semaphore(_semaphore_type(kind), int(initial_value)), self)

    def create_semaphore(self, kind: str = "timeline", initial_value: int = 0) -> Semaphore:
        """A local (not exportable) semaphore, for ordering this process's own GPU work."""
        return Semaphore(self.native.create_semaphore(_semaphore_type(kind), int(initial_value)), self)

    def export_semaphore(self, semaphore: Semaphore, handle_type: str = "opaque_fd") -> SemaphoreHandle:
        """A new handle for a semaphore made with ``create_shared_semaphore``, as ``handle_type``."""
        return SemaphoreHandle(self.native.export_semaphore(semaphore.native, _native.external_handle_type_bit(handle_type)))

    def import_semaphore(self, handle: SemaphoreHandle, kind: str | None = None) -> Semaphore:
        """Imports a semaphore; if ``kind`` is given the handle must be of that kind."""
        if not isinstance(handle, SemaphoreHandle):
            _wrong_handle(handle, "a SemaphoreHandle")
        if kind is not None and kind != handle.kind:
            raise InvalidHandleError(f"expected a {kind} semaphore, the handle carries a {handle.kind} one")
        return Semaphore(self.native.import_semaphore(handle.native), self)

    # -- timelines -----------------------------------------------------------------------------
    def create_shared_timeline(self, kind: str = "auto", initial_value: int = 0) -> Timeline:
        """A timeline another process can import: ``"vulkan"`` (an exported timeline semaphore),
        ``"portable"`` (Geyser's memfd + futex counter) or ``"auto"``: Vulkan where this device
        can export timeline semaphores as opaque_fd, portable otherwise. ``timeline.kind`` says
        which it got.
        """
        return Timeline(self.native.create_shared_timeline(timeline_choice(kind), _u64(initial_value)), self)

    def create_timeline(self, kind: str = "auto", initial_value: int = 0) -> Timeline:
        """A timeline for this process's own ordering: ``"vulkan"`` is a local timeline semaphore
        (it cannot be exported), ``"portable"`` a portable timeline, ``"auto"`` Vulkan wherever the
        device has timeline semaphores."""
        return Timeline(self.native.create_timeline(timeline_choice(kind), _u64(initial_value)), self)

    def export_timeline(self, timeline: Timeline) -> TimelineHandle:
        """A new handle (owning a new fd) another process can import with ``import_timeline``."""
        if not isinstance(timeline, Timeline):
            raise InvalidArgumentTypeError(f"expected a geyser.Timeline, got {type(timeline).__name__}")
        return TimelineHandle._wrap(self.native.export_timeline(timeline.native))

    def import_timeline(self, handle: TimelineHandle) -> Timeline:
        """Imports a timeline; ``handle`` keeps its fd."""
        if not isinstance(handle, TimelineHandle):
            _wrong_handle(handle, "a TimelineHandle")
        return Timeline(self.native.import_timeline(handle.native), self)

    def signal_texture_ready(self, texture: Texture, value: int) -> None:
        """Says frame ``value`` of ``texture`` is ready (its timeline; one is created on first use)."""
        self.native.signal_texture_ready(_texture_native(texture), _u64(value))

    def wait_for_texture(self, texture: Texture, value: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits until frame ``value`` of ``texture`` is ready; geyser.TimeoutError after ``timeout`` s."""
        self.native.wait_for_texture(_texture_native(texture), _u64(value), to_ns(timeout))

    # -- GPU copies -----------------------------------------------------------------------------
    def copy_texture(self, src: Texture, dst: Texture, *, wait=(), signal=(), fence=None,
                     timeout: float = DEFAULT_TIMEOUT) -> None:
        """Copies ``src`` into ``dst`` on the GPU (same format and extent), ordered by wait/signal."""
        self.native.copy_texture(_texture_native(src), _texture_native(dst), **submit_sync(wait, signal, fence, timeout))

    def copy_buffer_to_texture(self, src: Buffer, dst: Texture, *, offset: int = 0, aspect=None, wait=(), signal=(),
                               fence=None, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Copies tightly packed texels at ``offset`` of ``src`` into ``dst`` on the GPU."""
        a = _default_aspect(_texture_native(dst).aspects, aspect)
        self.native.copy_buffer_to_texture(_buffer_native(src), _texture_native(dst), int(a), int(offset),
                                           **submit_sync(wait, signal, fence, timeout))

    def create_shared_fence(self, signaled: bool = False) -> Fence:
        """An exportable fence, signalled from the start if ``signaled``."""
        return Fence(self.native.create_shared_fence(bool(signaled)), self)

    def create_fence(self, signaled: bool = False) -> Fence:
        """A local (not exportable) fence."""
        return Fence(self.native.create_fence(bool(signaled)), self)

    def export_fence(self, fence: Fence, handle_type: str = "opaque_fd") -> FenceHandle:
        """A new handle for a fence made with ``create_shared_fence``, as ``handle_type``."""
        return FenceHandle(self.native.export_fence(fence.native, _native.external_handle_type_bit(handle_type)))

    def import_fence(self, handle: FenceHandle) -> Fence:
        """Imports a fence from a FenceHandle; ``handle`` keeps its fd."""
        if not isinstance(handle, FenceHandle):
            _wrong_handle(handle, "a FenceHandle")
        return Fence(self.native.import_fence(handle.native), self)


def _wrong_handle(handle, expected: str):
    """A handle of another kind is an invalid handle; anything else is an argument of the wrong type."""
    if isinstance(handle, (TextureHandle, BufferHandle, SemaphoreHandle, FenceHandle, TimelineHandle)):
        raise InvalidHandleError(f"expected {expected}, got a {type(handle).__name__} (a handle of another kind)")
    raise InvalidArgumentTypeError(f"expected {expected}, got {type(handle).__name__}")


def _semaphore_type(kind: str):
    if kind == "binary":
        return _native.SemaphoreType.BINARY
    if kind == "timeline":
        return _native.SemaphoreType.TIMELINE
    raise InvalidArgumentError(f"semaphore kind must be 'binary' or 'timeline', got {kind!r}")


def _texture_native(t):
    if not isinstance(t, Texture):
        raise InvalidArgumentTypeError(f"expected a geyser.Texture, got {type(t).__name__}")
    return t.native


def _buffer_native(b):
    if not isinstance(b, Buffer):
        raise InvalidArgumentTypeError(f"expected a geyser.Buffer, got {type(b).__name__}")
    return b.native


def _handle_native(h):
    if isinstance(h, (TextureHandle, BufferHandle)):
        return h.native
    if isinstance(h, _native.MemoryHandle):
        return h
    raise InvalidArgumentTypeError(f"expected a TextureHandle or BufferHandle, got {type(h).__name__}")


def _descriptor_diff(expected: TextureDescriptor, found: TextureDescriptor | None, h) -> list[str]:
    if found is None:
        return [f"handle carries no portable format (VkFormat {h.vk_format})"]
    diffs = []
    for name in ("width", "height", "format", "usage"):
        a, b = getattr(expected, name), getattr(found, name)
        if a != b:
            diffs.append(f"{name}: expected {a!r}, handle has {b!r}")
    return diffs


def device_selector(selector: Any) -> str:
    """The selector string Device::open takes, from an index, a UUID, a name, a CUDA ordinal
    (``"cuda:N"``) or a ``torch.device`` (``cuda`` with no index is torch's current device)."""
    if selector is None:
        return ""
    if type(selector).__module__ == "torch" and type(selector).__name__ == "device":
        if selector.type != "cuda":
            raise InvalidArgumentError(f"{selector!r} is not a CUDA device: a GPU is selected by torch.device('cuda', N)")
        index = selector.index
        if index is None:
            import torch  # a torch.device exists, so torch is imported already
            index = torch.cuda.current_device()
        return f"cuda:{int(index)}"
    if isinstance(selector, bool) or not isinstance(selector, (int, str)):
        raise InvalidArgumentTypeError(f"a device selector is an index, UUID, name, 'cuda:N' or a torch.device, "
                                   f"not {type(selector).__name__}")
    if isinstance(selector, int) and selector < 0:
        raise InvalidArgumentError(f"a device index is not negative, got {selector}")
    return str(selector)


def as_device(device: Any) -> "Device":
    """``device`` itself when it is a Device, else the Device its selector names (device_selector)."""
    return device if isinstance(device, Device) else Device(device)


def default_selector() -> str | None:
    return os.environ.get("GEYSER_DEVICE") or None


# -- the Devices this process has open ---------------------------------------------------------
# In the order they were opened, weakly: what geyser.pickling imports received objects into (the
# first open Device for the sender's GPU), so that a process has one VkDevice per GPU and what it
# receives works with what it made.
_open: "list[weakref.ref[Device]]" = []
_open_lock = threading.Lock()


def _register(device: "Device") -> None:
    with _open_lock:
        _open[:] = [r for r in _open if r() is not None]
        _open.append(weakref.ref(device))


def open_device_for(uuid: str) -> "Device | None":
    """The first Device this process opened for the GPU with device UUID ``uuid`` (hex) that is
    still open, or None."""
    with _open_lock:
        for ref in _open:
            d = ref()
            if d is not None and not d.closed and d.info.device_uuid == uuid:
                return d
    return None


def _forget_open_devices_after_fork() -> None:
    # A forked child must not use its parent's Vulkan devices (and a lock another thread held at
    # fork() stays held in the child).
    global _open_lock
    _open.clear()
    _open_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_open_devices_after_fork)
