"""CUDA interop: shared Vulkan memory as PyTorch and CuPy tensors, Vulkan semaphores as CUDA sync.

A buffer another process rendered with Vulkan becomes a CUDA tensor without a copy::

    import torch, geyser, geyser.cuda
    device = geyser.Device()
    gpu = geyser.cuda.CudaDevice(device)          # the CUDA device with the same UUID
    mapped = gpu.import_buffer(handle)            # a BufferHandle (or a local geyser.Buffer)
    x = torch.from_dlpack(mapped.view("float32", (1080, 1920, 4)))   # same memory, no copy
    geyser.cuda.wait_on_stream(ready, n, torch.cuda.current_stream())  # GPU waits, host doesn't
    y = x * 2
    geyser.cuda.signal_on_stream(done, n, torch.cuda.current_stream())

What is here:

* :func:`available` / :func:`status`: whether the CUDA driver (``libcuda.so.1``, loaded at run
  time: Geyser builds and imports without CUDA) can be used, and if not, why.
* :class:`CudaDevice`: the CUDA device whose UUID is the Vulkan device's (``DeviceMismatchError``
  when there is none) and its primary context, which PyTorch and CuPy share.
* :class:`CudaBuffer`: buffer memory mapped linearly (``cuExternalMemoryGetMappedBuffer``). It and
  its typed :meth:`CudaBuffer.view` support ``__dlpack__`` / ``__dlpack_device__`` and
  ``__cuda_array_interface__``, so ``torch.from_dlpack(v)``, ``torch.as_tensor(v, device="cuda")``
  and ``cupy.asarray(v)`` share the memory.
* :class:`CudaTexture`: texture memory mapped as a CUDA array. A Vulkan texture has optimal
  tiling, a driver-private texel order, so it cannot be viewed as a linear tensor; it is reached
  by device-to-device copies, :meth:`CudaTexture.copy_to` and :meth:`CudaTexture.copy_from`.
* :class:`PeerCopy`: copies buffers and textures from one GPU's CUDA mapping to another's (or
  the same GPU's) on the GPUs, ordered by timelines on both, by peer copy or host staging.
* :func:`tensor_views`, :func:`frame_texture`, :func:`wait_frame`, :func:`end_frame`,
  :func:`release`: a named stream's frames on CUDA streams (tensor views or a texture's CUDA
  array, the GPU wait on a frame's ready point, the stream's signal of a frame written, the
  release after the stream's reads), over the core's ``CudaSubscriber`` / ``CudaSender``
  (``geyser/cuda_frames.hpp``), which C++ engines use directly.
* :class:`CudaSemaphore`, :func:`wait_on_stream`, :func:`signal_on_stream`: exported Vulkan
  semaphores (timeline or binary) that a CUDA stream waits on and signals, with no host wait.
  Portable timelines live in host memory and cannot be waited on by a stream: create the
  timeline with ``kind="vulkan"`` on a device that exports semaphores.

Lifetimes: a tensor made with DLPack keeps the mapping alive through its deleter; one made
through ``__cuda_array_interface__`` keeps the object it read alive, and that object keeps the
mapping after ``close()`` once it has lent it, until the object itself is gone. So ``close()``
never frees memory a tensor still points at; it refuses further use of the Python object. A
CudaTexture or CudaSemaphore closed while work it enqueued is still queued (say, a stream wait
for a value that is never signalled) is left allocated rather than freed under that work.
Streams are given as ``torch.cuda.Stream``, ``cupy.cuda.Stream``, or an integer CUstream;
``None`` is the legacy default stream (0).
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from . import _native
from ._owner import NativeOwner
from .device import Device, as_device
from .errors import InvalidArgumentError, InvalidHandleError, UnsupportedOperationError
from .memory import Buffer, BufferHandle, Texture, TextureHandle
from .sender import Frame, Sender, Subscriber
from .sync import DEFAULT_TIMEOUT, Semaphore, SemaphoreHandle, to_ns
from .timeline import Timeline, TimelineHandle

__all__ = ["CudaBuffer", "CudaDevice", "CudaSemaphore", "CudaTexture", "CudaView", "PeerCopy", "available",
           "copy_peer", "cuda_device", "end_frame", "frame_texture", "release", "signal_on_stream", "status", "tensor_views",
           "wait_frame", "wait_on_stream"]

_CU_FORMAT_DTYPES = {0x01: "uint8", 0x02: "uint16", 0x03: "uint32", 0x08: "int8", 0x09: "int16", 0x0A: "int32",
                     0x10: "float16", 0x20: "float32"}
# DLPack type codes
_DL_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}
_KDLCUDA = 2


def status():
    """``CudaStatus`` with ``available``, ``reason`` (why not), ``driver_version``, ``device_count``."""
    return _native.cuda.cuda_status()


def available() -> bool:
    """Whether the CUDA driver API can be used here; :func:`status` says why not."""
    return status().available


def _stream(stream: Any) -> int:
    """A CUstream integer from a torch or cupy stream, an int, or None (the legacy default stream)."""
    if stream is None:
        return 0
    for attr in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        value = getattr(stream, attr, None)
        if value is not None:
            return int(value)
    if isinstance(stream, (int, np.integer)) and not isinstance(stream, bool) and stream >= 0:
        return int(stream)
    raise InvalidArgumentError(f"expected a CUDA stream (torch.cuda.Stream, cupy.cuda.Stream or an int), "
                               f"got {type(stream).__name__}")


class CudaDevice(NativeOwner):
    """The CUDA device that is the same GPU as a Vulkan :class:`geyser.Device` (matched by UUID).

    ``device`` is a Device or any selector Device takes: an index, UUID or name, or a CUDA ordinal
    (``"cuda:1"``, ``torch.device("cuda", 1)``); None is Device()'s default."""

    def __init__(self, device: Any = None):
        device = as_device(device)
        self._native = _native.cuda.CudaContext.for_device(device.native)
        self._device = device

    device = property(lambda self: self._device, doc="The Vulkan device.")
    ordinal = property(lambda self: self.native.ordinal, doc="The CUDA device ordinal (torch's cuda:N).")
    name = property(lambda self: self.native.name, doc="The device's name.")
    uuid = property(lambda self: self.native.uuid.hex(), doc="The CUDA device's UUID, as hex (the Vulkan device's).")

    def import_buffer(self, source: Buffer | BufferHandle) -> "CudaBuffer":
        """Maps a buffer's memory into CUDA. ``source`` is a handle (kept open: close it yourself)
        or a local Buffer (exported here for the import)."""
        if isinstance(source, Buffer):
            with self._same_device(source).export_buffer(source) as handle:
                return CudaBuffer(_native.cuda.CudaBuffer.import_handle(self.native, handle.native), self)
        if not isinstance(source, BufferHandle):
            raise InvalidHandleError(f"expected a geyser.Buffer or BufferHandle, got {type(source).__name__}")
        return CudaBuffer(_native.cuda.CudaBuffer.import_handle(self.native, source.native), self)

    def import_texture(self, source: Texture | TextureHandle) -> "CudaTexture":
        """Maps a texture's memory into CUDA as an array, for copies to and from tensors."""
        if isinstance(source, Texture):
            with self._same_device(source).export_texture(source) as handle:
                return CudaTexture(_native.cuda.CudaTexture.import_handle(self.native, handle.native), self)
        if not isinstance(source, TextureHandle):
            raise InvalidHandleError(f"expected a geyser.Texture or TextureHandle, got {type(source).__name__}")
        return CudaTexture(_native.cuda.CudaTexture.import_handle(self.native, source.native), self)

    def import_semaphore(self, source: Timeline | Semaphore | TimelineHandle | SemaphoreHandle) -> "CudaSemaphore":
        """Imports a Vulkan timeline or binary semaphore for CUDA streams to wait on and signal."""
        if isinstance(source, Timeline):
            if source.kind != "vulkan":
                raise UnsupportedOperationError(
                    "a portable timeline lives in host memory, which a CUDA stream cannot wait on; create the "
                    "timeline with kind='vulkan' on a device that exports timeline semaphores")
            with self._same_device(source).export_timeline(source) as handle:
                return self._import_sync(handle.semaphore_handle)
        if isinstance(source, Semaphore):
            with self._same_device(source).export_semaphore(source) as handle:
                return self._import_sync(handle)
        if isinstance(source, TimelineHandle):
            if source.semaphore_handle is None:
                raise UnsupportedOperationError("a portable timeline handle cannot be imported into CUDA (host memory)")
            source = source.semaphore_handle
        if not isinstance(source, SemaphoreHandle):
            raise InvalidHandleError(f"expected a Timeline, Semaphore or their handle, got {type(source).__name__}")
        return self._import_sync(source)

    def _import_sync(self, handle: SemaphoreHandle) -> "CudaSemaphore":
        return CudaSemaphore(_native.cuda.CudaSemaphore.import_handle(self.native, handle.native), self)

    def _same_device(self, obj) -> Device:
        device = obj.device
        if device is None:
            raise InvalidHandleError(f"this {type(obj).__name__} is closed")
        return device

    def synchronize(self, stream: Any = None) -> None:
        """Waits on the host (without the GIL) until ``stream``'s work is done."""
        self.native.synchronize(_stream(stream))

    def __repr__(self) -> str:
        return "<geyser.cuda.CudaDevice closed>" if self.closed else f"<geyser.cuda.CudaDevice cuda:{self.ordinal} {self.name}>"


class _Lendable(NativeOwner):
    """A mapping handed to tensors. Reading ``__cuda_array_interface__`` lends the native mapping
    to whoever holds this object, so close() stops further use but never frees memory a tensor
    still points at."""

    _lent = None

    def _lend(self):
        native = self.native
        self._lent = native
        return native


class CudaView(_Lendable):
    """A typed window (dtype, shape, strides, byte offset) onto a :class:`CudaBuffer`'s memory."""

    def __init__(self, mapping, ordinal: int, dtype, shape: Sequence[int], strides: Sequence[int] | None, offset: int):
        self._native = mapping
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in _DL_CODES or self.dtype.byteorder == ">" or self.dtype.itemsize > 8:
            raise InvalidArgumentError(f"a CUDA view needs a native-order bool, int, uint or float dtype, got {self.dtype}")
        self.shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in self.shape):
            raise InvalidArgumentError(f"shape must not be negative, got {self.shape}")
        item = self.dtype.itemsize
        if strides is None:
            contiguous, acc = [], item
            for s in reversed(self.shape):
                contiguous.append(acc)
                acc *= max(s, 1)
            self.strides = tuple(reversed(contiguous))
        else:
            self.strides = tuple(int(s) for s in strides)
            if len(self.strides) != len(self.shape) or any(s < 0 or s % item for s in self.strides):
                raise InvalidArgumentError(f"strides {self.strides} (bytes) must be non-negative multiples of the "
                                           f"itemsize {item}, one per dimension of {self.shape}")
        self.offset = int(offset)
        if self.offset < 0 or self.offset % item:
            raise InvalidArgumentError(f"offset {self.offset} must be a non-negative multiple of the itemsize {item}")
        extent = 0 if 0 in self.shape else item + sum((n - 1) * s for n, s in zip(self.shape, self.strides))
        if self.offset + extent > mapping.size:
            raise InvalidArgumentError(f"a {self.dtype} view of shape {self.shape} at offset {self.offset} needs "
                                       f"{self.offset + extent} bytes; the buffer has {mapping.size}")
        self._ordinal = ordinal

    @property
    def nbytes(self) -> int:
        """Bytes the view spans."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def device_pointer(self) -> int:
        """The CUdeviceptr of the view's first byte, as an int."""
        return self.native.device_pointer + self.offset

    @property
    def __cuda_array_interface__(self) -> dict:
        native = self._lend()
        contiguous = self.strides == CudaView(native, self._ordinal, self.dtype, self.shape, None, self.offset).strides
        pointer = 0 if self.nbytes == 0 else native.device_pointer + self.offset  # the interface's rule for empty arrays
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (pointer, False),
                "strides": None if contiguous else self.strides, "version": 3, "stream": None}

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDLCUDA, self._ordinal)

    def __dlpack__(self, *, stream: Any = None, max_version=None, dl_device=None, copy: bool | None = None):
        """A DLPack capsule over the same memory (``copy=True`` is refused: this is a zero-copy view).

        ``stream`` needs no action: Geyser has no pending CUDA work on the mapping; order against the
        Vulkan side with :func:`wait_on_stream`."""
        if copy:
            raise BufferError("geyser.cuda views share memory; a copy was asked for (copy=True)")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"this view is on {self.__dlpack_device__()}, not {tuple(dl_device)}")
        item = self.dtype.itemsize
        return self.native.dlpack(self.offset, list(self.shape), [s // item for s in self.strides],
                                  _DL_CODES[self.dtype.kind], item * 8)

    def __repr__(self) -> str:
        return f"<geyser.cuda.CudaView {self.dtype} {self.shape} cuda:{self._ordinal}{' closed' if self.closed else ''}>"


class CudaBuffer(_Lendable):
    """A Vulkan buffer's memory mapped into CUDA: ``device_pointer`` to ``size`` bytes.

    As an array (``__cuda_array_interface__``, ``__dlpack__``) it is 1-D uint8; :meth:`view` gives
    any dtype and shape."""

    def __init__(self, native, cuda_device: CudaDevice):
        self._native = native
        self._ordinal = cuda_device.ordinal

    device_pointer = property(lambda self: self.native.device_pointer,
                               doc='The CUdeviceptr of the mapped memory, as an int.')
    size = property(lambda self: self.native.size, doc='Size in bytes.')

    def view(self, dtype="uint8", shape: Sequence[int] | int | None = None, strides: Sequence[int] | None = None,
             offset: int = 0) -> CudaView:
        """A typed view: ``shape`` defaults to as many items as fit after ``offset``; ``strides`` are
        in bytes (numpy's convention), C-contiguous when omitted."""
        item = np.dtype(dtype).itemsize
        if shape is None:
            shape = ((self.size - int(offset)) // item,)
        elif isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        return CudaView(self.native, self._ordinal, dtype, shape, strides, offset)

    @property
    def __cuda_array_interface__(self) -> dict:
        native = self._lend()
        return {"shape": (native.size,), "typestr": "|u1", "data": (native.device_pointer, False), "strides": None,
                "version": 3, "stream": None}

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDLCUDA, self._ordinal)

    def __dlpack__(self, **kwargs):
        return self.view().__dlpack__(**kwargs)

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.cuda.CudaBuffer closed>"
        return f"<geyser.cuda.CudaBuffer {self.size} bytes at {self.device_pointer:#x} cuda:{self._ordinal}>"


def _cai(tensor: Any, writable: bool) -> dict:
    cai = getattr(tensor, "__cuda_array_interface__", None)
    if not isinstance(cai, dict):
        raise InvalidArgumentError(f"expected a CUDA tensor (with __cuda_array_interface__), got {type(tensor).__name__}")
    if writable and cai["data"][1]:
        raise InvalidArgumentError("the destination tensor is read-only")
    return cai


class CudaTexture(NativeOwner):
    """A Vulkan texture's memory mapped into CUDA as an array (level 0).

    ``shape`` and ``dtype`` are those of the tensor it copies to and from: (height, width) or
    (height, width, channels)."""

    def __init__(self, native, cuda_device: CudaDevice):
        self._native = native
        fmt = native.format
        self.dtype = np.dtype(_CU_FORMAT_DTYPES[fmt.cu_format])
        self.channels = fmt.channels
        self.width, self.height = native.width, native.height
        self.shape = (self.height, self.width) if fmt.channels == 1 else (self.height, self.width, fmt.channels)

    def _pitch(self, cai: dict, what: str) -> int:
        shape = tuple(cai["shape"])
        if np.dtype(cai["typestr"]) != self.dtype or shape not in (self.shape, (self.height, self.width, 1)):
            raise InvalidArgumentError(f"{what} must be {self.dtype} of shape {self.shape}, got "
                                       f"{np.dtype(cai['typestr'])} of shape {shape}")
        row = self.width * self.channels * self.dtype.itemsize
        strides = cai.get("strides")
        if strides is None:
            return row
        texel = self.channels * self.dtype.itemsize
        inner_ok = strides[1] == texel and (len(strides) == 2 or strides[2] == self.dtype.itemsize)
        if not inner_ok or strides[0] < row:
            raise InvalidArgumentError(f"{what} must have contiguous rows (strides {tuple(strides)} for {shape})")
        return int(strides[0])

    def _prepare(self, native, tensor: Any, writable: bool, stream: int, what: str) -> tuple[int, int]:
        cai = _cai(tensor, writable)
        pitch = self._pitch(cai, what)
        row = self.width * self.channels * self.dtype.itemsize
        native.context.check_pointer(cai["data"][0], (self.height - 1) * pitch + row, what)
        # __cuda_array_interface__ v3: a "stream" the data must be synchronized on before use (1 is
        # the legacy default stream, 2 the per-thread one); order ours after it on the GPU.
        theirs = cai.get("stream")
        if theirs is not None:
            native.context.order_after(stream, int(theirs))
        return cai["data"][0], pitch

    def copy_to(self, tensor: Any, stream: Any = None) -> None:
        """Enqueues a device-to-device copy of the whole texture into ``tensor`` on ``stream``."""
        native, s = self.native, _stream(stream)
        pointer, pitch = self._prepare(native, tensor, True, s, "the destination tensor")
        native.copy_to_device(pointer, pitch, s)

    def copy_from(self, tensor: Any, stream: Any = None) -> None:
        """Enqueues a device-to-device copy of ``tensor`` into the whole texture on ``stream``."""
        native, s = self.native, _stream(stream)
        pointer, pitch = self._prepare(native, tensor, False, s, "the source tensor")
        native.copy_from_device(pointer, pitch, s)

    def __repr__(self) -> str:
        return f"<geyser.cuda.CudaTexture {self.width}x{self.height} {self.dtype}x{self.channels}{' closed' if self.closed else ''}>"


class CudaSemaphore(NativeOwner):
    """An exported Vulkan semaphore imported into CUDA: streams wait on it and signal it."""

    def __init__(self, native, cuda_device: CudaDevice):
        self._native = native

    timeline = property(lambda self: self.native.timeline, doc="True for a timeline, False for a binary semaphore.")

    def wait(self, value: int = 0, stream: Any = None) -> None:
        """Work enqueued on ``stream`` after this waits for ``value`` (binary: value 0). Returns at once."""
        self.native.wait(int(value), _stream(stream))

    def signal(self, value: int = 0, stream: Any = None) -> None:
        """Signals ``value`` (binary: 0) once ``stream``'s earlier work is done. Returns at once."""
        self.native.signal(int(value), _stream(stream))


# One CUDA import per timeline, for the functions below (the CudaDevice is kept on the Device).
_semaphores: "weakref.WeakKeyDictionary[Any, CudaSemaphore]" = weakref.WeakKeyDictionary()


def cuda_device(device: Device) -> CudaDevice:
    """The CudaDevice for ``device``, made once and reused while ``device`` lives.

    It is kept as an attribute of the Device, not in a table keyed by it: the CudaDevice refers
    to its Device, so a table entry would keep the Device alive for good."""
    c = getattr(device, "_cuda_device", None)
    if c is None or c.closed:
        c = CudaDevice(device)
        device._cuda_device = c
    return c


def _semaphore(timeline: Timeline | Semaphore) -> CudaSemaphore:
    s = _semaphores.get(timeline)
    if s is None or s.closed:
        device = timeline._device
        if device is None:
            raise InvalidHandleError(f"this {type(timeline).__name__} is closed")
        s = _semaphores[timeline] = cuda_device(device).import_semaphore(timeline)
    return s


def wait_on_stream(timeline: Timeline | Semaphore, value: int, stream: Any = None) -> None:
    """Makes ``stream`` wait on the GPU until ``timeline`` reaches ``value`` (no host wait).

    The timeline is imported into CUDA on first use and the import reused while it lives."""
    _semaphore(timeline).wait(value, stream)


def signal_on_stream(timeline: Timeline | Semaphore, value: int, stream: Any = None) -> None:
    """Signals ``value`` on ``timeline`` once ``stream``'s work so far is done (no host wait)."""
    _semaphore(timeline).signal(value, stream)


# ---- tensor and texture streams (docs/streams.md, "Tensor streams"; geyser/cuda_frames.hpp) -------
# The ring and ready timeline of a Subscriber or Sender are imported into CUDA once, by the core's
# CudaSubscriber / CudaSender (kept on the Python object), and every per-frame step is one native
# call that checks the frame, the subscription and the stream itself.

def _subscription(subscriber: Subscriber):
    """The native CudaSubscriber of ``subscriber``, made once (its ring and ready timeline in CUDA)."""
    mapped = getattr(subscriber, "_cuda_subscriber", None)
    if mapped is None:
        mapped = subscriber._cuda_subscriber = _native.cuda.CudaSubscriber.create(
            cuda_device(subscriber.device).native, subscriber._live())
    return mapped


def _publication(sender: Sender):
    """The native CudaSender of ``sender``, made once (its ring and ready timeline in CUDA)."""
    mapped = getattr(sender, "_cuda_sender", None)
    if mapped is None:
        mapped = sender._cuda_sender = _native.cuda.CudaSender.create(cuda_device(sender.device).native,
                                                                       sender._native)
    return mapped


def _require_held(frame: Frame) -> None:
    # What the core checks once a CudaSubscriber exists, for the paths that need no CUDA.
    if frame._native.released:
        raise InvalidHandleError(f"frame {frame.number} was released: the producer may be writing its slot again")


def _slot_views(owner: Sender | Subscriber, mapped, slot: int) -> dict[str, CudaView]:
    """The CudaViews of one slot's tensors, made once per slot (again if one was closed)."""
    cache = owner.__dict__.setdefault("_cuda_views", {})
    views = cache.get(slot)
    if views is None or any(v._native is None for v in views.values()):
        layout = owner.layout
        buffer = mapped.buffers[slot]
        ordinal = mapped.context.ordinal
        views = cache[slot] = {}
        for name in layout.names:
            dtype = layout.dtype(name)
            views[name] = CudaView(buffer, ordinal, "uint16" if dtype == "bfloat16" else dtype, layout.shape(name),
                                   None, layout.offset(name))
    return views


def tensor_views(frame: Frame, stream: Any = None) -> "CudaView | dict[str, CudaView]":
    """A tensor stream's frame as CUDA views of its slot, no copy: one :class:`CudaView` for a
    layout of one tensor, else a dict by name (``torch.from_dlpack``, ``cupy.from_dlpack``,
    ``jax.dlpack.from_dlpack`` take them). A bfloat16 tensor is viewed as uint16 (numpy has no
    bfloat16; ``torch.from_dlpack(v).view(torch.bfloat16)`` reinterprets it).

    A subscriber's frame received with ``next_frame(wait="gpu")``: ``stream`` is made to wait on
    the GPU for the frame's ready point (the subscriber's ready timeline, imported into CUDA
    once), so work enqueued on it after this reads the producer's finished writes with no host
    synchronisation. A frame received with ``wait="host"`` is ready already. A producer's frame
    (``sender.begin_frame()``): the views are the slot to write; publish with :func:`end_frame`.
    The slot's CUDA mapping is made once per slot and reused, and so are its views."""
    owner = frame._owner
    layout = frame.layout  # UnsupportedOperationError for a texture frame
    if isinstance(owner, Subscriber):
        _require_held(frame)
        mapped = _subscription(owner)
        mapped.wait(frame._native, _stream(stream))  # InvalidHandleError once released
    else:
        frame.buffer  # InvalidHandleError once released
        mapped = _publication(owner)
    views = _slot_views(owner, mapped, frame.slot)
    return views[layout.names[0]] if len(views) == 1 else dict(views)


def frame_texture(frame: Frame, stream: Any = None) -> CudaTexture:
    """A texture stream's frame as a :class:`CudaTexture` of its slot (a CUDA array, reached by
    ``copy_to`` / ``copy_from`` on ``stream``), mapped once per slot. A subscriber's frame
    received with ``wait="gpu"`` first makes ``stream`` wait on the GPU for its ready point, as
    :func:`tensor_views` does; a producer's frame is the slot to write before :func:`end_frame`.
    UnsupportedOperationError for a tensor stream's frame."""
    owner = frame._owner
    if isinstance(owner, Subscriber):
        _require_held(frame)
        mapped = _subscription(owner)
        s = _stream(stream)
        native = mapped.texture(frame._native)
        mapped.wait(frame._native, s)
    else:
        native = _publication(owner).texture(frame.number, frame.slot)
    cache = owner.__dict__.setdefault("_cuda_textures", {})
    texture = cache.get(frame.slot)
    if texture is None or texture.closed or texture._native is not native:
        texture = cache[frame.slot] = CudaTexture(native, cuda_device(owner.device))
    return texture


def wait_frame(frame: Frame, stream: Any = None) -> None:
    """Makes ``stream`` wait on the GPU for a subscriber's frame to be ready, and nothing else:
    for a consumer that made its tensors of each slot once (``torch.from_dlpack`` of
    :func:`tensor_views` of the slot's first frame) and reuses them, as torch users reuse a shared
    tensor. A frame received with ``next_frame(wait="gpu")`` makes ``stream`` wait for its ready
    point (the subscriber's ready timeline, imported into CUDA once); one received with
    ``wait="host"`` is ready already, and nothing is enqueued. InvalidHandleError for a released
    frame, InvalidArgumentError for a producer's frame (it has nothing to wait for). One native
    call per frame once the subscription is in CUDA (geyser::cuda::CudaSubscriber::wait)."""
    mapped = getattr(frame._owner, "_cuda_subscriber", None)
    if mapped is None:
        if not isinstance(frame._owner, Subscriber):
            raise InvalidArgumentError("wait_frame takes a subscriber's frame; a producer's frame has nothing to wait for")
        _require_held(frame)
        if frame.ready_wait != "gpu":
            return  # ready already: no CUDA needed
        mapped = _subscription(frame._owner)
    mapped.wait(frame._native, 0 if stream is None else _stream(stream))


def end_frame(sender: Sender, frame: Frame, stream: Any = None) -> None:
    """Publishes a tensor stream's frame written on ``stream``: the frame is announced, then
    ``stream`` signals each subscriber's own ready timeline and the sender's to the frame's number
    (after the writes enqueued on it), and nothing waits on the host. No queue submission of the
    sender's sits between your stream and the consumers' (``sender.stats.ready_submissions`` counts
    those made for a subscriber joining meanwhile). Vulkan timelines only: a portable one
    (lavapipe) lives in host memory, which no stream can signal (UnsupportedOperationError).
    A frame that is not the one begun is refused before the stream signals anything
    (InvalidArgumentError). One native call (geyser::cuda::CudaSender::end_frame)."""
    mapped = getattr(sender, "_cuda_sender", None)
    if mapped is None:
        if sender.ready.kind != "vulkan":
            raise UnsupportedOperationError(
                f"the sender {sender.name!r} has a portable ready timeline, which no CUDA stream can signal: write the "
                "slot, synchronise the stream, then sender.end_frame(frame) (ready='host')")
        mapped = _publication(sender)
    if frame is not sender._pending:
        raise InvalidArgumentError("end_frame takes the frame begin_frame returned")
    mapped.end_frame(frame.number, frame.slot, 0 if stream is None else _stream(stream))
    sender._pending = None


def release(subscriber: Subscriber, frame: Frame, stream: Any = None) -> None:
    """Releases a subscriber's tensor frame once the work enqueued on ``stream`` (its reads of
    the frame's views) has completed. This is a host synchronisation of ``stream`` followed by
    the release: the producer may write the slot as soon as it learns of the release, and it
    learns over a socket, which only the host writes. Copy what you keep out of the views before
    calling it. InvalidArgumentError for a frame of another subscriber or one released already."""
    if not isinstance(frame, Frame) or frame._owner is not subscriber:
        raise InvalidArgumentError(f"release takes a frame {subscriber!r} received, got {frame!r}")
    s = 0 if stream is None else _stream(stream)
    mapped = getattr(subscriber, "_cuda_subscriber", None)
    if mapped is None:
        if frame._native.released:  # what the core checks, before any CUDA is needed
            raise InvalidArgumentError(f"frame {frame.number} is not held (released already)")
        mapped = _subscription(subscriber)
    mapped.release(frame._native, s)
    subscriber._held.pop(frame.number, None)


def _sync_entry(entry: Any, what: str):
    """(semaphore, value) from (CudaSemaphore | Timeline | Semaphore, value), or (None, 0)."""
    if entry is None:
        return None, 0
    try:
        target, value = entry
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what} is (timeline or semaphore, value), got {entry!r}") from None
    if isinstance(target, (Timeline, Semaphore)):
        target = _semaphore(target)
    if not isinstance(target, CudaSemaphore):
        raise InvalidArgumentError(f"{what} needs a CudaSemaphore, Timeline or Semaphore, got {type(target).__name__}")
    return target, int(value)


class PeerCopy(NativeOwner):
    """Copies frames from GPU ``source`` to GPU ``destination`` (two :class:`CudaDevice`, or one
    twice) on the GPUs, ordered by timelines on both and with no host wait (geyser/peer_copy.hpp).

    ``path`` says how: ``"same_device"``, ``"peer"`` (cuMemcpyPeerAsync / cuMemcpy3DPeerAsync, peer
    access enabled) or ``"host_staging"`` (through pinned host memory, where peer access is not
    possible or ``host_staging=True``); ``reason`` says why. Each copy takes ``wait=(timeline,
    value)`` on the source GPU, ``signal=(timeline, value)`` on the destination GPU once the copy
    has landed, and ``release=(timeline, value)`` on the source GPU once the source slot has been
    read; each may be omitted. Timelines must be Vulkan ones (CUDA cannot wait on host memory).
    A producer keeps one PeerCopy and one ring of destination slots per GPU it serves."""

    def __init__(self, source: CudaDevice, destination: CudaDevice, host_staging: bool = False):
        options = _native.cuda.PeerCopyOptions()
        options.host_staging = bool(host_staging)
        self._native = _native.cuda.PeerCopy.create(source.native, destination.native, options)
        self.source, self.destination = source, destination

    path = property(lambda self: _native.cuda.peer_copy_path_name(self.native.path),
                    doc='"same_device", "peer" or "host_staging".')
    reason = property(lambda self: self.native.reason, doc="Why this path.")
    copies = property(lambda self: self.native.copies, doc="Copies enqueued so far.")
    source_stream = property(lambda self: self.native.source_stream, doc="The engine's CUstream on the source GPU.")
    destination_stream = property(lambda self: self.native.destination_stream,
                                  doc="The engine's CUstream on the destination GPU.")

    def _sync(self, wait, signal, release):
        s = _native.cuda.PeerCopySync()
        keep = []
        for name, entry, what in (("source_ready", wait, "wait"), ("destination_ready", signal, "signal"),
                                  ("source_released", release, "release")):
            sem, value = _sync_entry(entry, what)
            if sem is not None:
                keep.append(sem)
                setattr(s, name, sem.native)
                setattr(s, name + "_value", value)
        return s, keep

    def copy_buffer(self, source: CudaBuffer, destination: CudaBuffer, *, wait=None, signal=None, release=None) -> None:
        """Enqueues a copy of all of ``source`` (on the source GPU) into ``destination``; returns at once."""
        if not isinstance(source, CudaBuffer) or not isinstance(destination, CudaBuffer):
            raise InvalidArgumentError("copy_buffer copies a CudaBuffer into a CudaBuffer")
        sync, keep = self._sync(wait, signal, release)
        self.native.copy_buffer(source.native, destination.native, sync)
        del keep

    def copy_texture(self, source: CudaTexture, destination: CudaTexture, *, wait=None, signal=None,
                     release=None) -> None:
        """Enqueues a copy of texture ``source`` into ``destination`` (same extent and format)."""
        if not isinstance(source, CudaTexture) or not isinstance(destination, CudaTexture):
            raise InvalidArgumentError("copy_texture copies a CudaTexture into a CudaTexture")
        sync, keep = self._sync(wait, signal, release)
        self.native.copy_texture(source.native, destination.native, sync)
        del keep

    def idle(self) -> bool:
        """Whether every copy enqueued so far has finished on both GPUs; CudaError when one failed there."""
        return self.native.idle()

    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits (without the GIL, interruptibly) until idle; TimeoutError after ``timeout`` seconds,
        CudaError when a copy failed on a GPU."""
        self.native.wait_idle(to_ns(timeout))

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.cuda.PeerCopy closed>"
        return f"<geyser.cuda.PeerCopy cuda:{self.source.ordinal} -> cuda:{self.destination.ordinal} {self.path}>"


def copy_peer(source: CudaBuffer, destination: CudaBuffer, stream: Any = None) -> None:
    """A plain cuMemcpyPeerAsync of all of ``source`` into ``destination`` on ``stream`` (a stream
    of the source GPU), ordered by nothing else: the baseline PeerCopy is measured against."""
    _native.cuda.copy_peer(source.native, destination.native, _stream(stream))
