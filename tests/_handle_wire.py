"""The handle encodings of geyser/wire.hpp, written out independently of the core, for tests that
build a handle with one field changed: the bytes a broken or hostile peer (or pickle) could
carry. geyser itself has no codec in Python (``to_bytes``/``from_bytes`` call the core's);
reading and writing the fields a second time here, from the layout the header documents, also
checks that layout.

    payload = changed(handle.to_bytes(), width=0)   # the same handle, but 0 wide
    geyser.TextureHandle.from_bytes(payload, fd)     # ProtocolError: the decoder refuses it
"""

from __future__ import annotations

import struct

# MemoryHandle: encode_memory_handle's 101 bytes, in wire.hpp's order.
MEMORY = struct.Struct("<IIQIB16s16sIIIIIIIIIQI")
MEMORY_FIELDS = ("kind", "handle_type", "size", "memory_type_index", "dedicated", "device_uuid", "driver_uuid",
                 "width", "height", "vk_format", "vk_usage", "vk_tiling", "vk_create_flags", "vk_layout",
                 "texture_format", "texture_usage", "buffer_size", "buffer_usage")
TEXTURE, BUFFER = 1, 2

# SyncHandle: encode_sync_handle's 54 bytes.
SYNC = struct.Struct("<IIIBBQ16s16s")
SYNC_FIELDS = ("primitive", "semaphore_type", "handle_type", "already_signaled", "permanent", "initial_value",
               "device_uuid", "driver_uuid")
SEMAPHORE, FENCE = 1, 2
BINARY, TIMELINE = 1, 2
OPAQUE_FD, SYNC_FD = 0x1, 0x10

# TimelineHandle: u8 kind, then for a Vulkan timeline the u32-length-prefixed sync handle.
PORTABLE, VULKAN = 1, 2

assert MEMORY.size == 101 and SYNC.size == 54


def memory_fields(payload: bytes) -> dict:
    return dict(zip(MEMORY_FIELDS, MEMORY.unpack(payload)))


def memory_handle(**fields) -> bytes:
    return MEMORY.pack(*(fields[name] for name in MEMORY_FIELDS))


def sync_fields(payload: bytes) -> dict:
    return dict(zip(SYNC_FIELDS, SYNC.unpack(payload)))


def sync_handle(*, primitive: int = SEMAPHORE, semaphore_type: int = BINARY, handle_type: int = OPAQUE_FD,
                already_signaled: bool = False, permanent: bool = True, initial_value: int = 0,
                device_uuid: bytes = bytes(16), driver_uuid: bytes = bytes(16)) -> bytes:
    return SYNC.pack(primitive, semaphore_type, handle_type, already_signaled, permanent, initial_value,
                     device_uuid, driver_uuid)


def timeline_handle(kind: int, semaphore: bytes = b"") -> bytes:
    out = struct.pack("<B", kind)
    if kind == VULKAN:
        out += struct.pack("<I", len(semaphore)) + semaphore
    return out


def changed(payload: bytes, **changes) -> bytes:
    """``payload`` (a memory or a sync handle's encoding) with ``changes`` made to its fields."""
    if len(payload) == MEMORY.size:
        fields, encode = memory_fields(payload), memory_handle
    elif len(payload) == SYNC.size:
        fields, encode = sync_fields(payload), lambda **f: sync_handle(**f)
    else:
        raise AssertionError(f"{len(payload)} bytes are neither a memory nor a sync handle's encoding")
    for name in changes:
        assert name in fields, f"no field {name!r} in {sorted(fields)}"
    fields.update(changes)
    return encode(**fields)
