"""OpenGL interop: Geyser textures, buffers and semaphores in the caller's OpenGL context, no copy.

The core (``geyser/gl.hpp``) does the work: it finds the window-system library that made the
current context at run time (EGL, then GLX), checks the context's GL_DEVICE_UUID_EXT and
GL_DRIVER_UUID_EXT against the Vulkan device, checks every handle before the GL driver sees its
fd, and maps every GL error onto :class:`geyser.GLError`. This module wraps it::

    import moderngl, geyser, geyser.gl
    device = geyser.Device()
    ctx = moderngl.create_standalone_context(backend="egl")   # any current context will do
    tex = geyser.gl.import_texture(texture)                   # a geyser.Texture or TextureHandle
    mgl = tex.to_moderngl(ctx)                                # moderngl's external_texture
    with geyser.gl.write_frame(sender) as frame: ...          # draw into frame.texture.name

Every call acts on the context current on the calling thread, which must be the one the object
was imported in. docs/gl.md says what is checked and which sync path is used where.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from . import _native
from ._owner import NativeOwner
from .device import Device
from .errors import InvalidArgumentTypeError, InvalidHandleError, UnsupportedOperationError
from .formats import TextureFormat
from .memory import Buffer, BufferHandle, Texture, TextureHandle
from .sender import Sender, Subscriber
from .sync import DEFAULT_TIMEOUT, Semaphore, SemaphoreHandle, to_ns
from .timeline import Timeline, TimelineHandle

__all__ = ["GlContext", "GlTexture", "GlBuffer", "GlSemaphore", "GlFrame", "GlSender", "GlSubscriber",
           "HeadlessContext", "SyncPath", "context", "import_texture", "import_buffer", "import_semaphore",
           "import_timeline", "write_frame", "read_frame", "release_ring"]

_gl = _native.gl
SyncPath = _gl.SyncPath

# moderngl's (components, dtype) for the formats it can wrap; the packed and depth formats have
# no moderngl dtype, so their GL names are used directly.
_MODERNGL = {
    TextureFormat.RGBA8_UNORM: (4, "f1"), TextureFormat.RGBA8_SRGB: (4, "f1"),
    TextureFormat.R8_UNORM: (1, "f1"), TextureFormat.RG8_UNORM: (2, "f1"),
    TextureFormat.R16_FLOAT: (1, "f2"), TextureFormat.RG16_FLOAT: (2, "f2"), TextureFormat.RGBA16_FLOAT: (4, "f2"),
    TextureFormat.R16_UINT: (1, "u2"), TextureFormat.R16_SINT: (1, "i2"),
    TextureFormat.R32_FLOAT: (1, "f4"), TextureFormat.RG32_FLOAT: (2, "f4"), TextureFormat.RGBA32_FLOAT: (4, "f4"),
    TextureFormat.R32_UINT: (1, "u4"), TextureFormat.R32_SINT: (1, "i4"),
}


class GlContext(NativeOwner):
    """The OpenGL context current on this thread, matched to ``device`` by its UUIDs.

    UnsupportedOperationError when no context is current or it lacks GL_EXT_memory_object_fd,
    DeviceMismatchError when its GPU or driver is not ``device``'s."""

    def __init__(self, device: Device):
        self._native = _gl.GlContext.current(device.native)
        self._device = device

    @property
    def device(self) -> Device:
        return self._device

    info = property(lambda self: self.native.info, doc="Renderer, version, extensions, UUIDs (GlInfo).")
    sync_path = property(lambda self: self.native.sync_path,
                         doc="SyncPath.GL_SEMAPHORE with GL_EXT_semaphore_fd, else SyncPath.HOST.")
    is_current = property(lambda self: self.native.is_current)
    handle = property(lambda self: self.native.handle, doc="The EGLContext or GLXContext, as an int.")

    def finish(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits (bounded) on the host until the GL work so far has completed (a GL fence)."""
        self.native.finish(to_ns(timeout))

    def import_texture(self, source: Texture | TextureHandle) -> "GlTexture":
        """A GL texture over ``source``'s memory (imported once; keep and reuse it)."""
        if isinstance(source, Texture):
            with self.device.export_texture(source) as handle:
                return GlTexture(_gl.GlTexture.import_handle(self.native, handle.native))
        if not isinstance(source, TextureHandle):
            raise InvalidArgumentTypeError(f"expected a geyser.Texture or TextureHandle, got {type(source).__name__}")
        return GlTexture(_gl.GlTexture.import_handle(self.native, source.native))

    def import_buffer(self, source: Buffer | BufferHandle, size: int = 0) -> "GlBuffer":
        """A GL buffer object over the first ``size`` bytes of ``source``'s memory (0: all of it).

        Mesa's llvmpipe wants 16 bytes of the allocation after the GL buffer's end (docs/gl.md)."""
        if isinstance(source, Buffer):
            with self.device.export_buffer(source) as handle:
                return GlBuffer(_gl.GlBuffer.import_handle(self.native, handle.native, int(size)))
        if not isinstance(source, BufferHandle):
            raise InvalidArgumentTypeError(f"expected a geyser.Buffer or BufferHandle, got {type(source).__name__}")
        return GlBuffer(_gl.GlBuffer.import_handle(self.native, source.native, int(size)))

    def import_semaphore(self, source: Semaphore | SemaphoreHandle) -> "GlSemaphore":
        """A Vulkan binary or timeline semaphore in GL (needs GL_EXT_semaphore_fd)."""
        if isinstance(source, Semaphore):
            with self.device.export_semaphore(source) as handle:
                return GlSemaphore(_gl.GlSemaphore.import_handle(self.native, handle.native))
        if not isinstance(source, SemaphoreHandle):
            raise InvalidArgumentTypeError(f"expected a geyser.Semaphore or SemaphoreHandle, got {type(source).__name__}")
        return GlSemaphore(_gl.GlSemaphore.import_handle(self.native, source.native))

    def import_timeline(self, source: Timeline | TimelineHandle) -> "GlSemaphore":
        """A Vulkan timeline in GL (needs GL_EXT_semaphore_fd and GL_NV_timeline_semaphore)."""
        if isinstance(source, Timeline):
            with self.device.export_timeline(source) as handle:
                return self.import_timeline(handle)
        if not isinstance(source, TimelineHandle):
            raise InvalidArgumentTypeError(f"expected a geyser.Timeline or TimelineHandle, got {type(source).__name__}")
        if source.semaphore_handle is None:
            raise UnsupportedOperationError("a portable timeline lives in host memory, which GL cannot wait on; "
                                            "order GL work from the host (SyncPath.HOST)")
        return self.import_semaphore(source.semaphore_handle)

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.gl.GlContext closed>"
        i = self.info
        return f"<geyser.gl.GlContext {i.platform} {i.renderer!r} sync={self.sync_path.name.lower()}>"


class _GlObject(NativeOwner):
    """A GL object Geyser imported: ``close()`` deletes it in its own context (UnsupportedOperationError,
    deleting nothing, when another context is current)."""

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
        self._native = None

    name = property(lambda self: self.native.name, doc="The GL name (what glBindTexture/glBindBuffer take).")


class GlTexture(_GlObject):
    """A GL_TEXTURE_2D over Geyser texture memory: ``name``, ``target``, ``internal_format``."""

    def __init__(self, native):
        self._native = native

    target = property(lambda self: self.native.target)
    internal_format = property(lambda self: self.native.internal_format)
    width = property(lambda self: self.native.width)
    height = property(lambda self: self.native.height)
    size = property(lambda self: (self.native.width, self.native.height))
    format = property(lambda self: TextureFormat(int(self.native.format)))
    layout = property(lambda self: int(self.native.layout), doc="The VkImageLayout Vulkan shares it in.")

    def to_moderngl(self, ctx: Any) -> Any:
        """``ctx.external_texture`` over this texture's name (moderngl does not delete it); the
        moderngl object keeps this GlTexture alive (in its ``extra``)."""
        if self.format not in _MODERNGL:
            raise UnsupportedOperationError(f"moderngl has no dtype for {self.format.name}; use the GL name {self.name}")
        components, dtype = _MODERNGL[self.format]
        wrapped = ctx.external_texture(self.name, self.size, components, 0, dtype)
        wrapped.extra = self  # the GL texture lives as long as moderngl's object
        return wrapped

    def __repr__(self) -> str:
        if self.closed:
            return "<geyser.gl.GlTexture closed>"
        return f"<geyser.gl.GlTexture name={self.name} {self.width}x{self.height} {self.format.name}>"


class GlBuffer(_GlObject):
    """A GL buffer object over Geyser buffer memory: ``name`` and ``size``."""

    def __init__(self, native):
        self._native = native

    size = property(lambda self: self.native.size)

    def to_moderngl(self, ctx: Any) -> Any:
        """``ctx.external_buffer`` over this buffer's name."""
        wrapped = ctx.external_buffer(self.name, self.size)
        wrapped.extra = self
        return wrapped

    def __repr__(self) -> str:
        return "<geyser.gl.GlBuffer closed>" if self.closed else f"<geyser.gl.GlBuffer name={self.name} {self.size} bytes>"


class GlSemaphore(_GlObject):
    """A Vulkan semaphore in GL. ``wait``/``signal`` name the textures with their Vulkan layouts."""

    def __init__(self, native):
        self._native = native

    timeline = property(lambda self: self.native.timeline)

    def wait(self, value: int = 0, textures=(), buffers=()) -> None:
        """GL work after this waits for ``value`` (binary: 0), acquiring the textures and buffers."""
        self.native.wait(int(value), [t.native for t in textures], [b.native for b in buffers])

    def signal(self, value: int = 0, textures=(), buffers=()) -> None:
        """Signals ``value`` once GL's work so far is done, releasing the textures and buffers."""
        self.native.signal(int(value), [t.native for t in textures], [b.native for b in buffers])


class HeadlessContext:
    """A headless EGL context (device platform, else surfaceless) on ``device``'s GPU, made
    current on this thread. For scripts and tests; windows are glfw's, pyglet's or moderngl's."""

    def __init__(self, device: Device):
        self._native = _gl.HeadlessContext.create(device.native)

    platform = property(lambda self: self._native.platform, doc="'device' or 'surfaceless'.")

    def make_current(self) -> None:
        self._native.make_current()

    def release_current(self) -> None:
        self._native.release_current()

    def close(self) -> None:
        """Destroys the context (releasing it from this thread first)."""
        self._native = None

    def __enter__(self) -> "HeadlessContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def context(device: Device) -> GlContext:
    """The GlContext of the current context for ``device``, made once per (device, context)."""
    current = _gl.GlContext.current(device.native)
    cache = device.__dict__.setdefault("_gl_contexts", {})
    c = cache.get(current.handle)
    if c is None or c.closed or c.native.handle != current.handle:
        c = GlContext.__new__(GlContext)
        c._native, c._device = current, device
        cache[current.handle] = c
    return c


def _device_of(obj, device: Device | None) -> Device:
    d = getattr(obj, "device", None) or getattr(obj, "_device", None) or device
    if d is None:
        raise InvalidHandleError(f"this {type(obj).__name__} is closed, or a handle was given without device=")
    return d


def import_texture(source: Texture | TextureHandle, device: Device | None = None) -> GlTexture:
    """``source`` in the current GL context (a handle needs ``device``, the Vulkan device it is for)."""
    return context(_device_of(source, device)).import_texture(source)


def import_buffer(source: Buffer | BufferHandle, device: Device | None = None, size: int = 0) -> GlBuffer:
    return context(_device_of(source, device)).import_buffer(source, size)


def import_semaphore(source: Semaphore | SemaphoreHandle, device: Device | None = None) -> GlSemaphore:
    return context(_device_of(source, device)).import_semaphore(source)


def import_timeline(source: Timeline | TimelineHandle, device: Device | None = None) -> GlSemaphore:
    return context(_device_of(source, device)).import_timeline(source)


class GlFrame:
    """One frame in GL: ``number``, ``slot``, ``texture`` (a :class:`GlTexture`) and, for a
    subscriber's frame, ``ready_wait``: ``"gpu"`` when GL's reads wait for the producer's ready
    signal on the GPU (glWaitSemaphoreEXT), ``"host"`` when the host waited for it."""

    def __init__(self, native, texture: GlTexture):
        self.native = native
        self.number = native.number
        self.slot = native.slot
        self.texture = texture
        self.ready_wait = "gpu" if native.ready_wait == _native.ReadyWait.GPU else "host"

    def __repr__(self) -> str:
        return f"<geyser.gl.GlFrame {self.number} slot={self.slot} texture={self.texture.name}>"


class _Ring:
    def _wrap_ring(self):
        self.ring = [GlTexture(t) for t in self._native.ring]

    sync_path = property(lambda self: self._native.sync_path, doc="The sync path frames take (SyncPath).")

    def close(self) -> None:
        """Deletes the GL objects (their context current)."""
        if self._native is not None:
            self._native.close()
            self._native = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GlSender(_Ring):
    """A :class:`Sender`'s ring imported into the current GL context once, for drawing frames."""

    def __init__(self, sender: Sender, gl_context: GlContext | None = None):
        self.context = gl_context or context(sender.device)
        self.sender = sender
        self._native = _gl.GlSender(self.context.native, sender._native)
        self._wrap_ring()

    @contextlib.contextmanager
    def frame(self, timeout: float = DEFAULT_TIMEOUT) -> Iterator[GlFrame]:
        """Draw into ``frame.texture`` inside the block; the frame is published on exit (the GL
        semaphore signal, or a bounded GL fence then a host signal) or abandoned on an error."""
        native = self._native.begin_frame(to_ns(timeout))
        frame = GlFrame(native, self.ring[native.slot])
        try:
            yield frame
        except BaseException:
            self._native.abandon_frame(native)
            raise
        self._native.end_frame(native, to_ns(timeout))


class GlSubscriber(_Ring):
    """A :class:`Subscriber`'s ring imported into the current GL context once, for reading frames."""

    def __init__(self, subscriber: Subscriber, gl_context: GlContext | None = None):
        self.context = gl_context or context(subscriber.device)
        self.subscriber = subscriber
        self._native = _gl.GlSubscriber(self.context.native, subscriber._native)
        self._wrap_ring()

    @contextlib.contextmanager
    def frame(self, timeout: float = DEFAULT_TIMEOUT) -> Iterator[GlFrame]:
        """The next frame, ready for GL to read inside the block; released on exit once GL's
        reads have completed (a bounded GL fence)."""
        native = self._native.next_frame(to_ns(timeout))
        try:
            yield GlFrame(native, self.ring[native.slot])
        finally:
            self._native.release(native, to_ns(timeout))


def _ring(obj, cls):
    ring = obj.__dict__.get("_gl_ring")
    current = _gl.GlContext.current(obj.device.native).handle
    if ring is None or ring._native is None or ring.context.handle != current:
        ring = obj.__dict__["_gl_ring"] = cls(obj)
    return ring


@contextlib.contextmanager
def write_frame(sender: Sender, timeout: float = DEFAULT_TIMEOUT) -> Iterator[GlFrame]:
    """Writes the sender's next frame from GL: ``with write_frame(sender) as f:`` draw into
    ``f.texture``. The ring is imported into the current context on first use and reused."""
    with _ring(sender, GlSender).frame(timeout) as f:
        yield f


@contextlib.contextmanager
def read_frame(subscriber: Subscriber, timeout: float = DEFAULT_TIMEOUT) -> Iterator[GlFrame]:
    """Reads the subscriber's next frame in GL: ``with read_frame(sub) as f:`` sample ``f.texture``."""
    with _ring(subscriber, GlSubscriber).frame(timeout) as f:
        yield f


def release_ring(sender_or_subscriber: Sender | Subscriber) -> None:
    """Deletes the GL objects ``write_frame``/``read_frame`` imported for it (its context current).
    Without this they go when the Sender or Subscriber does, or with their context."""
    ring = sender_or_subscriber.__dict__.pop("_gl_ring", None)
    if ring is not None:
        ring.close()
