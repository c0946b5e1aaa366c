"""Named senders, like Spout and Syphon for Linux.

A producer publishes a ring of shareable textures under a name; any number of consumers, Python
or C++ (``geyser::Subscriber``), list the senders, subscribe by name, import the ring once over a
Unix socket (fds passed with SCM_RIGHTS) and then receive only frame numbers. A "frame ready"
timeline orders their reads after the producer's writes, and each subscriber's "slot released"
timeline keeps the producer from overwriting a frame it is still reading. The protocol is the
core's (``geyser/sender.hpp``).

Lifetimes: a subscriber that exits or crashes is dropped without disturbing the others; a
producer that exits (cleanly or not) makes its subscribers' next wait end with PeerGoneError,
and the textures they imported stay valid. A stale socket of a crashed producer is replaced.
"""

from __future__ import annotations

import os
import select
import threading
import time
from dataclasses import dataclass

from . import _native
from .errors import GeyserError, InvalidArgumentError, TimeoutError, UnsupportedOperationError
from .formats import TextureFormat, TextureUsage
from .memory import Texture, TextureDescriptor
from .sync import DEFAULT_TIMEOUT, to_ns
from .timeline import Timeline

__all__ = ["Sender", "Subscriber", "SenderDescription", "Frame", "list_senders", "query_sender"]

_HANDSHAKE_TIMEOUT = 5.0
_SEND_TIMEOUT = 2.0


@dataclass(frozen=True)
class SenderDescription:
    """What ``list_senders()`` reports for one published sender."""

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
    def _from_native(cls, i) -> "SenderDescription":
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


def list_senders(timeout: float = 0.5) -> list[SenderDescription]:
    """The senders published on this machine for this user (stale sockets skipped)."""
    return [SenderDescription._from_native(i) for i in _native.list_senders(to_ns(timeout))]


def query_sender(name: str, timeout: float = 1.0) -> SenderDescription:
    """One sender's description; PeerGoneError when nobody publishes ``name``."""
    return SenderDescription._from_native(_native.query_sender(name, to_ns(timeout)))


@dataclass
class Frame:
    """One frame of a ring: ``number`` (from 1), ``slot`` and the ``texture`` holding it.

    A subscriber's frame releases itself when used as a context manager.
    """

    number: int
    slot: int
    texture: Texture
    _owner: object = None

    def __enter__(self) -> "Frame":
        return self

    def __exit__(self, *exc) -> None:
        if isinstance(self._owner, Subscriber):
            self._owner.release(self)


class _Subscription:
    def __init__(self, channel, released: Timeline, pid: int, client: str, first_frame: int):
        self.channel = channel
        self.released = released
        self.pid = pid
        self.client = client
        self.first_frame = first_frame

    def dead(self) -> bool:
        """The subscriber sends nothing after its hello, so readable or hung up means gone."""
        if not self.channel.is_open:
            return True
        p = select.poll()
        p.register(self.channel.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(p.poll(0))

    def close(self) -> None:
        self.channel.close()
        self.released.close()


class Sender:
    """Publishes a ring of ``ring_size`` textures described by ``descriptor`` under ``name``.

    Write a frame with ``publish(array)``, or ``begin_frame()`` / write ``frame.texture`` /
    ``end_frame(frame)``. ``sync`` picks the timelines: ``"auto"`` (Vulkan where the device can
    export them, portable otherwise), ``"vulkan"`` or ``"portable"``. A subscriber that has not
    released a slot within ``release_timeout`` seconds when the producer needs it is dropped.
    """

    def __init__(self, device, name: str, descriptor: TextureDescriptor, ring_size: int = 3, sync: str = "auto",
                 release_timeout: float = DEFAULT_TIMEOUT):
        _native.check_sender_name(name)
        if not 1 <= int(ring_size) <= 64:
            raise InvalidArgumentError(f"ring_size must be 1..64, got {ring_size}")
        self.device = device
        self.name = name
        self.descriptor = descriptor
        self.release_timeout = release_timeout
        self._frame = 0
        self._pending = None
        self._pid = os.getpid()  # a fork() child must not publish on, or close, its parent's sender
        self._subs: list[_Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.ring: list[Texture] = []
        self.ready = None
        self._listener = None
        try:
            self.ring = [device.create_shareable_texture(descriptor) for _ in range(int(ring_size))]
            self.ready = device.create_shared_timeline(sync)
            self._listener = _native.Listener.bind(_native.sender_socket_path(name))
            self._thread = threading.Thread(target=self._accept_loop, name=f"geyser-sender-{name}", daemon=True)
            self._thread.start()
        except BaseException:
            # Nothing half-published: the socket goes and the ring and timeline are freed now,
            # not when the exception's traceback (which holds this frame) is collected.
            self._stop.set()
            self._listener = None  # unlinks the socket
            if self.ready is not None:
                self.ready.close()
            for tex in self.ring:
                tex.close()
            self.ring = []
            raise

    # -- publishing ------------------------------------------------------------------------------
    @property
    def frame(self) -> int:
        """The last frame published (0 before the first)."""
        return self._frame

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def _require_owner(self, what: str) -> None:
        if os.getpid() != self._pid:
            raise UnsupportedOperationError(
                f"cannot {what}: this process is a fork() child of the process that published the sender "
                f"{self.name!r}; only that process can publish on it. Publish a sender of the child's own instead")

    def begin_frame(self, timeout: float | None = None) -> Frame:
        """The next frame's slot, once every subscriber has released what it held."""
        self._require_owner("begin a frame")
        if self._pending is not None:
            raise InvalidArgumentError(f"frame {self._pending.number} was begun and not ended")
        number = self._frame + 1
        slot = (number - 1) % len(self.ring)
        if number > len(self.ring):
            self._wait_released(number - len(self.ring), self.release_timeout if timeout is None else timeout)
        self._pending = Frame(number, slot, self.ring[slot], self)
        return self._pending

    def end_frame(self, frame: Frame) -> None:
        """Marks ``frame`` ready (its writes have completed) and tells every subscriber."""
        self._require_owner("end a frame")
        if frame is not self._pending:
            raise InvalidArgumentError("end_frame takes the frame begin_frame returned")
        self.ready.signal(frame.number)
        payload = _native.encode_frame_message(frame.number, frame.slot)
        with self._lock:
            self._frame = frame.number
            self._pending = None
            for sub in list(self._subs):
                try:
                    sub.channel.send(_native.MESSAGE_FRAME, payload, [], to_ns(_SEND_TIMEOUT))
                except GeyserError:
                    self._drop(sub)

    def publish(self, array, aspect=None, timeout: float | None = None) -> int:
        """Uploads ``array`` as the next frame and announces it; returns the frame number."""
        frame = self.begin_frame(timeout)
        try:
            frame.texture.upload(array, aspect, signal=[(self.ready, frame.number)])
        except BaseException:
            self._pending = None
            raise
        self.end_frame(frame)
        return frame.number

    def _wait_released(self, value: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            if sub.first_frame >= value:
                continue
            while True:
                left = deadline - time.monotonic()
                with self._lock:
                    if sub not in self._subs:  # dropped meanwhile (its process went away)
                        break
                    if sub.dead() or left <= 0:
                        self._drop(sub)
                        break
                    released = sub.released
                try:
                    released.wait(value, timeout=max(0.0, min(0.05, left)))
                    break
                except TimeoutError:
                    continue

    def _reap(self) -> None:
        """Drops subscribers whose process has gone, so ``subscribers`` stays true between frames."""
        with self._lock:
            for sub in [s for s in self._subs if s.dead()]:
                self._drop(sub)

    def _drop(self, sub: _Subscription) -> None:
        """Caller holds the lock."""
        if sub in self._subs:
            self._subs.remove(sub)
            sub.close()

    # -- subscribers ------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                channel = self._listener.accept(to_ns(0.1))
            except TimeoutError:
                self._reap()
                continue
            except GeyserError:
                continue  # e.g. a peer of another user, refused by the core
            try:
                self._handshake(channel)
            except GeyserError:
                channel.close()

    def _handshake(self, channel) -> None:
        msg_type, payload, fds = channel.receive(to_ns(_HANDSHAKE_TIMEOUT))
        for fd in fds:
            os.close(fd)
        if msg_type != _native.MESSAGE_HELLO or fds:
            raise GeyserError("expected a hello without fds")
        hello = _native.decode_hello(payload)
        with self._lock:
            info = self._info()
            channel.send(_native.MESSAGE_SENDER_INFO, _native.encode_sender_info(info), [], to_ns(_SEND_TIMEOUT))
            if not hello.subscribe:
                channel.close()
                return
            for tex in self.ring:
                with self.device.export_texture(tex) as h:
                    channel.send(_native.MESSAGE_MEMORY_HANDLE, _native.encode_memory_handle(h.native), [h.fd],
                                 to_ns(_SEND_TIMEOUT))
            released = self.device.create_shared_timeline(self.ready.kind, initial_value=self._frame)
            try:
                for role, timeline in ((_native.TimelineRole.READY, self.ready),
                                       (_native.TimelineRole.RELEASED, released)):
                    with self.device.export_timeline(timeline) as th:
                        kind = _native.TimelineKind.VULKAN if th.kind == "vulkan" else _native.TimelineKind.PORTABLE
                        sem = th.semaphore_handle.native if th.semaphore_handle is not None else None
                        channel.send(_native.MESSAGE_TIMELINE, _native.encode_timeline_announce(role, kind, sem),
                                     [th.fd], to_ns(_SEND_TIMEOUT))
            except BaseException:
                released.close()
                raise
            self._subs.append(_Subscription(channel, released, hello.pid, hello.client, self._frame))

    def _info(self):
        i = _native.SenderInfo()
        i.name = self.name
        i.producer_pid = os.getpid()
        i.ring_size = len(self.ring)
        i.width = self.descriptor.width
        i.height = self.descriptor.height
        i.vk_format = self.ring[0].vk_format
        i.texture_format = int(self.descriptor.format)
        i.texture_usage = int(self.descriptor.usage)
        i.sync_kind = _native.TimelineKind.VULKAN if self.ready.kind == "vulkan" else _native.TimelineKind.PORTABLE
        i.current_frame = self._frame
        i.subscribers = len(self._subs)
        i.device_uuid = bytes.fromhex(self.device.info.device_uuid)
        i.driver_uuid = bytes.fromhex(self.device.info.driver_uuid)
        return i

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops publishing: subscribers get Goodbye (their next wait raises PeerGoneError).

        In a fork() child of the publishing process it only drops the child's copies: the
        parent's subscribers, timeline and socket are left alone."""
        if self._stop.is_set():
            return
        self._stop.set()
        if os.getpid() != self._pid:
            # Not under self._lock: the parent's accept thread may have held it at fork().
            for sub in self._subs:
                sub.close()
            self._subs = []
            self._listener = None  # closes the child's copy; the core unlinks only in the owner
            return
        self._thread.join()
        with self._lock:
            for sub in list(self._subs):
                try:
                    sub.channel.send(_native.MESSAGE_GOODBYE, b"", [], to_ns(0.5))
                except GeyserError:
                    pass
                self._drop(sub)
        self.ready.mark_abandoned()
        self._listener = None  # unlinks the socket

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<geyser.Sender {self.name!r} frame={self._frame} subscribers={self.subscribers}>"


class Subscriber:
    """Subscribes to the sender ``name`` on ``device`` (the producer's device)."""

    def __init__(self, device, name: str, timeout: float = DEFAULT_TIMEOUT, client: str = ""):
        self.device = device
        self._native = _native.Subscriber.connect(device.native, name, to_ns(timeout), client)
        self.info = SenderDescription._from_native(self._native.info)
        self.ring = [Texture(t, device, self.info.descriptor) for t in self._native.ring]
        self._closed = False

    @property
    def name(self) -> str:
        return self.info.name

    def next_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """The next frame in order, once it is ready. PeerGoneError when the producer has gone."""
        if self._closed:
            raise GeyserError("this Subscriber is closed")
        number, slot, _ = self._native.next_frame(to_ns(timeout))
        return Frame(number, slot, self.ring[slot], self)

    def release(self, frame: Frame | int) -> None:
        """Done with ``frame`` (and every earlier one): the producer may reuse its slot."""
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

    def __repr__(self) -> str:
        return f"<geyser.Subscriber {self.info.name!r} ring={len(self.ring)}>"



