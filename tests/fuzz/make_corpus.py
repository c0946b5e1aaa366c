#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_wire into tests/fuzz/corpus/ (replacing what is there).

Every input starts with fuzz_wire's selector byte (target in the low nibble: 0 frame, 1
memory_handle payload, 2 WireReader program, 3-7 hello, sender_info, sync_handle, the timeline
announcement and frame, 8 timeline_handle, 9 copy_ring, 10 peer_answer; 0x10 on a codec that takes an fd means "no fd"). The
frames and payloads are built here field by field with struct, from the layouts written down in
cpp/include/geyser/wire.hpp and cpp/include/geyser/sender_protocol.hpp, not by calling the
codecs, so valid seeds also pin the layout. A few are deliberately truncated or corrupted so the
fuzzer starts next to each rejection path.
"""

import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

FRAME, MEMORY_HANDLE, READER, HELLO, SENDER_INFO, SYNC_HANDLE, TIMELINE, FRAME_MESSAGE, TIMELINE_HANDLE, COPY_RING, PEER_ANSWER = range(11)
NO_FD = 0x10

MAGIC = 0x52535947  # "GYSR" on the wire
VERSION = 1
MEMORY_HANDLE_TYPE, SYNC_HANDLE_TYPE, TIMELINE_TYPE, HELLO_TYPE, SENDER_INFO_TYPE, COPY_RING_TYPE = 1, 2, 3, 16, 21, 24
PEER_ANSWER_TYPE = 25
OPAQUE_FD, SYNC_FD, DMA_BUF = 0x1, 0x10, 0x200
VK_FORMAT_R8G8B8A8_UNORM = 37
VK_IMAGE_TILING_DRM_FORMAT_MODIFIER_EXT = 1000158000


def header(msg_type, payload_size, fd_count, *, magic=MAGIC, version=VERSION, flags=0):
    # u32 magic, u16 version, u16 type, u32 payload_size, u16 fd_count, u16 flags
    return struct.pack("<IHHIHH", magic, version, msg_type, payload_size, fd_count, flags)


TEXTURE = dict(kind=1, handle_type=OPAQUE_FD, size=65536, memory_type_index=2, dedicated=1,
               device_uuid=bytes(range(16)), driver_uuid=bytes(range(16, 32)), width=64, height=32,
               vk_format=VK_FORMAT_R8G8B8A8_UNORM, vk_usage=0x7, vk_tiling=0, vk_create_flags=0,
               vk_layout=1, texture_format=1, texture_usage=3, buffer_size=0, buffer_usage=0)
BUFFER = dict(TEXTURE, kind=2, handle_type=DMA_BUF, size=4096, dedicated=0, width=0, height=0,
              vk_format=0, vk_usage=0, vk_layout=0, texture_format=0, texture_usage=0,
              buffer_size=1000, buffer_usage=0x3)


def memory_handle(**fields):
    f = fields
    # The 101-byte layout of encode_memory_handle, in wire.hpp's order.
    return struct.pack("<IIQIB16s16sIIIIIIIIIQI", f["kind"], f["handle_type"], f["size"],
                       f["memory_type_index"], f["dedicated"], f["device_uuid"], f["driver_uuid"],
                       f["width"], f["height"], f["vk_format"], f["vk_usage"], f["vk_tiling"],
                       f["vk_create_flags"], f["vk_layout"], f["texture_format"], f["texture_usage"],
                       f["buffer_size"], f["buffer_usage"])


# WireReader program ops (low nibble), and the max_size table index (high nibble) of fuzz_wire.cpp.
U8, U16, U32, U64, BOOLEAN, UUID, BYTES, STRING, FINISH = range(9)
LIMIT_1 = 2 << 4  # kLimits[2] == 1


def program(ops, data):
    return bytes([len(ops)]) + bytes(ops) + data


def lp(b):
    """A u32 length prefix and the bytes."""
    return struct.pack("<I", len(b)) + b


# Named-sender payloads (sender_protocol.hpp's layouts, field by field).
def hello(protocol=4, pid=4242, subscribe=1, client=b"fuzz", path=1, device_uuid=bytes(16)):
    return struct.pack("<HIB", protocol, pid, subscribe) + lp(client) + bytes([path]) + device_uuid


def peer_answer(accepted, message):
    # u8 accepted, then the message as a u32-length-prefixed string
    return bytes([accepted]) + lp(message)


def copy_ring(slots=3, planes=((1, 0, 8192),)):
    # u32 slots, u64 slot_size, u32 plane count, then per plane u32 aspect, u64 offset, u64 size
    slot_size = sum(p[2] for p in planes)
    return struct.pack("<IQI", slots, slot_size, len(planes)) + b"".join(struct.pack("<IQQ", *p) for p in planes)


def sender_info(name=b"demo", ring_size=3, tensors=None):
    # u16 protocol, string name, u32 producer_pid, ring_size, width, height, vk_format,
    # texture_format, texture_usage, u8 payload, u8 sync_kind, u8 mode, u32 max_held,
    # u64 current_frame, u32 subscribers, 2 UUIDs, then the layout: u8 tensor count and per
    # tensor a string name, u8 dtype, u8 rank, rank u64 dimensions (a buffer ring: payload 2,
    # every texture field 0).
    if tensors is None:
        fields, layout = (64, 32, VK_FORMAT_R8G8B8A8_UNORM, 1, 3, 1), b"\0"
    else:
        fields, layout = (0, 0, 0, 0, 0, 2), bytes([len(tensors)])
        for tname, dtype, shape in tensors:
            layout += lp(tname) + bytes([dtype, len(shape)]) + struct.pack(f"<{len(shape)}Q", *shape)
    return (struct.pack("<H", 4) + lp(name) +
            struct.pack("<IIIIIIIBBBIQI", 4242, ring_size, *fields, 1, 1, ring_size, 5, 2) +
            bytes(range(16)) + bytes(range(16, 32)) + layout)


def sync_handle(primitive=1, semaphore_type=2, handle_type=OPAQUE_FD, already_signaled=0, permanent=1,
                initial_value=None):
    # u32 primitive, u32 semaphore_type, u32 handle_type, u8 already_signaled, u8 permanent,
    # u64 initial_value, 2 UUIDs (54 bytes). Only a timeline semaphore carries a value.
    if initial_value is None:
        initial_value = 7 if (primitive, semaphore_type) == (1, 2) else 0
    return (struct.pack("<IIIBBQ", primitive, semaphore_type, handle_type, already_signaled, permanent,
                        initial_value) + bytes(range(16)) + bytes(range(16, 32)))


def timeline_handle(kind=2, semaphore=None):
    # u8 kind; kVulkan: u32 length + the sync handle payload.
    if kind != 2:
        return bytes([kind])
    sem = sync_handle() if semaphore is None else semaphore
    return bytes([kind]) + lp(sem)


def seeds():
    texture = memory_handle(**TEXTURE)
    buffer = memory_handle(**BUFFER)
    assert len(texture) == len(buffer) == 101
    tex_frame = header(MEMORY_HANDLE_TYPE, len(texture), 1) + texture

    yield "frame-memory-handle-texture", FRAME, tex_frame
    yield "frame-memory-handle-no-fd", FRAME, header(MEMORY_HANDLE_TYPE, len(texture), 0) + texture
    yield "frame-hello", FRAME, header(HELLO_TYPE, len(hello()), 0) + hello()
    yield "frame-sender-info", FRAME, header(SENDER_INFO_TYPE, len(sender_info()), 0) + sender_info()
    timeline = bytes([1]) + timeline_handle()  # the sender's announcement: a role, then the handle
    yield "frame-timeline-vulkan", FRAME, header(TIMELINE_TYPE, len(timeline), 1) + timeline
    yield "frame-timeline-handle-portable", FRAME, header(TIMELINE_TYPE, 1, 1) + timeline_handle(1)
    yield "frame-timeline-handle-vulkan", FRAME, header(TIMELINE_TYPE, 59, 1) + timeline_handle()
    sem = sync_handle(semaphore_type=1)
    yield "frame-sync-handle-binary", FRAME, header(SYNC_HANDLE_TYPE, len(sem), 1) + sem
    signalled = sync_handle(primitive=2, semaphore_type=1, handle_type=SYNC_FD, already_signaled=1, permanent=0)
    yield "frame-sync-handle-signalled-fence", FRAME, header(SYNC_HANDLE_TYPE, len(signalled), 0) + signalled
    yield "frame-unknown-type", FRAME, header(0x0207, 3, 3) + b"\xaa\xbb\xcc"
    yield "frame-truncated-header", FRAME, tex_frame[:15]
    yield "frame-truncated-payload", FRAME, tex_frame[:-1]
    yield "frame-bad-magic", FRAME, header(HELLO_TYPE, 0, 0, magic=0x52535948)
    yield "frame-version-2", FRAME, header(HELLO_TYPE, 0, 0, version=2)

    yield "mh-texture", MEMORY_HANDLE, texture
    yield "mh-buffer-dma-buf", MEMORY_HANDLE, buffer
    yield "mh-texture-drm-tiling", MEMORY_HANDLE, memory_handle(
        **dict(TEXTURE, handle_type=DMA_BUF, vk_tiling=VK_IMAGE_TILING_DRM_FORMAT_MODIFIER_EXT))
    yield "mh-texture-no-fd", MEMORY_HANDLE | NO_FD, texture
    yield "mh-truncated", MEMORY_HANDLE, texture[:100]
    yield "mh-dedicated-2", MEMORY_HANDLE, memory_handle(**dict(TEXTURE, dedicated=2))
    yield "mh-two-handle-type-bits", MEMORY_HANDLE, memory_handle(**dict(TEXTURE, handle_type=0x201))
    yield "mh-vk-format-above-int32", MEMORY_HANDLE, memory_handle(**dict(TEXTURE, vk_format=0x80000000))
    yield "mh-buffer-larger-than-allocation", MEMORY_HANDLE, memory_handle(**dict(BUFFER, buffer_size=4097))

    every = struct.pack("<BHIQB", 0xfe, 0xbeef, 0xdeadbeef, 0x0123456789abcdef, 1) + bytes(range(16))
    every += lp(b"\x00\x01\x02") + lp("héllo, 世界 🌋".encode())
    yield "reader-every-primitive", READER, program([U8, U16, U32, U64, BOOLEAN, UUID, BYTES, STRING, FINISH], every)
    yield "reader-string-surrogate", READER, program([STRING], lp(b"\xed\xa0\x80"))
    yield "reader-bytes-over-limit", READER, program([BYTES | LIMIT_1], lp(b"ab"))
    yield "reader-bytes-past-end", READER, program([BYTES], struct.pack("<I", 8) + b"abc")
    yield "reader-trailing-bytes", READER, program([U16, FINISH], b"\x01\x02\x03")

    yield "hello", HELLO, hello()
    yield "sender-info", SENDER_INFO, sender_info()
    yield "sender-info-tensors", SENDER_INFO, sender_info(tensors=[(b"obs", 12, (4, 84, 84)), (b"reward", 12, (4,))])
    yield "sender-info-tensor-scalar", SENDER_INFO, sender_info(tensors=[(b"t", 2, ())])
    yield "sender-info-tensor-overflow", SENDER_INFO, sender_info(tensors=[(b"t", 13, (1 << 62, 4))])
    yield "sender-info-tensor-duplicate", SENDER_INFO, sender_info(tensors=[(b"a", 2, (1,)), (b"a", 2, (1,))])
    yield "sender-info-tensor-unknown-dtype", SENDER_INFO, sender_info(tensors=[(b"a", 99, (1,))])
    yield "sync-handle-opaque-fd", SYNC_HANDLE, sync_handle()
    yield "sync-handle-signalled-sync-fd", SYNC_HANDLE | NO_FD, sync_handle(
        semaphore_type=1, handle_type=0x10, already_signaled=1, permanent=0)
    yield "sync-handle-fence-opaque-fd", SYNC_HANDLE, sync_handle(primitive=2, semaphore_type=1)
    yield "sync-handle-timeline-as-sync-fd", SYNC_HANDLE, sync_handle(handle_type=SYNC_FD)
    yield "sync-handle-binary-with-value", SYNC_HANDLE, sync_handle(semaphore_type=1, initial_value=3)
    yield "timeline-vulkan", TIMELINE, timeline
    yield "timeline-portable", TIMELINE, bytes([2]) + timeline_handle(1)
    yield "frame-message", FRAME_MESSAGE, struct.pack("<QIB", 9, 1, 1)
    yield "hello-copy", HELLO, hello(path=2)
    yield "hello-protocol-2", HELLO, hello(protocol=2)[:-17]
    yield "hello-protocol-3", HELLO, hello(protocol=3)[:-16]
    yield "hello-peer-copy", HELLO, hello(path=3, device_uuid=bytes(range(16)))
    yield "hello-peer-copy-no-uuid", HELLO, hello(path=3)
    yield "hello-copy-with-uuid", HELLO, hello(path=2, device_uuid=bytes(range(16)))
    yield "hello-path-4", HELLO, hello(path=4)
    yield "peer-answer", PEER_ANSWER, peer_answer(1, b"frames are copied GPU to GPU")
    yield "peer-answer-refused", PEER_ANSWER, peer_answer(0, b"not possible: CUDA unavailable in the producer")
    yield "peer-answer-empty", PEER_ANSWER, peer_answer(1, b"")
    yield "peer-answer-bad-flag", PEER_ANSWER, peer_answer(2, b"x")
    yield "frame-peer-answer", FRAME, header(PEER_ANSWER_TYPE, len(peer_answer(1, b"ok")), 0) + peer_answer(1, b"ok")
    yield "copy-ring", COPY_RING, copy_ring()
    yield "copy-ring-depth-stencil", COPY_RING, copy_ring(planes=((2, 0, 4096), (4, 4096, 1024)))
    yield "copy-ring-bytes", COPY_RING, copy_ring(planes=((0, 0, 4096),))
    yield "copy-ring-plane-past-slot", COPY_RING, struct.pack("<IQIIQQ", 3, 100, 1, 1, 50, 100)
    yield "copy-ring-huge-slot", COPY_RING, copy_ring(planes=((1, 0, 1 << 40),))
    yield "frame-copy-ring", FRAME, header(COPY_RING_TYPE, len(copy_ring()), 1) + copy_ring()

    yield "timeline-handle-portable", TIMELINE_HANDLE, timeline_handle(1)
    yield "timeline-handle-vulkan", TIMELINE_HANDLE, timeline_handle()
    yield "timeline-handle-no-fd", TIMELINE_HANDLE | NO_FD, timeline_handle(1)
    yield "timeline-handle-unknown-kind", TIMELINE_HANDLE, timeline_handle(3)
    yield "timeline-handle-binary-semaphore", TIMELINE_HANDLE, timeline_handle(semaphore=sync_handle(semaphore_type=1))
    yield "timeline-handle-semaphore-too-long", TIMELINE_HANDLE, bytes([2]) + lp(sync_handle() + b"\0")


def main():
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    names = set()
    for name, selector, body in seeds():
        assert name not in names, name
        names.add(name)
        data = bytes([selector]) + body
        assert len(data) < 1024, name
        (CORPUS / name).write_bytes(data)
    print(f"make_corpus: wrote {len(names)} seeds to {CORPUS}")


if __name__ == "__main__":
    main()
