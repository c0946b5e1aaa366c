"""Named senders, like Spout and Syphon for Linux.

A producer publishes a ring of shareable textures under a name; any number of consumers, Python
or C++ (``geyser::Subscriber``), list the senders, subscribe by name, import the ring once over a
Unix socket (fds passed with SCM_RIGHTS) and then receive only frame numbers. A "frame ready"
timeline orders their reads after the producer's writes, and each subscriber's "slot released"
timeline keeps the producer from overwriting a frame it is still reading. Both halves of the
protocol are the core's (``geyser/sender.hpp``, ``geyser/subscriber.hpp``); these classes are
thin wrappers over them, so a Python producer and a C++ one behave the same.

Lifetimes: a subscriber that exits or crashes is dropped without disturbing the others; a
producer that exits (cleanly or not) makes its subscribers' next wait end with PeerGoneError,
and the textures they imported stay valid. A stale socket of a crashed producer is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _native
from .errors import GeyserError, InvalidArgumentError, InvalidArgumentTypeError, InvalidHandleError
from .formats import TextureFormat, TextureUsage
from .memory import Texture, TextureDescriptor, _default_aspect
from .sync import DEFAULT_TIMEOUT, to_ns
from .timeline import Timeline

__all__ = ["Sender", "Subscriber", "SenderInfo", "Frame", "list_senders", "query_sender"]

_READY = {"host": _native.ReadySignal.HOST, "gpu": _native.ReadySignal.GPU}
_SYNC = {"auto": _native.TimelineChoice.AUTO, "vulkan": _native.TimelineChoice.VULKAN,
         "portable": _native.TimelineChoice.PORTABLE}


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
    current_frame: int
    subscribers: int
    device_uuid: str

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
                   "vulkan" if i.sync_kind == _native.TimelineKind.VULKAN else "portable", i.current_frame,
                   i.subscribers, i.device_uuid.hex())


def list_senders(timeout: float = 0.5) -> list[SenderInfo]:
    """The senders published on this machine for this user (stale sockets skipped), all within
    ``timeout`` seconds."""
    return [SenderInfo._from_native(i) for i in _native.list_senders(to_ns(timeout))]


def query_sender(name: str, timeout: float = 1.0) -> SenderInfo:
    """One sender's description; PeerGoneError when nobody publishes ``name``."""
    return SenderInfo._from_native(_native.query_sender(name, to_ns(timeout)))


@dataclass
class Frame:
    """One frame of a ring: ``number`` (from 1), ``slot`` and the ``texture`` holding it.

    A subscriber's frame releases itself when used as a context manager.
    """

    number: int
    slot: int
    texture: Texture
    _owner: object = field(default=None, repr=False, compare=False)

    def __enter__(self) -> "Frame":
        return self

    def __exit__(self, *exc) -> None:
        if isinstance(self._owner, Subscriber):
            self._owner.release(self)


class Sender:
    """Publishes a ring of ``ring_size`` textures described by ``descriptor`` under ``name``.

    Write a frame with ``publish(array)``, or ``begin_frame()`` / write ``frame.texture`` /
    ``end_frame(frame)``. ``sync`` picks the timelines: ``"auto"`` (Vulkan where the device can
    export them, portable otherwise), ``"vulkan"`` or ``"portable"``. A subscriber that has not
    released a slot within ``release_timeout`` seconds when the producer needs it is dropped.
    The protocol runs in the core (``geyser::Sender``), on a thread of its own.
    """

    def __init__(self, device, name: str, descriptor: TextureDescriptor, ring_size: int = 3, sync: str = "auto",
                 release_timeout: float = DEFAULT_TIMEOUT):
        if sync not in _SYNC:
            raise InvalidArgumentError(f"sync must be 'auto', 'vulkan' or 'portable', got {sync!r}")
        if not isinstance(descriptor, TextureDescriptor):
            raise InvalidArgumentTypeError(f"expected a TextureDescriptor, got {type(descriptor).__name__}")
        self.device = device
        self.name = name
        self.descriptor = descriptor
        self.release_timeout = release_timeout
        d = descriptor
        self._native = _native.Sender.create(device.native, name, d.width, d.height, int(d.format), int(d.usage),
                                             d.label or "", int(ring_size), _SYNC[sync], to_ns(release_timeout))
        self.ring: list[Texture] = [Texture(t, device, descriptor) for t in self._native.ring]
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

    def begin_frame(self, timeout: float | None = None) -> Frame:
        """The next frame's slot, once every subscriber has released what it held."""
        number, slot = self._native.begin_frame(self._timeout_ns(timeout))
        self._pending = Frame(number, slot, self.ring[slot], self)
        return self._pending

    def end_frame(self, frame: Frame, ready: str = "host") -> None:
        """Announces ``frame`` to every subscriber.

        ``ready="host"``: its writes have completed, and the ready timeline is signalled here.
        ``ready="gpu"``: your own submission signals ``sender.ready`` (a Vulkan timeline; its
        ``VkSemaphore`` is ``sender.ready.vk_semaphore``) to ``frame.number``, as
        docs/access.md describes; subscribers then wait for the GPU's signal.
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
        """Uploads ``array`` as the next frame and announces it; returns the frame number."""
        tex = self.ring[0]
        a = _default_aspect(tex.native.aspects, aspect)
        data = tex._host_array(array, a)
        return self._native.publish(int(a), data, self._timeout_ns(timeout))

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

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<geyser.Sender {self.name!r} closed>"
        return f"<geyser.Sender {self.name!r} frame={self.frame} subscribers={self.subscribers}>"


class Subscriber:
    """Subscribes to the sender ``name`` on ``device`` (the producer's device)."""

    def __init__(self, device, name: str, timeout: float = DEFAULT_TIMEOUT, client: str = ""):
        self.device = device
        self._native = _native.Subscriber.connect(device.native, name, to_ns(timeout), client)
        self.info = SenderInfo._from_native(self._native.info)
        self.ring = [Texture(t, device, self.info.descriptor) for t in self._native.ring]
        self._closed = False

    @property
    def name(self) -> str:
        """The sender's name."""
        return self.info.name

    def next_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """The next frame in order, once it is ready. PeerGoneError when the producer has gone."""
        if self._closed:
            raise InvalidHandleError("this Subscriber is closed")
        number, slot = self._native.next_frame(to_ns(timeout))
        return Frame(number, slot, self.ring[slot], self)

    def release(self, frame: Frame | int) -> None:
        """Done with ``frame`` (and every earlier one): the producer may reuse its slot."""
        if self._closed:
            raise InvalidHandleError("this Subscriber is closed")
        number = frame.number if isinstance(frame, Frame) else int(frame)
        self._native.release(number)

    def close(self) -> None:
        """Ends the subscription and releases the imported ring (its textures close too)."""
        self._closed = True
        self._native = None
        for tex in self.ring:
            tex.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` ended the subscription."""
        return self._closed

    def __repr__(self) -> str:
        if self._closed:
            return f"<geyser.Subscriber {self.info.name!r} closed>"
        return f"<geyser.Subscriber {self.info.name!r} ring={len(self.ring)}>"

