"""Named senders, like Spout and Syphon for Linux.

A producer publishes a ring of shareable textures under a name; any number of consumers, Python
or C++ (``geyser::Subscriber``), list the senders, subscribe by name, import the ring once over a
Unix socket (fds passed with SCM_RIGHTS) and then receive only frame numbers. A "frame ready"
timeline orders their reads after the producer's writes; a frame a consumer holds (received and
not yet released) is never overwritten. The producer picks the delivery mode: ``"lossless"``
(every frame to every consumer, in order; the producer waits for the slowest) or ``"latest"``
(Spout/Syphon: the producer never waits, each consumer gets the newest frame and counts the ones
it was too slow for in ``frames_dropped``). docs/streams.md describes both. Both halves of the
protocol are the core's (``geyser/sender.hpp``, ``geyser/subscriber.hpp``); these classes are
thin wrappers over them, so a Python producer and a C++ one behave the same.

Lifetimes: a subscriber that exits or crashes is dropped without disturbing the others; a
producer that exits (cleanly or not) makes its subscribers' next wait end with PeerGoneError,
and the textures they imported stay valid. A stale socket of a crashed producer is replaced.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from . import _native
import numpy as np

from .device import as_device
from .errors import GeyserError, InvalidArgumentError, InvalidArgumentTypeError, InvalidHandleError
from .errors import UnsupportedOperationError
from .errors import TimeoutError as GeyserTimeoutError
from .formats import TextureFormat, TextureUsage
from .memory import Buffer, Texture, TextureDescriptor, _default_aspect
from .sync import DEFAULT_TIMEOUT, to_ns
from .tensors import TensorLayout, TensorSpec
from .timeline import Timeline

__all__ = ["Sender", "Subscriber", "SenderInfo", "Frame", "list_senders", "query_sender"]

_READY = {"host": _native.ReadySignal.HOST, "gpu": _native.ReadySignal.GPU}
_WAIT = {"host": _native.ReadyWait.HOST, "gpu": _native.ReadyWait.GPU}
_SYNC = {"auto": _native.TimelineChoice.AUTO, "vulkan": _native.TimelineChoice.VULKAN,
         "portable": _native.TimelineChoice.PORTABLE}
_MODE = {"lossless": _native.DeliveryMode.LOSSLESS, "latest": _native.DeliveryMode.LATEST}
_STALLED = {"drop": _native.StalledPolicy.DROP, "skip": _native.StalledPolicy.SKIP}
_ZERO_COPY = {"auto": _native.ZeroCopy.AUTO, "require": _native.ZeroCopy.REQUIRE, "never": _native.ZeroCopy.NEVER}
_EVENT_LEVEL = {_native.SenderEventKind.JOINED: logging.INFO, _native.SenderEventKind.LEFT: logging.INFO,
                _native.SenderEventKind.DROPPED: logging.WARNING, _native.SenderEventKind.STALLED: logging.WARNING}

log = logging.getLogger("geyser.sender")


@dataclass(frozen=True)
class SenderInfo:
    """What ``list_senders()`` and ``query_sender()`` report for one published sender."""

    name: str
    descriptor: TextureDescriptor | None
    width: int
    height: int
    vk_format: int
    ring_size: int
    producer_pid: int
    sync_kind: str
    mode: str
    max_held: int
    current_frame: int
    subscribers: int
    device_uuid: str
    driver_uuid: str = ""
    #: A tensor stream's layout (its ring holds buffers); None for a texture ring.
    layout: TensorLayout | None = None

    @classmethod
    def _from_native(cls, i) -> "SenderInfo":
        desc = None
        if i.texture_format:
            try:
                desc = TextureDescriptor(i.width, i.height, TextureFormat(i.texture_format),
                                         TextureUsage(i.texture_usage))
            except (ValueError, GeyserError):
                desc = None
        return cls(i.name, desc, i.width, i.height, i.vk_format, i.ring_size, i.producer_pid,
                   "vulkan" if i.sync_kind == _native.TimelineKind.VULKAN else "portable",
                   "latest" if i.mode == _native.DeliveryMode.LATEST else "lossless", i.max_held, i.current_frame,
                   i.subscribers, i.device_uuid.hex(), i.driver_uuid.hex(),
                   TensorLayout._wrap(i.layout) if i.payload == _native.ResourceKind.BUFFER else None)


def list_senders(timeout: float = 0.5) -> list[SenderInfo]:
    """The senders published on this machine for this user (stale sockets skipped), all within
    ``timeout`` seconds."""
    return [SenderInfo._from_native(i) for i in _native.list_senders(to_ns(timeout))]


def query_sender(name: str, timeout: float = 1.0) -> SenderInfo:
    """One sender's description; PeerGoneError when nobody publishes ``name``."""
    return SenderInfo._from_native(_native.query_sender(name, to_ns(timeout)))


class Frame:
    """One frame of a ring: ``number`` (from 1), ``slot`` and the ``texture`` holding it (a
    tensor stream's: the ``buffer``, whose tensors ``read()`` returns as numpy arrays).

    A subscriber's frame is held until released (``sub.release(frame)``, ``frame.release()``, or
    leaving its ``with`` block); after that ``texture`` raises InvalidHandleError, since the
    producer may be writing the slot again.

    ``ready`` is the frame's ready point, ``(timeline, number)``, for a ``wait=[frame.ready]``;
    ``ready_wait`` says what is left to wait for: ``"host"``, nothing (``next_frame`` waited, or
    the producer sent the frame complete, as a host-signalled frame is, even with ``wait="gpu"``)
    or ``"gpu"`` (order your GPU reads after ``ready``).
    """

    __slots__ = ("number", "slot", "ready_wait", "_texture", "_owner", "_native")

    def __init__(self, number: int, slot: int, texture: Texture | Buffer, owner=None, native=None,
                 ready_wait: str = "host"):
        self.number = number
        self.slot = slot
        self.ready_wait = ready_wait
        self._texture = texture  # the slot's resource: a Texture, or a tensor stream's Buffer
        self._owner = owner
        self._native = native

    @property
    def ready(self) -> tuple[Timeline, int]:
        """The frame's ready point, ``(timeline, number)``, for ``wait=[frame.ready]``."""
        return (self._owner.ready, self.number)

    @property
    def texture(self) -> Texture:
        """The ring texture holding this frame (InvalidHandleError once the frame is released;
        UnsupportedOperationError for a tensor stream's frame, whose slot is ``buffer``)."""
        if self._native is not None:
            self._native.texture  # raises InvalidHandleError once released
        elif not isinstance(self._texture, Texture):
            raise UnsupportedOperationError(f"frame {self.number} is a tensor stream's: use frame.buffer")
        return self._texture  # type: ignore[return-value]

    @property
    def buffer(self) -> Buffer:
        """A tensor stream's frame: the ring buffer holding it (the errors of ``texture``)."""
        if self._native is not None:
            self._native.buffer  # raises InvalidHandleError once released
        elif not isinstance(self._texture, Buffer):
            raise UnsupportedOperationError(f"frame {self.number} is a texture: use frame.texture")
        return self._texture  # type: ignore[return-value]

    @property
    def layout(self) -> TensorLayout:
        """A tensor stream's layout (UnsupportedOperationError for a texture frame)."""
        layout = self._owner.layout if self._owner is not None else None
        if layout is None:
            raise UnsupportedOperationError(f"frame {self.number} is a texture, which has no tensor layout")
        return layout

    def read(self) -> "np.ndarray | dict[str, np.ndarray]":
        """A tensor stream's frame, copied to the host: one numpy array for a layout of one tensor,
        else a dict of them by name. A frame received with ``wait="gpu"`` is first waited for on
        the host (its ready point), since a host copy cannot wait on the GPU."""
        layout = self.layout
        buffer = self.buffer
        return layout.unpack(buffer.read(wait=[self.ready] if self.ready_wait == "gpu" else ()))

    @property
    def released(self) -> bool:
        """Whether a subscriber's frame has been released."""
        return self._native is not None and self._native.released

    def release(self) -> None:
        """A subscriber's frame: done with it (``Subscriber.release``)."""
        if not isinstance(self._owner, Subscriber):
            raise InvalidArgumentError("only a subscriber's frame is released")
        self._owner.release(self)

    def __enter__(self) -> "Frame":
        return self

    def __exit__(self, *exc) -> None:
        if isinstance(self._owner, Subscriber) and not self.released:
            self._owner.release(self)

    def __repr__(self) -> str:
        state = " released" if self.released else ""
        return f"<geyser.Frame {self.number} slot={self.slot}{state}>"


class Sender:
    """Publishes a ring of ``ring_size`` textures described by ``descriptor`` under ``name``, or
    a tensor stream: ``tensor=(dtype, shape)`` (one tensor) or ``tensors={name: (dtype, shape)}``
    instead of a descriptor make it a ring of buffers laid out by a :class:`TensorLayout`, whose
    frames ``publish(array or dict of arrays)`` writes and subscribers ``read()``.

    Write a frame with ``publish(array)``, or ``begin_frame()`` / write ``frame.texture`` /
    ``end_frame(frame)``. ``mode``: ``"lossless"`` (every frame reaches every subscriber; the
    producer waits for the slot it needs) or ``"latest"`` (the producer never waits; needs a ring
    of 3 or more). ``sync`` picks the timelines: ``"auto"`` (Vulkan where the device can export
    them, portable otherwise), ``"vulkan"`` or ``"portable"``. A subscriber holding a frame past
    ``release_timeout`` seconds is dropped (told why), or with ``stalled="skip"`` (latest only)
    written around. ``max_subscriptions_per_peer``, ``max_handshakes_per_peer`` and
    ``max_pending_handshakes`` cap what one peer process (by its socket's kernel-reported pid), and
    all peers together, may hold; over a cap a connection is refused and told why (None: the
    core's defaults, 16, 4 and 64). ``peer_copy_host_staging=True`` sends a consumer on another GPU
    its frames through pinned host memory even where the GPUs have peer access (for peer access
    that is broken or slow, or to keep NVLink free); ``sub.reason`` names the path. Joins, departures, drops and stalls are logged on the ``geyser.sender``
    logger and counted in ``stats``. The protocol runs in the core (``geyser::Sender``), on a
    thread of its own.
    """

    def __init__(self, device, name: str, descriptor: TextureDescriptor | None = None, ring_size: int = 3,
                 sync: str = "auto", release_timeout: float = DEFAULT_TIMEOUT, mode: str = "lossless",
                 stalled: str = "drop", max_subscriptions_per_peer: int | None = None,
                 max_handshakes_per_peer: int | None = None, max_pending_handshakes: int | None = None, *,
                 tensor: TensorSpec | None = None, tensors: dict[str, TensorSpec] | None = None,
                 peer_copy_host_staging: bool = False):
        if sync not in _SYNC:
            raise InvalidArgumentError(f"sync must be 'auto', 'vulkan' or 'portable', got {sync!r}")
        if mode not in _MODE:
            raise InvalidArgumentError(f"mode must be 'lossless' or 'latest', got {mode!r}")
        if stalled not in _STALLED:
            raise InvalidArgumentError(f"stalled must be 'drop' or 'skip', got {stalled!r}")
        tensor_stream = tensor is not None or tensors is not None
        if tensor_stream and descriptor is not None:
            raise InvalidArgumentError("a Sender publishes textures (descriptor) or tensors (tensor=/tensors=), not both")
        if not tensor_stream and not isinstance(descriptor, TextureDescriptor):
            raise InvalidArgumentTypeError(f"expected a TextureDescriptor, got {type(descriptor).__name__}")
        self.device = device
        self.name = name
        self.descriptor = descriptor
        #: A tensor stream's layout; None for a texture ring.
        self.layout: TensorLayout | None = TensorLayout._of(tensor, tensors) if tensor_stream else None
        self.release_timeout = release_timeout
        self.mode = mode
        named = {k: int(v) for k, v in (("max_subscriptions_per_peer", max_subscriptions_per_peer),
                                        ("max_handshakes_per_peer", max_handshakes_per_peer),
                                        ("max_pending_handshakes", max_pending_handshakes)) if v is not None}
        if not isinstance(peer_copy_host_staging, bool):
            raise InvalidArgumentTypeError(f"peer_copy_host_staging must be a bool, got {type(peer_copy_host_staging).__name__}")
        named["peer_copy_host_staging"] = peer_copy_host_staging
        options = (int(ring_size), _SYNC[sync], to_ns(release_timeout), _MODE[mode], _STALLED[stalled])
        if self.layout is not None:
            self._native = _native.Sender.create(device.native, name, self.layout.native, *options, **named)
        else:
            d = descriptor
            self._native = _native.Sender.create(device.native, name, d.width, d.height, int(d.format), int(d.usage),
                                                 d.label or "", *options, **named)
        self.ring: list[Texture] = [Texture(t, device, descriptor) for t in self._native.ring]
        #: A tensor stream's ring of buffers (empty for a texture ring).
        self.buffers: list[Buffer] = [Buffer(b, device) for b in self._native.buffers]
        self.ready = Timeline(self._native.ready, device)
        self._pending: Frame | None = None

    # -- publishing ------------------------------------------------------------------------------
    @property
    def frame(self) -> int:
        """The last frame published (0 before the first)."""
        return self._native.frame

    @property
    def subscribers(self) -> int:
        """Subscribers connected now."""
        return self._native.subscribers

    @property
    def closed(self) -> bool:
        """Whether ``close()`` stopped publishing."""
        return self._native.closed

    @property
    def stats(self):
        """Counters: ``frames_published``, ``subscribers_joined``, ``subscribers_dropped``,
        ``stalls_skipped``, ``accepts_deferred`` (accept() out of fds, the listener left alone a while),
        ``frames_copied`` (frames downloaded once each into the copy ring for copy subscribers),
        ``frames_peer_copied`` (frames copied GPU to GPU, once per frame and destination GPU, for
        peer-copy subscribers), ``ready_submissions`` (queue submissions the sender made to signal
        subscribers' ready timelines; ``geyser.cuda.end_frame`` signals them from the producer's
        stream and needs none, but for a subscriber joining meanwhile or one CUDA cannot import)."""
        return self._native.stats

    def wait_for_subscribers(self, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Returns once ``count`` subscribers are connected; TimeoutError after ``timeout``."""
        try:
            self._native.wait_for_subscribers(int(count), to_ns(timeout))
        finally:
            self._log_events()

    def begin_frame(self, timeout: float | None = None) -> Frame:
        """The next frame's slot: lossless, once every subscriber has released what was in it;
        latest, at once (a slot no subscriber holds)."""
        try:
            number, slot = self._native.begin_frame(self._timeout_ns(timeout))
        finally:
            self._log_events()
        self._pending = Frame(number, slot, self.buffers[slot] if self.layout is not None else self.ring[slot], self)
        return self._pending

    def end_frame(self, frame: Frame, ready: str = "host") -> None:
        """Announces ``frame`` to every subscriber.

        ``ready="host"``: its writes have completed, and the ready timeline is signalled here.
        ``ready="gpu"``: your own submission signals ``sender.ready`` (a Vulkan timeline; its
        ``VkSemaphore`` is ``sender.ready.vk_semaphore``) to ``frame.number``, as
        docs/access.md describes, before or after this call. Nothing waits for it here: one
        queue submission waits on it and signals each subscriber's own ready timeline, and the
        frame is announced at once (docs/streams.md, "Who signals a frame ready").
        """
        if frame is not self._pending:
            raise InvalidArgumentError("end_frame takes the frame begin_frame returned")
        if ready not in _READY:
            raise InvalidArgumentError(f"ready must be 'host' or 'gpu', got {ready!r}")
        self._native.end_frame(frame.number, frame.slot, _READY[ready])
        self._pending = None

    def abandon_frame(self, frame: Frame) -> None:
        """Forgets a frame begun and not ended (after an error while writing it, say): its number
        and slot are used again by the next begin_frame."""
        if frame is not self._pending:
            raise InvalidArgumentError("abandon_frame takes the frame begin_frame returned")
        self._native.abandon_frame(frame.number)
        self._pending = None

    def publish(self, array, aspect=None, timeout: float | None = None) -> int:
        """Uploads ``array`` as the next frame and announces it; returns the frame number.

        A tensor stream takes one array (a layout of one tensor) or a dict of every tensor's
        array, each of its dtype and shape (InvalidArgumentError otherwise), and no aspect."""
        if self.layout is not None:
            if aspect is not None:
                raise InvalidArgumentError("a tensor stream's frames have no aspect")
            try:
                return self._native.publish(self.layout.pack(array), self._timeout_ns(timeout))
            finally:
                self._log_events()
        tex = self.ring[0]
        a = _default_aspect(tex.native.aspects, aspect)
        data = tex._host_array(array, a)
        try:
            return self._native.publish(int(a), data, self._timeout_ns(timeout))
        finally:
            self._log_events()

    def _log_events(self) -> None:
        for e in self._native.take_events():
            who = f"pid {e.pid}" + (f" ({e.client!r})" if e.client else "")
            log.log(_EVENT_LEVEL[e.kind], "sender %r: subscriber %s %s", self.name, who, e.message)

    def _timeout_ns(self, timeout: float | None) -> int:
        return _native.Sender.DEFAULT_TIMEOUT if timeout is None else to_ns(timeout)

    def info(self) -> SenderInfo:
        """What ``query_sender`` reports for this sender now."""
        return SenderInfo._from_native(self._native.info)

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops publishing: subscribers get Goodbye (their next wait raises PeerGoneError).

        In a fork() child of the publishing process it only drops the child's copies: the
        parent's subscribers, timeline and socket are left alone."""
        self._native.close()
        self._log_events()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<geyser.Sender {self.name!r} closed>"
        return f"<geyser.Sender {self.name!r} frame={self.frame} subscribers={self.subscribers}>"


class Subscriber:
    """Subscribes to the sender ``name`` on ``device`` (the producer's device).

    ``next_frame()`` gives the next frame (lossless: the next in order; latest: the newest), held
    until released. A subscriber may hold ``info.max_held`` frames at once; asking for another
    raises UnsupportedOperationError. For event loops: ``fileno()`` (readable when a frame has
    come) and ``await next_frame_async()``.

    Where ``device`` cannot import the producer's ring (another GPU or driver, a format it cannot
    import: ``geyser.explain(name, device)`` says why), ``zero_copy`` decides: ``"auto"`` takes
    the copy path, through host memory (``path`` is then ``"copy"`` and ``reason`` says why;
    ``ring`` is this device's own textures, each frame uploaded into its slot as ``next_frame``
    returns it); ``"require"`` raises DeviceMismatchError with the reasons, importing nothing;
    ``"never"`` takes the copy path even where zero-copy would work. docs/fallback.md.

    Where ``device`` is another GPU than the producer's and ``zero_copy`` is ``"auto"``, the
    subscriber first asks the producer to copy each frame GPU to GPU (CUDA, in the producer) into
    a ring on this GPU, which it imports zero-copy: ``path`` is then ``"peer-copy"`` and
    ``reason`` says how. Where the producer cannot, ``path`` is ``"copy"`` and ``reason`` says why
    (docs/streams.md, "A consumer on another GPU")."""

    def __init__(self, device, name: str, timeout: float = DEFAULT_TIMEOUT, client: str = "",
                 zero_copy: str = "auto"):
        if zero_copy not in _ZERO_COPY:
            raise InvalidArgumentError(f"zero_copy must be 'auto', 'require' or 'never', got {zero_copy!r}")
        device = self.device = as_device(device)  # a Device, or a selector: index, UUID, name, "cuda:N", torch.device
        self._native = _native.Subscriber.connect(device.native, name, to_ns(timeout), client, _ZERO_COPY[zero_copy])
        self.path: str = _native.share_path_name(self._native.path)
        self.reason: str = self._native.reason
        self.info = SenderInfo._from_native(self._native.info)
        self.ring = [Texture(t, device, self.info.descriptor) for t in self._native.ring]
        #: A tensor stream's layout and ring of buffers (None and empty for a texture ring).
        self.layout: TensorLayout | None = self.info.layout
        self.buffers: list[Buffer] = [Buffer(b, device) for b in self._native.buffers]
        self.ready = Timeline(self._native.ready, device)
        self._held: dict[int, Frame] = {}
        self._closed = False

    @property
    def name(self) -> str:
        """The sender's name."""
        return self.info.name

    @property
    def frames_dropped(self) -> int:
        """Frames published that this subscriber never received, counted from its first."""
        return self._live().frames_dropped

    @property
    def held(self) -> list[int]:
        """The numbers of the frames held now."""
        return list(self._live().held)

    def _live(self):
        if self._closed:
            raise InvalidHandleError("this Subscriber is closed")
        return self._native

    def next_frame(self, timeout: float = DEFAULT_TIMEOUT, wait: str = "host") -> Frame:
        """The next frame once it is ready. PeerGoneError when the producer has gone,
        SubscriptionDroppedError when it dropped this subscriber (the message says why).

        ``wait="gpu"``: returns the frame once announced, without waiting for its ready signal;
        order your GPU reads after ``frame.ready`` (``texture.download(wait=[frame.ready])``).
        Vulkan ready timelines only (UnsupportedOperationError for a portable one)."""
        if wait not in _WAIT:
            raise InvalidArgumentError(f"wait must be 'host' or 'gpu', got {wait!r}")
        native = self._live().next_frame(to_ns(timeout), _WAIT[wait])
        slot = self.buffers[native.slot] if self.layout is not None else self.ring[native.slot]
        frame = Frame(native.number, native.slot, slot, self, native, wait)
        self._held[frame.number] = frame
        return frame

    def release(self, frame: Frame | int) -> None:
        """Done with ``frame`` (a Frame or its number), which must be held (InvalidArgumentError
        otherwise); frames may be released in any order."""
        number = frame.number if isinstance(frame, Frame) else int(frame)
        self._live().release(number)
        self._held.pop(number, None)

    def fileno(self) -> int:
        """A socket to wait on (select, selectors, asyncio's add_reader): readable when
        ``next_frame`` has a frame to take. In latest mode this asks the producer for the next
        frame, which it sends only when asked. Do not read it or close it."""
        native = self._live()
        native.request_frame()
        return native.fileno

    async def next_frame_async(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """``next_frame`` for asyncio: waits on ``fileno()`` in the running loop, then takes the
        frame (waiting briefly for its ready timeline, which the producer signals before or just
        after announcing it)."""
        loop = asyncio.get_running_loop()
        fd = self.fileno()
        ready = loop.create_future()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, timeout)
        except asyncio.TimeoutError:
            raise GeyserTimeoutError(f"no frame of {self.name!r} within {timeout} s") from None
        finally:
            loop.remove_reader(fd)
        return self.next_frame(timeout)

    def close(self) -> None:
        """Ends the subscription and releases the imported ring (its textures close too)."""
        self._closed = True
        self._held.clear()
        self._native = None
        for tex in self.ring:
            tex.close()
        for buf in self.buffers:
            buf.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` ended the subscription."""
        return self._closed

    def __repr__(self) -> str:
        if self.closed:
            return f"<geyser.Subscriber {self.info.name!r} closed>"
        return f"<geyser.Subscriber {self.info.name!r} {self.info.mode} ring={len(self.ring)} {self.path}>"
