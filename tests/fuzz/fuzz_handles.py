"""atheris harness over the Python-facing handle reconstruction (run by scripts/fuzz_handles.sh).

Every handle class is rebuilt from the core's wire encoding, ``from_bytes(payload, fd)``, and so
is everything that carries one: ``receive_handle`` on a channel and the multiprocessing rebuild
functions of ``geyser.pickling``. Each input picks one of those targets and what reaches it,
starting from real encodings made once at start-up: a texture, a buffer and a portable timeline
exported on the first device, and (lavapipe exports none) a timeline semaphore, a binary
semaphore, a fence and an already-signalled fence as a driver that exports them describes them,
with a Vulkan timeline around that semaphore.

Input layout (bytes past the end read as 0; tests/fuzz/make_handles_corpus.py writes the seeds):

  [0]  target, mod 10: 0-4 ``from_bytes`` of TextureHandle, BufferHandle, SemaphoreHandle,
       FenceHandle, TimelineHandle; 5 ``receive_handle`` on a channel the payload was sent on as
       a raw message; 6 ``_rebuild_texture``, 7 ``_rebuild_buffer``, 8 ``_rebuild_timeline``,
       9 ``_rebuild_handle``
  [1]  base payload, mod len(BASES) (the names below)
  [2]  fd, mod len(FDS): a duplicate of a real export (texture, buffer, timeline), of a pipe,
       of /dev/null or of a foreign memfd; -1; a number that is not open (1000 + [4]); one beyond
       int; None; not an int at all
  [3]  payload form, mod 10: 0-3 the bytes, 4 a bytearray, 5 a memoryview, 6 their hex (a str),
       7 None, 8 an int, 9 a list
  [4]  extra. Target 5: bits 0-1 the message type (memory, sync, timeline handle, frame), bits
       2-3 how many copies of the fd travel. Target 6: bit 0 the texture's timeline. Target 8:
       bits 0-1 the device UUID (this device's, garbage, another's, upper case). Target 9: bits
       0-2 the class, bit 3 no shared fd.
  [5:] patch ops on the payload, each an op byte and its arguments (offsets are taken modulo
       the payload's length + 1): op % 4 == 0 set a byte (offset, value); 1 set a little-endian
       u32 (offset, 4 bytes); 2 truncate (offset); 3 append (n % 16, then n bytes)

Whatever comes back is used the way a receiver would (``repr``, ``to_bytes()``, import into the
device, a read of the imported object) and closed. Findings, each reported as a crash with the
input saved: an exception other than ``geyser.GeyserError``, ``TypeError`` or ``ValueError``; a
handle whose ``to_bytes()`` differs from the bytes it was decoded from (the encoding is
canonical); an fd left open after the iteration (``/proc/self/fd``); a validation message; a
segfault or abort.

    python tests/fuzz/fuzz_handles.py -max_total_time=60 CORPUS_DIR [SEEDS_DIR]
    python tests/fuzz/fuzz_handles.py CRASH_FILE        # replays one input
"""

from __future__ import annotations

import gc
import os
import re
import struct
import sys

import atheris

with atheris.instrument_imports(include=["geyser"]):
    import geyser
    from geyser import _native, pickling

ALLOWED = (geyser.GeyserError, TypeError, ValueError)
FD_DIR = "/proc/self/fd"


class Finding(Exception):
    """What the harness reports (atheris turns an uncaught exception into a saved crash)."""


class SharedFd:
    """Stands in for multiprocessing.reduction.DupFd: ``detach()`` gives the receiver its fd."""

    def __init__(self, fd):
        self.fd = fd

    def detach(self):
        return self.fd


def _sync_handle(device, primitive, semaphore_type, handle_type, already_signaled, permanent, initial_value):
    # encode_sync_handle's layout (geyser/wire.hpp), written out here as a peer would.
    return struct.pack("<IIIBBQ16s16s", primitive, semaphore_type, handle_type, already_signaled, permanent,
                       initial_value, bytes.fromhex(device.info.device_uuid), bytes.fromhex(device.info.driver_uuid))


def _setup():
    device = geyser.Device()
    texture = device.create_shareable_texture(geyser.TextureDescriptor(8, 4))
    texture.upload(__import__("numpy").full((4, 8, 4), 7, "uint8"))
    buffer = device.create_shareable_buffer(256)
    buffer.write(b"\x05" * 256)
    timeline = device.create_shared_timeline("portable", initial_value=3)
    semaphore = _sync_handle(device, 1, 2, 0x1, 0, 1, 9)
    with device.export_texture(texture) as th, device.export_buffer(buffer) as bh, \
            device.export_timeline(timeline) as lh:
        bases = {
            "texture": th.to_bytes(),
            "buffer": bh.to_bytes(),
            "portable-timeline": lh.to_bytes(),
            "vulkan-timeline": struct.pack("<BI", 2, len(semaphore)) + semaphore,
            "timeline-semaphore": semaphore,
            "binary-semaphore": _sync_handle(device, 1, 1, 0x1, 0, 1, 0),
            "fence": _sync_handle(device, 2, 1, 0x1, 0, 1, 0),
            "signalled-fence": _sync_handle(device, 2, 1, 0x10, 1, 0, 0),
        }
        # One fd of each kind, kept open for the whole run; each iteration gets duplicates.
        sources = {"texture": os.dup(th.fd), "buffer": os.dup(bh.fd), "timeline": os.dup(lh.fd)}
    r, w = os.pipe()
    sources["pipe"] = r
    sources["pipe-w"] = w
    sources["devnull"] = os.open("/dev/null", os.O_RDONLY)
    sources["memfd"] = os.memfd_create("not-from-vulkan")
    os.ftruncate(sources["memfd"], 256)
    return device, (texture, buffer, timeline), bases, sources


DEVICE, KEEP, BASE_PAYLOADS, SOURCES = _setup()
UUID = DEVICE.info.device_uuid
BASES = list(BASE_PAYLOADS)
HANDLE_CLASSES = [geyser.TextureHandle, geyser.BufferHandle, geyser.SemaphoreHandle, geyser.FenceHandle,
                  geyser.TimelineHandle]
# The fd choices of byte [2]: the names of SOURCES get a fresh duplicate each.
FDS = ["texture", "buffer", "timeline", "pipe", "devnull", "memfd", -1, "not-open", 2**31 + 5, None, "x"]
MESSAGE_TYPES = [_native.MESSAGE_MEMORY_HANDLE, _native.MESSAGE_SYNC_HANDLE, _native.MESSAGE_TIMELINE_HANDLE,
                 _native.MESSAGE_FRAME]


def _byte(data: bytes, i: int) -> int:
    return data[i] if i < len(data) else 0


def _patched(base: bytes, program: bytes) -> bytes:
    """``base`` after the patch ops of ``program`` (see the module docs)."""
    p = bytearray(base)
    i = 0
    while i < len(program):
        op = program[i] % 4
        offset = _byte(program, i + 1) % (len(p) + 1)
        if op == 0:
            if offset < len(p):
                p[offset] = _byte(program, i + 2)
            i += 3
        elif op == 1:
            value = bytes(_byte(program, i + 2 + k) for k in range(4))
            p[offset:offset + 4] = value
            i += 6
        elif op == 2:
            del p[offset:]
            i += 2
        else:
            n = _byte(program, i + 1) % 16
            p += program[i + 2:i + 2 + n]
            i += 2 + n
    return bytes(p)


def _form(payload: bytes, choice: int):
    """The payload as bytes, or as something else a caller could pass."""
    if choice <= 3:
        return payload
    return [bytearray(payload), memoryview(payload), payload.hex(), None, len(payload), list(payload)][choice - 4]


def _fd(choice, extra: int):
    """An fd for the receiver to own (a new duplicate), or something that is not one. (Never a
    small number that is not ours: it could be an fd of this process, which the receiver would
    then rightly own and close.)"""
    if isinstance(choice, str) and choice in SOURCES:
        return os.dup(SOURCES[choice])
    if choice == "not-open":
        return 1000 + extra
    return choice


def _use(obj) -> None:
    """What a receiver does with a reconstructed object; then it is closed."""
    if obj is None:
        return
    repr(obj)
    if hasattr(obj, "to_bytes"):
        obj.to_bytes()
    imported = None
    try:
        if isinstance(obj, geyser.TextureHandle):
            imported = DEVICE.import_texture(obj)
            imported.download()
        elif isinstance(obj, geyser.BufferHandle):
            imported = DEVICE.import_buffer(obj)
            imported.read(min(16, imported.size))
        elif isinstance(obj, geyser.TimelineHandle):
            imported = DEVICE.import_timeline(obj)
            imported.value
        elif isinstance(obj, geyser.SemaphoreHandle):
            imported = DEVICE.import_semaphore(obj)
        elif isinstance(obj, geyser.FenceHandle):
            imported = DEVICE.import_fence(obj)
        elif isinstance(obj, geyser.Texture):
            obj.download()
        elif isinstance(obj, geyser.Buffer):
            obj.read(min(16, obj.size))
        elif isinstance(obj, geyser.Timeline):
            obj.value
    finally:
        if imported is not None:
            imported.close()
        obj.close()


def _canonical(obj, payload) -> None:
    """A handle decoded from bytes re-encodes to exactly those bytes."""
    if isinstance(payload, (bytes, bytearray, memoryview)) and obj.to_bytes() != bytes(payload):
        raise Finding(f"{type(obj).__name__}.to_bytes() is not the payload it was decoded from: "
                      f"{bytes(payload).hex()} -> {obj.to_bytes().hex()}")


def _receive(payload: bytes, fd, extra: int):
    """What ``receive_handle`` makes of ``payload`` sent as a raw message with ``fd`` (borrowed:
    the kernel passes duplicates; ours is closed here)."""
    msg_type = MESSAGE_TYPES[extra & 3]
    copies = (extra >> 2) & 3
    fds = [fd] * copies if isinstance(fd, int) and 0 <= fd < 1000 else []
    a, b = geyser.Channel.pair()
    try:
        a.send(msg_type, payload, fds)
        obj = geyser.receive_handle(b, timeout=5)
        _canonical(obj, payload)
        return obj
    finally:
        a.close()
        b.close()
        if isinstance(fd, int) and 0 <= fd < 1000:
            os.close(fd)


def _one(data: bytes) -> None:
    target = _byte(data, 0) % 10
    base = BASES[_byte(data, 1) % len(BASES)]
    fd_choice = FDS[_byte(data, 2) % len(FDS)]
    extra = _byte(data, 4)
    payload = _patched(BASE_PAYLOADS[base], data[5:])
    arg = _form(payload, _byte(data, 3) % 10)
    fd = _fd(fd_choice, extra)
    obj = None
    try:
        if target <= 4:
            obj = HANDLE_CLASSES[target].from_bytes(arg, fd)
            _canonical(obj, arg)
        elif target == 5:
            obj = _receive(payload, fd, extra)
        else:
            # The reduce arguments as a pickle from another process could carry them: the
            # payload and the UUID are that process's data; the shared fd is multiprocessing's
            # DupFd (or None for a handle without an fd), the class one of Geyser's handle
            # classes and the timeline a Timeline or None, as the reducers make them (a pickle
            # that names other callables is outside what unpickling can defend).
            shared = SharedFd(fd)
            if target == 6:
                obj = pickling._rebuild_texture(arg, shared, KEEP[2] if extra & 1 else None)
            elif target == 7:
                obj = pickling._rebuild_buffer(arg, shared)
            elif target == 8:
                uuid = [UUID, "zz" * 16, "0" * 32, UUID.upper()][extra & 3]
                obj = pickling._rebuild_timeline(uuid, arg, shared)
            else:
                cls = HANDLE_CLASSES[(extra & 7) % len(HANDLE_CLASSES)]
                if extra & 8:
                    shared = None
                    if isinstance(fd, int) and 0 <= fd < 1000:
                        os.close(fd)  # the harness's own duplicate, not handed over
                obj = pickling._rebuild_handle(cls, arg, shared)
                _canonical(obj, arg)
        _use(obj)
    except ALLOWED:
        pass
    except Finding:
        raise
    except Exception as e:  # noqa: BLE001 - the finding itself
        raise Finding(f"target {target} ({base}, fd {fd_choice!r}) raised {type(e).__name__}: {e}") from e
    finally:
        if obj is not None:
            obj.close()
        obj = None


BASELINE = None
#: With GEYSER_VALIDATION=1 every validation-layer message is a finding, except the driver's own
#: report of an import it refused (lavapipe's opaque fds are memfds, like a portable timeline's,
#: so only the driver can tell them apart; Geyser then raises InvalidHandleError).
TOLERATED = re.compile(r"VK_ERROR_INVALID_EXTERNAL_HANDLE")


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris's name
    global BASELINE
    if BASELINE is None:
        gc.collect()
        BASELINE = len(os.listdir(FD_DIR))
    _one(data)
    messages = [m for m in geyser.validation_messages() if not TOLERATED.search(m)]
    geyser.clear_validation_messages()
    if messages:
        raise Finding(f"validation messages: {messages}")
    if len(os.listdir(FD_DIR)) != BASELINE:
        gc.collect()  # a cycle may hold a closed-on-collection handle; that is not a leak
        now = len(os.listdir(FD_DIR))
        if now != BASELINE:
            extra = now - BASELINE
            BASELINE = now  # report once, not on every following input
            raise Finding(f"{extra:+d} fds after this input")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
