"""Textures, buffers, timelines and their handles through ``multiprocessing`` pickling.

``import geyser`` registers reducers with ``multiprocessing.reduction.ForkingPickler``, the
pickler behind every ``multiprocessing`` Queue, Pipe, Pool and (spawn, forkserver) Process
argument, so ``queue.put(texture)`` in one process gives, in the one that gets it, a texture
imported on the same physical device: the same memory, not a copy. The fds travel as
``multiprocessing.reduction.DupFd``: through the child's inherited fds while a process is being
started, and otherwise through multiprocessing's resource sharer (SCM_RIGHTS on a Unix socket).
No fd number ever goes into the pickle.

Every object travels as one export: its handle's wire encoding (``to_bytes()``, the core's
codec, the same bytes ``send_handle`` puts on a channel) and its fd. The receiver rebuilds the
handle with ``from_bytes``, so the core's decoder checks what arrives (ProtocolError for bytes
that break the wire format, the fd closed) before anything is imported. What each object
becomes on the other side:

* ``Texture``, ``Buffer``: the export, imported into a ``geyser.Device`` for the GPU its device
  UUID names; the handle is closed. A texture's ``timeline``, if set, travels with it and is
  set on the imported texture.
* ``Timeline``: its export plus the device UUID (a portable timeline's encoding names no
  device), imported again (a Vulkan or a portable timeline alike).
* ``TextureHandle``, ``BufferHandle``, ``TimelineHandle``, ``SemaphoreHandle``,
  ``FenceHandle``: a handle owning a new fd, for the receiver to import (and close).

Ownership and lifetime:

* The sender keeps its object; the receiver owns what it gets and should close it.
* An imported texture or buffer cannot be exported again (the driver refuses), so it cannot be
  pickled: send the original, or the handle it was imported from, instead.
* A Queue pickles in its feeder thread, after ``put`` has returned: keep the object open until
  the receiver has it. Errors raised while pickling are printed by that thread and the item is
  dropped; a Pipe's ``send`` pickles at once and raises them to the caller.
* Until the receiver unpickles it, each fd waits, duplicated, in the sender's resource sharer;
  an item that is never received keeps that fd open until the sender exits.
* The receiving process imports into the first ``geyser.Device`` it has open for the sender's
  GPU (matched by device UUID): usually its own, so what it receives can be copied to and from
  what it made (copies need both on one Device), and a process keeps one VkDevice per GPU. With
  none open, it opens one, which later items share while it is open (while any received object,
  or anyone holding its ``.device``, keeps it alive).
* With the fork start method, ``Process`` arguments are not pickled at all: the child inherits
  the parent's own objects. Vulkan objects cannot cross fork(): every use of an inherited Device,
  texture, buffer, semaphore or fence there raises UnsupportedOperationError (closing them frees
  nothing of the parent's). Send Geyser objects to a forked child through a Queue or Pipe
  instead. On NVIDIA's driver a forked child cannot use
  Vulkan at all: Geyser refuses there (VulkanUnavailableError) before touching the driver, since
  a child that called into it could leave the parent's next device creation blocked.

Plain ``pickle`` (and ``copy``) cannot carry an fd; it raises TypeError saying to use
multiprocessing.
"""

from __future__ import annotations

import copyreg
import os
import threading
import weakref
from multiprocessing import context, reduction

from .device import Device, open_device_for
from .errors import InvalidHandleError, UnsupportedOperationError
from .memory import Buffer, BufferHandle, Texture, TextureHandle
from .sync import FenceHandle, SemaphoreHandle
from .timeline import Timeline, TimelineHandle

__all__: list[str] = []

# Serialises opening a Device for unpickled objects, so two threads unpickling at once share one.
_devices_lock = threading.Lock()


def _forget_devices_after_fork() -> None:
    # A lock another thread held at fork() stays held forever in the child.
    global _devices_lock
    _devices_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_devices_after_fork)


def _device(uuid: str) -> Device:
    """The Device to import into: the first one this process has open for that GPU, else a new
    one (which later received objects then share while it is open)."""
    with _devices_lock:
        device = open_device_for(uuid)
        if device is None:
            device = Device(_uuid_selector(uuid))
        return device


def _uuid_selector(uuid: str) -> str:
    # In the 8-4-4-4-12 form: Device() reads a selector of digits only (a UUID can be one, an
    # all-zero one for instance) as a device index.
    u = uuid.replace("-", "")
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


def _share_fd(fd: int):
    """A picklable stand-in for ``fd`` (which stays the caller's) that becomes a new fd where it
    is unpickled (``.detach()``)."""
    popen = context.get_spawning_popen()
    if popen is not None:
        # A Process argument (spawn, forkserver): the fd goes to the child by its number when the
        # child is launched, after pickling, and is not duplicated first. Hold our own duplicate
        # for as long as the launching Popen lives, so the caller may close theirs at once.
        dup = os.dup(fd)
        weakref.finalize(popen, os.close, dup)
        return reduction.DupFd(dup)
    # The resource sharer duplicates fd now and sends the duplicate to the one process that asks.
    return reduction.DupFd(fd)


def _detach(shared) -> int:
    """The receiver's new fd, or -1 for a handle that travelled without one."""
    return -1 if shared is None else shared.detach()


def _uuid_of(obj) -> str:
    device = obj._device
    if device is None:
        raise InvalidHandleError(f"cannot pickle a closed geyser.{type(obj).__name__}")
    return device.info.device_uuid


def _export(export, obj):
    try:
        return export(obj)
    except UnsupportedOperationError as e:
        raise UnsupportedOperationError(
            f"cannot pickle this geyser.{type(obj).__name__} for another process: {e}"
        ) from e


# -- textures and buffers ----------------------------------------------------------------------

def _reduce_texture(texture: Texture):
    _uuid_of(texture)  # refuses a closed one
    timeline = texture.timeline
    with _export(texture.device.export_texture, texture) as handle:
        # The Timeline goes as an object of its own, so sending (texture, texture.timeline)
        # gives one Timeline on the other side too.
        return _rebuild_texture, (handle.to_bytes(), _share_fd(handle.fd), timeline)


def _rebuild_texture(payload: bytes, shared_fd, timeline: Timeline | None) -> Texture:
    with TextureHandle.from_bytes(payload, shared_fd.detach()) as handle:
        return _device(handle.device_uuid).import_texture(handle, timeline=timeline)


def _reduce_buffer(buffer: Buffer):
    _uuid_of(buffer)  # refuses a closed one
    with _export(buffer.device.export_buffer, buffer) as handle:
        return _rebuild_buffer, (handle.to_bytes(), _share_fd(handle.fd))


def _rebuild_buffer(payload: bytes, shared_fd) -> Buffer:
    with BufferHandle.from_bytes(payload, shared_fd.detach()) as handle:
        return _device(handle.device_uuid).import_buffer(handle)


# -- timelines -----------------------------------------------------------------------------------

def _reduce_timeline(timeline: Timeline):
    uuid = _uuid_of(timeline)
    with _export(timeline.device.export_timeline, timeline) as handle:
        return _rebuild_timeline, (uuid, handle.to_bytes(), _share_fd(handle.fd))


def _rebuild_timeline(uuid: str, payload: bytes, shared_fd) -> Timeline:
    with TimelineHandle.from_bytes(payload, shared_fd.detach()) as handle:
        return _device(_device_uuid(uuid)).import_timeline(handle)


def _device_uuid(uuid) -> str:
    """The device UUID a pickle names, which only Python sees: 32 hex digits, as
    ``DeviceInfo.device_uuid`` gives it."""
    if not isinstance(uuid, str) or len(uuid) != 32 or not all(c in "0123456789abcdefABCDEF" for c in uuid):
        raise InvalidHandleError(f"a pickled timeline names device UUID {uuid!r}, which is not 32 hex digits")
    return uuid.lower()


# -- handles -------------------------------------------------------------------------------------

def _reduce_handle(handle):
    """Every handle: its ``to_bytes()`` and a duplicate of its fd (none for a signalled sync FD)."""
    fd = handle.fd
    if fd < 0 and not getattr(handle, "already_signaled", False):
        raise InvalidHandleError(f"cannot pickle a closed geyser.{type(handle).__name__}")
    return _rebuild_handle, (type(handle), handle.to_bytes(), _share_fd(fd) if fd >= 0 else None)


def _rebuild_handle(cls, payload: bytes, shared_fd):
    return cls.from_bytes(payload, _detach(shared_fd))


# -- registration --------------------------------------------------------------------------------

def _refuse_plain_pickle(obj):
    raise TypeError(
        f"a geyser.{type(obj).__name__} holds a file descriptor, which plain pickle (or copy) cannot "
        "carry; send it through multiprocessing (a Queue, Pipe or Process argument), whose "
        "ForkingPickler passes the fd, or send a handle's to_bytes() and its fd yourself"
    )


_REDUCERS = {
    Texture: _reduce_texture,
    Buffer: _reduce_buffer,
    Timeline: _reduce_timeline,
    TextureHandle: _reduce_handle,
    BufferHandle: _reduce_handle,
    TimelineHandle: _reduce_handle,
    SemaphoreHandle: _reduce_handle,
    FenceHandle: _reduce_handle,
}

for _cls, _reducer in _REDUCERS.items():
    # ForkingPickler's table is copyreg's with its own registrations on top, so the refusal
    # reaches plain pickle and copy only.
    copyreg.pickle(_cls, _refuse_plain_pickle)
    reduction.ForkingPickler.register(_cls, _reducer)
del _cls, _reducer
