"""Shareable textures and buffers, and the handles that carry them to another process."""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from . import _native
from ._owner import NativeOwner
from .errors import GeyserError, InvalidArgumentError, InvalidArgumentTypeError, InvalidHandleError
from .formats import Aspect, TextureFormat, TextureUsage, _NamedIntFlag, format_info, host_layout
from .sync import DEFAULT_TIMEOUT
from .timeline import Timeline, submit_sync


def command_buffer_value(command_buffer) -> int:
    """A VkCommandBuffer given as an int (its handle value), checked to fit a handle."""
    if isinstance(command_buffer, bool) or not isinstance(command_buffer, (int, np.integer)):
        raise InvalidArgumentError(
            "command_buffer must be a VkCommandBuffer's handle value as an int (with the vulkan package: "
            f"int(ffi.cast('uintptr_t', command_buffer))), got {type(command_buffer).__name__}"
        )
    value = int(command_buffer)
    if not 0 <= value < 1 << 64:
        raise InvalidArgumentError(f"command_buffer {value} is not a handle value")
    return value


__all__ = ["TextureDescriptor", "Texture", "TextureHandle", "Buffer", "BufferHandle", "BufferUsage"]

_USAGE_BITS = _native.TEXTURE_USAGE_ALL  # every TextureUsage flag


class BufferUsage(_NamedIntFlag):
    """VkBufferUsageFlags a shareable buffer is created with (copies are always allowed)."""

    COPY_SRC = 0x01
    COPY_DST = 0x02
    UNIFORM = 0x10
    STORAGE = 0x20
    INDEX = 0x40
    VERTEX = 0x80


@dataclass(frozen=True)
class TextureDescriptor:
    """A 2D texture: extent, format and usage (the original project's TextureDescriptor).

    The core checks it when it is made (geyser::check_descriptor): width and height in
    1..65536, one of the 21 formats, a non-empty usage of TextureUsage bits; InvalidArgumentError
    otherwise. The device's own limits are checked by ``create_shareable_texture``.
    """

    width: int
    height: int
    format: TextureFormat = TextureFormat.RGBA8_UNORM
    usage: TextureUsage = TextureUsage.COPY_SRC | TextureUsage.COPY_DST | TextureUsage.TEXTURE_BINDING
    label: str | None = None

    def __post_init__(self):
        for name in ("width", "height", "usage"):
            v = getattr(self, name)
            if isinstance(v, bool) and name != "usage":
                raise InvalidArgumentError(f"{name} must be an int, got bool")
            try:
                object.__setattr__(self, name, operator.index(v))
            except TypeError:
                raise InvalidArgumentError(f"{name} must be an int, got {type(v).__name__}") from None
        object.__setattr__(self, "format", format_info(self.format).format)
        _native.check_descriptor(self.width, self.height, int(self.format), self.usage)
        object.__setattr__(self, "usage", TextureUsage(self.usage))


def _default_aspect(aspects: int, aspect: Aspect | None) -> Aspect:
    if aspect is not None:
        aspect = Aspect(aspect)
        if aspect not in (Aspect.COLOR, Aspect.DEPTH, Aspect.STENCIL) or not (aspects & aspect):
            raise InvalidArgumentError(f"this texture has aspects {Aspect(aspects)!r}, not {aspect!r}")
        return aspect
    if aspects & Aspect.COLOR:
        return Aspect.COLOR
    if aspects == Aspect.DEPTH | Aspect.STENCIL:
        raise InvalidArgumentError("a depth-stencil texture needs aspect=Aspect.DEPTH or Aspect.STENCIL")
    return Aspect(aspects)


class _Memory(NativeOwner):
    """What a Texture and a Buffer share: a native object with exportable memory behind it."""

    imported = property(lambda self: self.native.imported,
                        doc="Whether this object was imported from a handle rather than created here.")
    dedicated = property(lambda self: self.native.dedicated,
                         doc="Whether the memory is a dedicated allocation (VkMemoryDedicatedAllocateInfo).")
    allocation_size = property(lambda self: self.native.allocation_size,
                               doc="Bytes of the underlying memory allocation (at least the data's size).")
    memory_type_index = property(lambda self: self.native.memory_type_index,
                                 doc="The index of the Vulkan memory type the memory lives in.")
    vk_memory = property(lambda self: self.native.vk_memory, doc="The VkDeviceMemory, as an int.")


class Texture(_Memory):
    """A shareable 2D texture. Create with ``Device.create_shareable_texture`` or import one.

    Host I/O (``upload``/``download``) goes through a staging buffer and copy commands. The
    texture holds its Vulkan device alive; ``close()`` frees it early (also a context manager).
    """

    def __init__(self, native, device, descriptor: TextureDescriptor | None):
        self._native = native
        self._device = device
        self._descriptor = descriptor
        self._timeline = None  # the wrapper of native.timeline, so that it stays one object

    @property
    def timeline(self) -> Timeline | None:
        """The Timeline that says which frame is ready (signal_texture_ready / wait_for_texture)."""
        n = self.native.timeline
        if n is None:
            self._timeline = None
        elif self._timeline is None or self._timeline._native is not n:
            self._timeline = Timeline(n, self._device)
        return self._timeline

    @timeline.setter
    def timeline(self, timeline: Timeline | None) -> None:
        if timeline is not None and not isinstance(timeline, Timeline):
            raise InvalidArgumentError(f"a texture's timeline is a geyser.Timeline, got {type(timeline).__name__}")
        self.native.timeline = timeline.native if timeline is not None else None
        self._timeline = timeline

    def __repr__(self) -> str:
        if self._native is None:
            return "<geyser.Texture closed>"
        fmt = self.format.name if self.format is not None else f"VkFormat {self._native.vk_format}"
        return f"<geyser.Texture {self.width}x{self.height} {fmt}{' imported' if self.imported else ''}>"

    @property
    def device(self):
        """The geyser.Device this texture belongs to (None once closed)."""
        return self._device

    @property
    def descriptor(self) -> TextureDescriptor | None:
        """The texture's TextureDescriptor (None for a texture described only in Vulkan terms)."""
        if self._descriptor is None and self._native is not None and self._native.texture_format:
            n = self._native
            try:
                self._descriptor = TextureDescriptor(n.width, n.height, TextureFormat(n.texture_format),
                                                     TextureUsage(n.texture_usage & _USAGE_BITS))
            except (ValueError, InvalidArgumentError):
                return None
        return self._descriptor

    width = property(lambda self: self.native.width, doc='Width in texels.')
    height = property(lambda self: self.native.height, doc='Height in texels.')
    vk_format = property(lambda self: self.native.vk_format, doc='The VkFormat, as an int.')
    vk_image = property(lambda self: self.native.vk_image, doc="The VkImage, as an int (docs/access.md).")
    external_layout = property(
        lambda self: self.native.external_layout,
        doc="The VkImageLayout the image rests in, released to VK_QUEUE_FAMILY_EXTERNAL (an int).",
    )

    def begin_access(self, command_buffer: int, layout: int, stages: int, access: int) -> None:
        """Records into your command buffer what makes the image yours (docs/access.md).

        The acquire from VK_QUEUE_FAMILY_EXTERNAL in ``external_layout`` and the transition to
        ``layout`` (a VkImageLayout), visible to ``access`` (VkAccessFlags) at ``stages``
        (VkPipelineStageFlags): the barriers Geyser's own copies record. ``command_buffer`` is a
        VkCommandBuffer's handle value, recording, outside a render pass, from a pool for
        ``device.queue_family_index``. A texture no operation has used yet is first released by
        a submission this call waits for. Record ``end_access`` after your commands.
        """
        self.native.begin_access(command_buffer_value(command_buffer), int(layout), int(stages), int(access))

    def end_access(self, command_buffer: int, layout: int, stages: int, access: int) -> None:
        """Records the transition from ``layout`` back to ``external_layout`` and the release to
        VK_QUEUE_FAMILY_EXTERNAL, making the writes of ``access`` at ``stages`` available."""
        self.native.end_access(command_buffer_value(command_buffer), int(layout), int(stages), int(access))

    @property
    def format(self) -> TextureFormat | None:
        """The TextureFormat (None where the texture is described only by a VkFormat)."""
        f = self.native.texture_format
        return TextureFormat(f) if f else None

    @property
    def usage(self) -> TextureUsage:
        """The usage flags it was created with."""
        return TextureUsage(self.native.texture_usage)

    def host_layout(self, aspect: Aspect | None = None) -> tuple[np.dtype, tuple[int, ...]]:
        """The numpy dtype and shape ``upload`` takes and ``download`` returns for ``aspect``."""
        if self.format is None:
            raise GeyserError("this texture has no portable format; use the core's byte-level API")
        a = _default_aspect(self.native.aspects, aspect)
        return host_layout(self.format, self.vk_format, a, self.width, self.height)

    def upload(self, array, aspect: Aspect | None = None, *, wait=(), signal=(), fence=None,
               timeout: float = DEFAULT_TIMEOUT) -> None:
        """Copies a host array of exactly ``host_layout(aspect)`` into the texture.

        ``wait``/``signal`` take ``(timeline or semaphore, value)`` pairs and ``fence`` a Fence
        (the core's SubmitSync); ``timeout`` bounds host waits on portable timelines.
        """
        a = _default_aspect(self.native.aspects, aspect)
        data = self._host_array(array, a)
        self.native.upload(int(a), data, **submit_sync(wait, signal, fence, timeout))

    def _host_array(self, array, aspect: Aspect) -> np.ndarray:
        """``array`` as the C-contiguous host copy of ``aspect``; InvalidArgumentError if it is not one."""
        dtype, shape = self.host_layout(aspect)
        arr = np.asarray(array)
        if arr.dtype != dtype or arr.shape != shape:
            raise InvalidArgumentError(
                f"expected an array of dtype {dtype} and shape {shape}, got dtype {arr.dtype} and shape {arr.shape}"
            )
        return np.ascontiguousarray(arr)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the host array of the default aspect: ``(height, width)`` or
        ``(height, width, channels)`` (``host_layout()``)."""
        return self.host_layout()[1]

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the host array of the default aspect (``host_layout()``)."""
        return self.host_layout()[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the host array of the default aspect (what ``download()`` returns)."""
        dtype, shape = self.host_layout()
        return int(np.prod(shape)) * dtype.itemsize

    def download(self, aspect: Aspect | None = None, *, out: np.ndarray | None = None, wait=(), signal=(),
                 fence=None, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
        """The texture's contents as a host array (``host_layout(aspect)``); sync as ``upload``.

        With ``out`` (a writable C-contiguous array of exactly that dtype and shape) the texels
        are written there and ``out`` is returned, so a frame loop allocates nothing; otherwise
        a new array. InvalidArgumentError for an ``out`` that does not fit.
        """
        a = _default_aspect(self.native.aspects, aspect)
        dtype, shape = self.host_layout(a)
        if out is None:
            out = np.empty(shape, dtype)
        elif not isinstance(out, np.ndarray):
            raise InvalidArgumentTypeError(f"out must be a numpy array, got {type(out).__name__}")
        elif out.dtype != dtype or out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
            raise InvalidArgumentError(
                f"out must be a writable C-contiguous array of dtype {dtype} and shape {shape}, got dtype "
                f"{out.dtype}, shape {out.shape}{'' if out.flags.c_contiguous else ', not C-contiguous'}"
                f"{'' if out.flags.writeable else ', read-only'}")
        self.native.download_into(int(a), out, **submit_sync(wait, signal, fence, timeout))
        return out


class Buffer(_Memory):
    """A shareable linear buffer. Create with ``Device.create_shareable_buffer`` or import one."""

    def __init__(self, native, device):
        self._native = native
        self._device = device

    def __repr__(self) -> str:
        if self._native is None:
            return "<geyser.Buffer closed>"
        return f"<geyser.Buffer {self.size} bytes{' imported' if self.imported else ''}>"

    device = property(lambda self: self._device, doc='The geyser.Device this object belongs to (None once closed).')
    size = property(lambda self: self.native.size, doc='Size in bytes.')
    vk_buffer = property(lambda self: self.native.vk_buffer, doc="The VkBuffer, as an int (docs/access.md).")

    def begin_access(self, command_buffer: int, stages: int, access: int) -> None:
        """``Texture.begin_access`` for the whole buffer, without layouts (docs/access.md)."""
        self.native.begin_access(command_buffer_value(command_buffer), int(stages), int(access))

    def end_access(self, command_buffer: int, stages: int, access: int) -> None:
        """Records the release back to VK_QUEUE_FAMILY_EXTERNAL (``Texture.end_access``)."""
        self.native.end_access(command_buffer_value(command_buffer), int(stages), int(access))

    @property
    def usage(self) -> BufferUsage:
        """The usage flags it was created with."""
        return BufferUsage(self.native.usage)

    def write(self, data, offset: int = 0, *, wait=(), signal=(), fence=None, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Copies ``data`` (bytes or any C-contiguous buffer) to ``offset``; sync as ``Texture.upload``."""
        if offset < 0:
            raise InvalidArgumentError(f"offset must be >= 0, got {offset}")
        raw = np.ascontiguousarray(np.frombuffer(memoryview(data).cast("B"), np.uint8))
        self.native.write(raw, offset, **submit_sync(wait, signal, fence, timeout))

    def read(self, size: int | None = None, offset: int = 0, *, wait=(), signal=(), fence=None,
             timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """``size`` bytes from ``offset`` (to the end by default); sync as ``Texture.upload``."""
        if offset < 0:
            raise InvalidArgumentError(f"offset must be >= 0, got {offset}")
        if size is None:
            size = self.size - offset
        if size < 0:
            raise InvalidArgumentError(f"size must be >= 0, got {size}")
        out = bytearray(size)
        self.native.read_into(out, offset, **submit_sync(wait, signal, fence, timeout))
        return bytes(out)

    def read_into(self, out, offset: int = 0) -> None:
        """Fills a writable buffer (e.g. a numpy array) from ``offset``."""
        self.native.read_into(out, offset)

    @property
    def host_mappable(self) -> bool:
        """Whether ``map()`` can view the memory itself: it is host-visible and host-coherent
        (every buffer on a CPU driver; resizable-BAR memory on GPUs)."""
        return self.native.host_mappable

    def map(self, dtype: np.dtype | str = np.uint8, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A writable numpy view of the buffer's memory itself, no copy (the core's ``Buffer::map``).

        ``dtype`` and ``shape`` (default: as many ``dtype`` items as fit) reinterpret the bytes.
        Writes through the view are what the GPU and every importing process see; order them
        like host I/O (wait for the writer's timeline first, signal yours after). The view keeps
        the memory mapped and alive after ``close()``. UnsupportedOperationError, saying why,
        where the memory is not host-visible and host-coherent (use ``read``/``write`` there).
        """
        native = self.native
        native.map()
        view = np.asarray(memoryview(native))  # the buffer protocol: the mapping, kept alive by the view
        dt = np.dtype(dtype)
        if shape is None:
            return view[: view.size // dt.itemsize * dt.itemsize].view(dt)
        count = int(np.prod(shape)) * dt.itemsize
        if count > view.size:
            raise InvalidArgumentError(f"shape {tuple(shape)} of {dt} needs {count} bytes; the buffer has {view.size}")
        return view[:count].view(dt).reshape(shape)


class _MemoryHandle:
    """Base of TextureHandle and BufferHandle: owns an fd plus the description an importer needs."""

    _kind = None

    def __init__(self, native):
        self._native = native

    @property
    def native(self):
        """The geyser._native object this wraps; InvalidHandleError once closed."""
        return self._native

    @property
    def fd(self) -> int:
        """The fd this handle owns (-1 once closed). Borrow it; do not close it yourself."""
        return self._native.fd

    @property
    def handle_type(self) -> str:
        """The external handle type: "opaque_fd", "sync_fd" or "dma_buf"."""
        return _native.external_handle_type_name(self._native.handle_type)

    size = property(lambda self: self._native.size, doc="The allocation size in bytes.")
    memory_type_index = property(lambda self: self._native.memory_type_index,
                                  doc='The index of the Vulkan memory type the memory lives in.')
    dedicated = property(lambda self: self._native.dedicated,
                          doc='Whether the memory is a dedicated allocation (VkMemoryDedicatedAllocateInfo).')
    device_uuid = property(lambda self: self._native.device_uuid.hex(), doc="The exporting device's UUID, as hex.")
    driver_uuid = property(lambda self: self._native.driver_uuid.hex(), doc="The exporting driver's UUID, as hex.")

    def close(self) -> None:
        """Closes the fd. Idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native.fd < 0

    def detach(self) -> int:
        """Gives up the fd: the caller owns it and must close it. InvalidHandleError once closed."""
        _check_open(self)
        return self._native.detach()

    def duplicate(self):
        """An independent handle with its own duplicate fd. InvalidHandleError once closed."""
        _check_open(self)
        return type(self)(self._native.duplicate())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def to_bytes(self) -> bytes:
        """The handle's wire encoding, without the fd (the core's ``encode_memory_handle``): the
        bytes a channel sends and pickling carries. ``from_bytes(payload, fd)`` rebuilds it."""
        return _native.encode_memory_handle(self._native)

    @classmethod
    def from_bytes(cls, payload: bytes, fd: int):
        """A handle from ``to_bytes()`` output and its fd, decoded by the core
        (``decode_memory_handle``). Takes ownership of ``fd`` and closes it on every failure:
        ProtocolError for a payload that breaks the wire format, TypeError for a payload that is
        not bytes. An ``fd`` that is not an int raises TypeError, one no fd can have
        InvalidHandleError; neither is owned. Whether the fd and the description fit the memory
        (and the class the resource kind) is the import's to check."""
        return cls(_native.decode_memory_handle(payload, fd))


class TextureHandle(_MemoryHandle):
    """An exported texture: an fd it owns plus everything an importer must know."""

    _kind = "texture"

    width = property(lambda self: self._native.width, doc='Width in texels.')
    height = property(lambda self: self._native.height, doc='Height in texels.')
    vk_format = property(lambda self: self._native.vk_format, doc='The VkFormat, as an int.')
    vk_usage = property(lambda self: self._native.vk_usage, doc='The VkImageUsageFlags the image was created with.')
    vk_tiling = property(lambda self: self._native.vk_tiling, doc='The VkImageTiling the image was created with.')
    vk_layout = property(lambda self: self._native.vk_layout,
                          doc='The VkImageLayout the image rests in, released to VK_QUEUE_FAMILY_EXTERNAL.')

    @property
    def format(self) -> TextureFormat | None:
        """The TextureFormat (None where the texture is described only by a VkFormat)."""
        f = self._native.texture_format
        return TextureFormat(f) if f in TextureFormat._value2member_map_ else None

    @property
    def usage(self) -> TextureUsage:
        """The usage flags it was created with."""
        return TextureUsage(self._native.texture_usage & _USAGE_BITS)

    def descriptor_or_none(self) -> TextureDescriptor | None:
        """The TextureDescriptor the handle describes, or None where it carries no portable format."""
        if self.format is None or not self.usage or self.width <= 0 or self.height <= 0:
            return None
        try:
            return TextureDescriptor(self.width, self.height, self.format, self.usage)
        except InvalidArgumentError:
            return None

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.TextureHandle closed>"
        fmt = self.format.name if self.format else f"VkFormat {self.vk_format}"
        return f"<geyser.TextureHandle fd={self.fd} {self.width}x{self.height} {fmt} size={self.size}>"


class BufferHandle(_MemoryHandle):
    """An exported buffer: an fd it owns plus everything an importer must know."""

    _kind = "buffer"

    buffer_size = property(lambda self: self._native.buffer_size,
                            doc="The buffer's size in bytes (the allocation may be larger).")
    buffer_usage = property(lambda self: self._native.buffer_usage,
                             doc='The VkBufferUsageFlags the buffer was created with.')

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.BufferHandle closed>"
        return f"<geyser.BufferHandle fd={self.fd} {self.buffer_size} bytes>"


def _check_open(handle) -> None:
    """InvalidHandleError for a handle whose fd is closed or detached (shared by every handle class)."""
    if handle.closed:
        raise InvalidHandleError(f"this {type(handle).__name__} is closed (its fd was closed or detached)")
