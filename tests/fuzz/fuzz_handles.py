"""atheris harness over the Python-facing handle reconstruction (run by scripts/fuzz_handles.sh).

Every input picks a target and mutates what reaches it, starting from the real forms of real
exports made once at start-up (a texture, a buffer and a portable timeline on the first device):

* ``TextureHandle`` / ``BufferHandle`` / ``SemaphoreHandle`` / ``FenceHandle`` /
  ``TimelineHandle`` ``.from_dict(d, fd)``: ``d`` is a real ``to_dict()`` with keys removed,
  replaced by values of any type, or not a dict at all; ``fd`` is a duplicate of a real export,
  an fd of the wrong kind, a closed number, -1, None or not an int;
* the bytes form: ``_native.decode_memory_handle(payload, fd)`` (what ``receive_handle`` does
  with a message) on a mutated real payload;
* unpickling: the ForkingPickler rebuild functions of ``geyser.pickling`` (``_rebuild_texture``,
  ``_rebuild_buffer``, ``_rebuild_timeline``, ``_rebuild_handle``) called with mutated reduce
  arguments (the device UUID, the description, the shared-fd stand-in, the class).

Whatever comes back is used the way a receiver would (``to_dict()``, ``repr``, import into the
device, a read of the imported object) and closed. Findings, each reported as a crash with the
input saved: an exception other than ``geyser.GeyserError``, ``TypeError`` or ``ValueError``; an
fd left open after the iteration (``/proc/self/fd``); a segfault or abort.

    python tests/fuzz/fuzz_handles.py -max_total_time=60 CORPUS_DIR [SEEDS_DIR]
    python tests/fuzz/fuzz_handles.py CRASH_FILE        # replays one input
"""

from __future__ import annotations

import gc
import os
import re
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


def _setup():
    device = geyser.Device()
    texture = device.create_shareable_texture(geyser.TextureDescriptor(8, 4))
    texture.upload(__import__("numpy").full((4, 8, 4), 7, "uint8"))
    buffer = device.create_shareable_buffer(256)
    buffer.write(b"\x05" * 256)
    timeline = device.create_shared_timeline("portable", initial_value=3)
    with device.export_texture(texture) as th, device.export_buffer(buffer) as bh, \
            device.export_timeline(timeline) as lh:
        forms = {
            "texture": th.to_dict(),
            "buffer": bh.to_dict(),
            "timeline": lh.to_dict(),
            "texture-payload": bytes(_native.encode_memory_handle(th.native)),
            "buffer-payload": bytes(_native.encode_memory_handle(bh.native)),
        }
        # One fd of each kind, kept open for the whole run; each iteration gets duplicates.
        sources = {"texture": os.dup(th.fd), "buffer": os.dup(bh.fd), "timeline": os.dup(lh.fd)}
    sync = {
        "primitive": "semaphore", "kind": "binary", "handle_type": "opaque_fd", "already_signaled": False,
        "permanent": True, "initial_value": 0, "device_uuid": device.info.device_uuid,
        "driver_uuid": device.info.driver_uuid,
    }
    forms["semaphore"] = dict(sync)
    forms["fence"] = {**sync, "primitive": "fence", "kind": None}
    r, w = os.pipe()
    sources["pipe"] = r
    sources["pipe-w"] = w
    sources["devnull"] = os.open("/dev/null", os.O_RDONLY)
    return device, (texture, buffer, timeline), forms, sources


DEVICE, KEEP, FORMS, SOURCES = _setup()
UUID = DEVICE.info.device_uuid
KEYS = sorted({k for f in FORMS.values() if isinstance(f, dict) for k in f} | {"semaphore"})
HANDLE_CLASSES = [geyser.TextureHandle, geyser.BufferHandle, geyser.SemaphoreHandle, geyser.FenceHandle,
                  geyser.TimelineHandle]


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0):
    """Any value a hostile description could carry."""
    choice = fdp.ConsumeIntInRange(0, 13)
    if choice == 0:
        return fdp.ConsumeIntInRange(0, 64)
    if choice == 1:
        return fdp.ConsumeIntInRange(0, 2**32)
    if choice == 2:
        return fdp.ConsumeInt(9)  # signed, up to 2**71: beyond every C++ field
    if choice == 3:
        return fdp.ConsumeUnicodeNoSurrogates(40)
    if choice == 4:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)).hex()  # hex of any length
    if choice == 5:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20))
    if choice == 6:
        return None
    if choice == 7:
        return fdp.ConsumeBool()
    if choice == 8:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if choice == 9:
        return fdp.PickValueInList(["texture", "buffer", "vulkan", "portable", "opaque_fd", "sync_fd", "dma_buf",
                                    "fence", "semaphore", "timeline", "binary", UUID, ""])
    if choice == 10 and depth < 2:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if choice == 11 and depth < 2:
        return _mutate(dict(FORMS[fdp.PickValueInList(["texture", "buffer", "semaphore", "fence"])]), fdp, depth + 1)
    if choice == 12:
        return fdp.ConsumeIntInRange(-2**63, 2**64)
    return -fdp.ConsumeIntInRange(0, 2**33)


def _mutate(d: dict, fdp: atheris.FuzzedDataProvider, depth: int = 0):
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        key = fdp.PickValueInList(KEYS + ["", "unknown"])
        op = fdp.ConsumeIntInRange(0, 2)
        if op == 0:
            d.pop(key, None)
        else:
            d[key] = _value(fdp, depth)
    if depth == 0 and fdp.ConsumeIntInRange(0, 15) == 0:
        return _value(fdp, 2)  # not a dict at all
    return d


def _fd(fdp: atheris.FuzzedDataProvider):
    """An fd for the receiver to own (a new duplicate), or something that is not one."""
    choice = fdp.ConsumeIntInRange(0, 9)
    if choice <= 5:
        return os.dup(SOURCES[fdp.PickValueInList(sorted(SOURCES))])
    if choice == 6:
        return -1
    if choice == 7:
        return None
    if choice == 8:
        return fdp.ConsumeIntInRange(1000, 2**31 + 5)  # not open (or out of int range)
    # Not an int at all. (Never a small int: that could be an fd of this process, which the
    # receiver would then rightly own and close.)
    return fdp.PickValueInList(["x", 1e300, float("nan"), b"\x03", [3]])


def _use(obj) -> None:
    """What a receiver does with a reconstructed object; then it is closed."""
    if obj is None:
        return
    repr(obj)
    if hasattr(obj, "to_dict"):
        obj.to_dict()
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


def _one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 9)
    kind = fdp.PickValueInList(["texture", "buffer", "semaphore", "fence", "timeline"])
    d = _mutate(dict(FORMS[kind]), fdp)
    if kind == "timeline" and isinstance(d, dict) and fdp.ConsumeBool():
        d["semaphore"] = _mutate(dict(FORMS["semaphore"]), fdp, 1)
    fd = _fd(fdp)
    obj = None
    try:
        if target <= 4:
            obj = HANDLE_CLASSES[target].from_dict(d, fd)
        elif target == 5:
            payload = bytearray(FORMS[fdp.PickValueInList(["texture-payload", "buffer-payload"])])
            for _ in range(fdp.ConsumeIntInRange(0, 8)):
                if payload and fdp.ConsumeBool():
                    payload[fdp.ConsumeIntInRange(0, len(payload) - 1)] = fdp.ConsumeIntInRange(0, 255)
                else:
                    payload = payload[: fdp.ConsumeIntInRange(0, len(payload))] + fdp.ConsumeBytes(4)
            native = _native.decode_memory_handle(bytes(payload), fd)
            obj = (geyser.TextureHandle if native.kind == _native.ResourceKind.TEXTURE else geyser.BufferHandle)(native)
        else:
            # The reduce arguments as a pickle from another process could carry them: the UUID
            # and the description are that process's data (any string, any dict); the shared fd
            # is multiprocessing's DupFd (or None for a handle without an fd), the class one of
            # Geyser's handle classes and the timeline a Timeline or None, as the reducers make
            # them (a pickle that names other callables is outside what unpickling can defend).
            uuid = UUID if fdp.ConsumeBool() else fdp.PickValueInList(
                [fdp.ConsumeUnicodeNoSurrogates(40), fdp.ConsumeBytes(16).hex(), UUID.upper(), UUID[:-2], "0" * 32])
            if target != 9 or fdp.ConsumeIntInRange(0, 7):
                shared = SharedFd(fd)
            else:
                shared = None
                if isinstance(fd, int) and 0 <= fd < 1000:
                    os.close(fd)  # the harness's own duplicate, not handed over
            if target == 6:
                timeline = None if fdp.ConsumeBool() else KEEP[2]
                obj = pickling._rebuild_texture(uuid, d, shared, timeline)
            elif target == 7:
                obj = pickling._rebuild_buffer(uuid, d, shared)
            elif target == 8:
                obj = pickling._rebuild_timeline(uuid, d, shared)
            else:
                cls = fdp.PickValueInList(HANDLE_CLASSES)
                obj = pickling._rebuild_handle(cls, d, shared)
        _use(obj)
    except ALLOWED:
        pass
    except Exception as e:  # noqa: BLE001 - the finding itself
        raise Finding(f"target {target} ({kind}) raised {type(e).__name__}: {e}") from e
    finally:
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
