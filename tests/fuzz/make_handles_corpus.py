#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_handles.py into tests/fuzz/handles_corpus/ (replacing what is
there), in the input layout its docstring describes: five header bytes (target, base payload, fd,
payload form, extra), then patch ops on the base payload. Offsets of fields follow the layouts of
cpp/include/geyser/wire.hpp.

Besides one plain input per target and payload, the corpus keeps the inputs behind the bugs the
harness found (docs/reliability.md, "Bugs found and fixed"), as the same operation in this
layout: ``finding-*`` and ``regression-*``.
"""

import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "handles_corpus"

# Byte [0]: targets.
TEXTURE_HANDLE, BUFFER_HANDLE, SEMAPHORE_HANDLE, FENCE_HANDLE, TIMELINE_HANDLE, RECEIVE, \
    REBUILD_TEXTURE, REBUILD_BUFFER, REBUILD_TIMELINE, REBUILD_HANDLE = range(10)
# Byte [1]: base payloads, in fuzz_handles.BASES order.
BASES = ["texture", "buffer", "portable-timeline", "vulkan-timeline", "timeline-semaphore", "binary-semaphore",
         "fence", "signalled-fence"]
# Byte [2]: fds, in fuzz_handles.FDS order.
FDS = ["texture", "buffer", "timeline", "pipe", "devnull", "memfd", "-1", "not-open", "beyond-int", "None", "x"]
# Byte [3]: payload forms.
BYTES, BYTEARRAY, MEMORYVIEW, HEX, NONE, INT, LIST = 0, 4, 5, 6, 7, 8, 9
# Byte [4] for RECEIVE: the message type in bits 0-1, the fd copies in bits 2-3.
MEMORY_MSG, SYNC_MSG, TIMELINE_MSG, FRAME_MSG = range(4)

# Field offsets in encode_memory_handle's payload.
VK_FORMAT, VK_USAGE, TEXTURE_FORMAT, BUFFER_SIZE, BUFFER_USAGE = 61, 65, 81, 89, 97
KIND, SIZE, WIDTH = 0, 8, 53
# ... and in encode_sync_handle's.
PRIMITIVE, SEMAPHORE_TYPE, HANDLE_TYPE, ALREADY_SIGNALED = 0, 4, 8, 12


def set8(offset, value):
    return bytes([0, offset, value])


def set32(offset, value):
    return bytes([1, offset]) + struct.pack("<I", value)


def truncate(offset):
    return bytes([2, offset])


def append(data: bytes):
    return bytes([3, len(data)]) + data


def seed(target, base, fd, form=BYTES, extra=0, ops=b""):
    return bytes([target, BASES.index(base), FDS.index(fd), form, extra]) + ops


# The fd each base payload belongs with (a foreign memfd for the semaphores this driver cannot
# export; none for an already-signalled sync FD).
OWN_FD = {"texture": "texture", "buffer": "buffer", "portable-timeline": "timeline", "vulkan-timeline": "memfd",
          "timeline-semaphore": "memfd", "binary-semaphore": "memfd", "fence": "memfd", "signalled-fence": "-1"}
CLASS_OF = {"texture": TEXTURE_HANDLE, "buffer": BUFFER_HANDLE, "portable-timeline": TIMELINE_HANDLE,
            "vulkan-timeline": TIMELINE_HANDLE, "timeline-semaphore": SEMAPHORE_HANDLE,
            "binary-semaphore": SEMAPHORE_HANDLE, "fence": FENCE_HANDLE, "signalled-fence": FENCE_HANDLE}
MESSAGE_OF = {"texture": MEMORY_MSG, "buffer": MEMORY_MSG, "portable-timeline": TIMELINE_MSG,
              "vulkan-timeline": TIMELINE_MSG, "timeline-semaphore": SYNC_MSG, "binary-semaphore": SYNC_MSG,
              "fence": SYNC_MSG, "signalled-fence": SYNC_MSG}


def seeds():
    for base in BASES:
        cls, fd = CLASS_OF[base], OWN_FD[base]
        yield f"from-bytes-{base}", seed(cls, base, fd)
        copies = 0 if base == "signalled-fence" else 1
        yield f"receive-{base}", seed(RECEIVE, base, fd, extra=MESSAGE_OF[base] | copies << 2)
        yield f"rebuild-handle-{base}", seed(REBUILD_HANDLE, base, fd, extra=cls - TEXTURE_HANDLE)
    yield "rebuild-handle-signalled-fence-no-shared-fd", seed(REBUILD_HANDLE, "signalled-fence", "-1",
                                                              extra=FENCE_HANDLE | 8)
    yield "rebuild-texture", seed(REBUILD_TEXTURE, "texture", "texture")
    yield "rebuild-texture-with-timeline", seed(REBUILD_TEXTURE, "texture", "texture", extra=1)
    yield "rebuild-buffer", seed(REBUILD_BUFFER, "buffer", "buffer")
    yield "rebuild-timeline", seed(REBUILD_TIMELINE, "portable-timeline", "timeline")
    yield "rebuild-timeline-garbage-uuid", seed(REBUILD_TIMELINE, "portable-timeline", "timeline", extra=1)

    # Next to the rejection paths: the wrong class, fd or form, broken bytes.
    yield "texture-bytes-as-buffer", seed(BUFFER_HANDLE, "texture", "texture")
    yield "semaphore-bytes-as-fence", seed(FENCE_HANDLE, "timeline-semaphore", "memfd")
    yield "texture-with-timeline-fd", seed(TEXTURE_HANDLE, "texture", "timeline")
    yield "texture-with-pipe", seed(TEXTURE_HANDLE, "texture", "pipe")
    yield "texture-fd-not-open", seed(TEXTURE_HANDLE, "texture", "not-open", extra=7)
    yield "texture-fd-beyond-int", seed(TEXTURE_HANDLE, "texture", "beyond-int")
    yield "texture-fd-none", seed(TEXTURE_HANDLE, "texture", "None")
    yield "texture-fd-str", seed(TEXTURE_HANDLE, "texture", "x")
    yield "texture-no-fd", seed(TEXTURE_HANDLE, "texture", "-1")
    for name, form in [("bytearray", BYTEARRAY), ("memoryview", MEMORYVIEW), ("hex", HEX), ("none", NONE),
                       ("int", INT), ("list", LIST)]:
        yield f"texture-as-{name}", seed(TEXTURE_HANDLE, "texture", "texture", form=form)
    yield "texture-truncated", seed(TEXTURE_HANDLE, "texture", "texture", ops=truncate(100))
    yield "texture-trailing-byte", seed(TEXTURE_HANDLE, "texture", "texture", ops=append(b"\0"))
    yield "texture-zero-width", seed(TEXTURE_HANDLE, "texture", "texture", ops=set32(WIDTH, 0))
    yield "texture-kind-buffer", seed(TEXTURE_HANDLE, "texture", "texture", ops=set8(KIND, 2))
    yield "buffer-size-plus-page", seed(BUFFER_HANDLE, "buffer", "buffer", ops=set32(SIZE, 4096 + 256))
    yield "buffer-bigger-than-allocation", seed(BUFFER_HANDLE, "buffer", "buffer", ops=set32(BUFFER_SIZE, 257))
    yield "semaphore-unknown-primitive", seed(SEMAPHORE_HANDLE, "timeline-semaphore", "memfd", ops=set8(PRIMITIVE, 3))
    yield "semaphore-timeline-as-sync-fd", seed(SEMAPHORE_HANDLE, "timeline-semaphore", "memfd",
                                                ops=set8(HANDLE_TYPE, 0x10))
    yield "fence-signalled-with-fd", seed(FENCE_HANDLE, "signalled-fence", "memfd")
    yield "fence-signalled-opaque", seed(FENCE_HANDLE, "signalled-fence", "-1", ops=set8(HANDLE_TYPE, 1))
    yield "timeline-unknown-kind", seed(TIMELINE_HANDLE, "portable-timeline", "timeline", ops=set8(0, 7))
    yield "vulkan-timeline-binary-semaphore", seed(TIMELINE_HANDLE, "vulkan-timeline", "memfd",
                                                   ops=set8(5 + SEMAPHORE_TYPE, 1))
    yield "vulkan-timeline-short-semaphore", seed(TIMELINE_HANDLE, "vulkan-timeline", "memfd", ops=truncate(40))
    yield "receive-texture-as-sync-message", seed(RECEIVE, "texture", "texture", extra=SYNC_MSG | 1 << 2)
    yield "receive-texture-two-fds", seed(RECEIVE, "texture", "texture", extra=MEMORY_MSG | 2 << 2)
    yield "receive-frame-message", seed(RECEIVE, "texture", "texture", extra=FRAME_MSG | 1 << 2)
    yield "receive-timeline-no-fd", seed(RECEIVE, "portable-timeline", "timeline", extra=TIMELINE_MSG)

    # The bugs (docs/reliability.md, "Bugs found and fixed"), as this harness expresses them.
    # 3: a buffer whose usage lacks TRANSFER_SRC imported, rebuilt by unpickling (with a
    # texture's fd, as found).
    yield "regression-buffer-without-copy-usage", seed(REBUILD_BUFFER, "buffer", "texture",
                                                       ops=set32(BUFFER_USAGE, 0x22))
    # 4: usage bits outside VkImageUsageFlagBits (from_bytes, with a timeline's memfd, as found).
    yield "regression-unknown-usage-bits", seed(TEXTURE_HANDLE, "texture", "timeline",
                                                ops=set32(VK_USAGE, 1195853568))
    # 5: TRANSIENT_ATTACHMENT with non-attachment usages, through the bytes a channel carries.
    yield "regression-transient-usage", seed(RECEIVE, "texture", "buffer", extra=MEMORY_MSG | 1 << 2,
                                             ops=set8(VK_USAGE, 0x41))
    # 5: a buffer usage bit outside BufferUsage (0x08), copies allowed, through a channel.
    yield "regression-buffer-unknown-usage-bits", seed(RECEIVE, "buffer", "buffer", extra=MEMORY_MSG | 1 << 2,
                                                       ops=set8(BUFFER_USAGE, 0xcb))
    # A VkFormat Geyser does not share, without a format tag, reached the driver's format query.
    yield "finding-unknown-vkformat", seed(TEXTURE_HANDLE, "texture", "timeline",
                                           ops=set32(VK_FORMAT, 1903259904) + set32(TEXTURE_FORMAT, 0))


def main():
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    names = set()
    for name, data in seeds():
        assert name not in names, name
        names.add(name)
        (CORPUS / name).write_bytes(data)
    print(f"make_handles_corpus: wrote {len(names)} seeds to {CORPUS}")


if __name__ == "__main__":
    main()
