"""The named-sender protocol's payloads, written out independently of the core, for tests that
play a hostile or broken producer. geyser itself has no protocol code in Python: both halves are
the core's (geyser/sender_protocol.hpp). Encoding the messages a second time here, from the
layout the header documents, also checks that layout. The handles inside the messages use the
wire layer's encodings (tests/_handle_wire.py)."""

from __future__ import annotations

import struct

import _handle_wire

PROTOCOL = 4
TEXTURE, BUFFER = 1, 2  # SenderInfo.payload (ResourceKind)
ZERO_COPY, COPY, PEER_COPY = 1, 2, 3
READY = 1
LOSSLESS, LATEST = 1, 2
PORTABLE, VULKAN = _handle_wire.PORTABLE, _handle_wire.VULKAN


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def sender_info(name: str, pid: int, ring_size: int, width: int, height: int, vk_format: int,
                texture_format: int, texture_usage: int, sync_kind: int, current_frame: int,
                subscribers: int, device_uuid: bytes, driver_uuid: bytes, mode: int = LOSSLESS,
                max_held: int | None = None, payload: int = TEXTURE,
                tensors: list[tuple[str, int, tuple[int, ...]]] = ()) -> bytes:
    """``tensors``: a tensor stream's layout, (name, dtype number, shape) each (payload BUFFER)."""
    if max_held is None:
        max_held = ring_size if mode == LOSSLESS else ring_size - 2
    layout = struct.pack("<B", len(tensors))
    for tname, dtype, shape in tensors:
        layout += _string(tname) + struct.pack(f"<BB{len(shape)}Q", dtype, len(shape), *shape)
    return (struct.pack("<H", PROTOCOL) + _string(name)
            + struct.pack("<IIIIIIIBBBIQI", pid, ring_size, width, height, vk_format, texture_format,
                          texture_usage, payload, sync_kind, mode, max_held, current_frame, subscribers)
            + device_uuid + driver_uuid + layout)


def sync_handle(semaphore_type: int, handle_type: int, already_signaled: bool, permanent: bool,
                initial_value: int, device_uuid: bytes, driver_uuid: bytes) -> bytes:
    return _handle_wire.sync_handle(semaphore_type=semaphore_type, handle_type=handle_type,
                                    already_signaled=already_signaled, permanent=permanent,
                                    initial_value=initial_value, device_uuid=device_uuid, driver_uuid=driver_uuid)


def timeline_announce(role: int, kind: int, semaphore: bytes = b"") -> bytes:
    """A role byte, then the timeline handle's own encoding."""
    return struct.pack("<B", role) + _handle_wire.timeline_handle(kind, semaphore)


def frame(number: int, slot: int, flags: int = 0) -> bytes:
    """Protocol 4's Frame: number, slot, flags (bit 0: sent complete, nothing to wait for)."""
    return struct.pack("<QIB", number, slot, flags)


HELLO, FRAME, RELEASE, DROPPED = 16, 18, 19, 23


def hello(pid: int, subscribe: bool = True, client: str = "", path: int = ZERO_COPY,
          device_uuid: bytes = bytes(16)) -> bytes:
    """``device_uuid``: protocol 4's 16 bytes after the path (non-zero only for PEER_COPY)."""
    return (struct.pack("<HIB", PROTOCOL, pid, int(subscribe)) + _string(client) + struct.pack("<B", path)
            + device_uuid)


def hello_path(payload: bytes) -> int:
    """The path byte of a Hello (before protocol 4's 16-byte device UUID)."""
    return payload[-17]


def hello_device_uuid(payload: bytes) -> bytes:
    return payload[-16:]


COPY_RING, PEER_ANSWER = 24, 25


def peer_answer(accepted: bool, message: str) -> bytes:
    """A PeerAnswer: u8 accepted, then the message string."""
    return struct.pack("<B", int(accepted)) + _string(message)


def decode_peer_answer(payload: bytes) -> tuple[bool, str]:
    (n,) = struct.unpack_from("<I", payload, 1)
    return bool(payload[0]), payload[5:5 + n].decode()


def copy_ring(slots: int, slot_size: int, planes: list[tuple[int, int, int]]) -> bytes:
    """A CopyRing (geyser/copy_ring.hpp): u32 slots, u64 slot_size, u32 plane count, then per
    plane u32 aspect, u64 offset, u64 size."""
    return (struct.pack("<IQI", slots, slot_size, len(planes))
            + b"".join(struct.pack("<IQQ", a, o, n) for a, o, n in planes))


def frame_number(number: int) -> bytes:
    """A Release or FrameRequest payload."""
    return struct.pack("<Q", number)


def dropped_reason(payload: bytes) -> str:
    (n,) = struct.unpack_from("<I", payload)
    return payload[4:4 + n].decode()
