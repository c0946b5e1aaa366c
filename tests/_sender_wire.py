"""The named-sender protocol's payloads, written out independently of the core, for tests that
play a hostile or broken producer. geyser itself has no protocol code in Python: both halves are
the core's (geyser/sender_protocol.hpp). Encoding the messages a second time here, from the
layout the header documents, also checks that layout."""

from __future__ import annotations

import struct

PROTOCOL = 1
READY, RELEASED = 1, 2
PORTABLE, VULKAN = 1, 2


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def sender_info(name: str, pid: int, ring_size: int, width: int, height: int, vk_format: int,
                texture_format: int, texture_usage: int, sync_kind: int, current_frame: int,
                subscribers: int, device_uuid: bytes, driver_uuid: bytes) -> bytes:
    return (struct.pack("<H", PROTOCOL) + _string(name)
            + struct.pack("<IIIIIIIBQI", pid, ring_size, width, height, vk_format, texture_format,
                          texture_usage, sync_kind, current_frame, subscribers)
            + device_uuid + driver_uuid)


def sync_handle(semaphore_type: int, handle_type: int, already_signaled: bool, permanent: bool,
                initial_value: int, device_uuid: bytes, driver_uuid: bytes) -> bytes:
    return (struct.pack("<IIIBBQ", 1, semaphore_type, handle_type, already_signaled, permanent, initial_value)
            + device_uuid + driver_uuid)


def timeline_announce(role: int, kind: int, semaphore: bytes = b"") -> bytes:
    out = struct.pack("<BB", role, kind)
    if kind == VULKAN:
        out += struct.pack("<I", len(semaphore)) + semaphore
    return out


def frame(number: int, slot: int) -> bytes:
    return struct.pack("<QI", number, slot)
