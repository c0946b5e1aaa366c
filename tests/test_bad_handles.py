"""Handles that must not import: each raises its specific error, leaks no fd, and leaves the
original good handle importable. A bad description is built as a peer would send it: the good
handle's wire bytes with one field changed (tests/_handle_wire.py). Where that breaks the wire
format itself, the core's decoder refuses it in ``from_bytes`` (ProtocolError, the fd closed)
before any import; otherwise the import refuses it."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

import numpy as np
import pytest

import _handle_wire as wire
import geyser
from geyser import TextureDescriptor, TextureFormat

# What lavapipe reports through the debug messenger when it refuses an fd (DRIVER_FACTS.md);
# tolerated under GEYSER_VALIDATION=1 only in the cases that reach the driver on purpose.
DRIVER_REFUSAL = r"VK_ERROR_INVALID_EXTERNAL_HANDLE"

W, H = 64, 48  # width + 1 changes the allocation size here (17x9 and 18x9 need the same)


@pytest.fixture
def good_texture(device):
    tex = device.create_shareable_texture(TextureDescriptor(W, H, TextureFormat.RGBA8_UNORM))
    data = np.random.default_rng(1).integers(0, 256, (H, W, 4), dtype=np.uint8)
    tex.upload(data)
    handle = device.export_texture(tex)
    yield handle, data
    handle.close()
    tex.close()


@pytest.fixture
def good_buffer(device):
    buf = device.create_shareable_buffer(4096)
    data = np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    buf.write(data)
    handle = device.export_buffer(buf)
    yield handle, data
    handle.close()
    buf.close()


@pytest.fixture(params=["texture", "buffer"])
def good(request, device2):
    """(handle, import function, check that the handle still imports with its data)."""
    if request.param == "texture":
        handle, data = request.getfixturevalue("good_texture")

        def still_good():
            with device2.import_texture(handle) as t:
                assert np.array_equal(t.download(), data)

        return handle, device2.import_texture, still_good
    handle, data = request.getfixturevalue("good_buffer")

    def still_good():
        with device2.import_buffer(handle) as b:
            assert b.read() == data

    return handle, device2.import_buffer, still_good


def tampered(handle, fd=None, **changes):
    """A handle like ``handle`` with ``changes`` to its wire fields; it owns ``fd`` (default: a dup
    of handle's)."""
    return type(handle).from_bytes(wire.changed(handle.to_bytes(), **changes), os.dup(handle.fd) if fd is None else fd)


@contextmanager
def no_fd_leak(fd_count):
    n = fd_count()
    yield
    assert fd_count() == n, f"fd count went from {n} to {fd_count()}"


def refuse_tampered(import_fn, handle, exc, fd_count, **changes):
    """A handle like ``handle`` with ``changes`` (see ``tampered``) is refused with exactly ``exc``,
    opening or closing no fd; the tampered handle is closed after."""
    bad = tampered(handle, **changes)
    try:
        return expect_refused(import_fn, bad, exc, fd_count)
    finally:
        bad.close()


def refuse_decoding(handle, fd_count, needle, **changes):
    """The bytes of ``handle`` with ``changes`` break the wire format: ``from_bytes`` raises exactly
    ProtocolError naming ``needle``, and closes the fd it was given (the count is as before the dup)."""
    payload = wire.changed(handle.to_bytes(), **changes)
    with no_fd_leak(fd_count):
        with pytest.raises(geyser.ProtocolError, match=needle) as e:
            type(handle).from_bytes(payload, os.dup(handle.fd))
    assert type(e.value) is geyser.ProtocolError, f"expected ProtocolError, got {type(e.value).__name__}: {e.value}"
    return e.value


def expect_refused(import_fn, bad, exc, fd_count):
    """``import_fn(bad)`` raises exactly ``exc`` and opens or closes no fd."""
    with no_fd_leak(fd_count):
        with pytest.raises(exc) as e:
            import_fn(bad)
    assert type(e.value) is exc, f"expected {exc.__name__}, got {type(e.value).__name__}: {e.value}"
    return e.value


# -- fds that are not Vulkan memory ------------------------------------------------------------

def test_closed_fd(good, fd_count):
    handle, import_fn, still_good = good
    n = os.open("/dev/null", os.O_RDONLY)
    os.close(n)
    bad = tampered(handle, fd=n)  # n is closed: nothing in this thread opens an fd before the import
    try:
        err = expect_refused(import_fn, bad, geyser.InvalidHandleError, fd_count)
        assert "not open" in str(err)
    finally:
        assert bad.detach() == n  # never close a number we do not own
    still_good()


def _dev_null(tmp_path, size):
    return os.open("/dev/null", os.O_RDWR), None


def _regular_file(tmp_path, size):
    p = tmp_path / "not-vulkan-memory"
    p.write_bytes(bytes(size))
    return os.open(p, os.O_RDWR), None


def _foreign_memfd(tmp_path, size):
    fd = os.memfd_create("not-from-vulkan")
    os.ftruncate(fd, size)
    return fd, None


def _pipe(tmp_path, size):
    r, w = os.pipe()
    return r, lambda: os.close(w)


def _socket(tmp_path, size):
    a, b = socket.socketpair()
    return a.detach(), b.close


def _directory(tmp_path, size):
    return os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), None


# (maker, reaches the driver): Geyser refuses an fd that is not the kind of file this driver
# exports memory as (it learns that kind once by exporting a small buffer). A memfd on lavapipe
# is that kind, so it reaches the driver, which refuses it through the debug messenger.
FOREIGN_FDS = {
    "dev-null": (_dev_null, False),
    "regular-file": (_regular_file, False),
    "foreign-memfd": (_foreign_memfd, True),
    "pipe": (_pipe, False),
    "socket": (_socket, False),
    "directory": (_directory, False),
}


@pytest.mark.parametrize("kind", list(FOREIGN_FDS))
def test_foreign_fd(good, fd_count, tmp_path, allow_validation, kind):
    handle, import_fn, still_good = good
    maker, reaches_driver = FOREIGN_FDS[kind]
    if reaches_driver:
        allow_validation(DRIVER_REFUSAL)
    with no_fd_leak(fd_count):
        fd, cleanup = maker(tmp_path, handle.size)
        bad = tampered(handle, fd=fd)
        try:
            expect_refused(import_fn, bad, geyser.InvalidHandleError, fd_count)
            os.fstat(fd)  # the failed import did not close the handle's fd
        finally:
            bad.close()
            if cleanup:
                cleanup()
    still_good()


@pytest.mark.parametrize("kind", ["dev-null", "regular-file"])
def test_foreign_fd_refused_before_the_driver(good, fd_count, tmp_path, kind):
    """Files of another kind never reach the driver: NVIDIA's refuses one, then refuses every later
    import of the memory it was described as (docs/hardware.md)."""
    handle, import_fn, still_good = good
    fd, _ = FOREIGN_FDS[kind][0](tmp_path, handle.size)
    err = refuse_tampered(import_fn, handle, geyser.InvalidHandleError, fd_count, fd=fd)
    assert "not exported by this driver" in str(err)
    still_good()


# -- descriptions that do not match the memory -------------------------------------------------

@pytest.mark.parametrize(
    "change",
    [
        lambda h: {"size": h.size + 4096},
        lambda h: {"size": h.size - 1},
        lambda h: {"memory_type_index": 7},
        lambda h: {"memory_type_index": 31},
        lambda h: {"memory_type_index": 32},
        lambda h: {"memory_type_index": 0xFFFFFFFF},
    ],
    ids=["size+4096", "size-1", "memory-type-7", "memory-type-31", "memory-type-32", "memory-type-max"],
)
def test_wrong_allocation(good, fd_count, change):
    handle, import_fn, still_good = good
    ch = change(handle)
    if "memory_type_index" in ch and ch["memory_type_index"] == handle.memory_type_index:
        pytest.skip("the device really uses that memory type")
    if isinstance(handle, geyser.BufferHandle) and ch.get("size", handle.size) < handle.buffer_size:
        # A buffer bigger than the allocation it claims breaks the wire format by itself.
        refuse_decoding(handle, fd_count, "'buffer_size'.*exceed the allocation size", **ch)
    else:
        refuse_tampered(import_fn, handle, geyser.InvalidHandleError, fd_count, **ch)
    still_good()


def _flip(hex_uuid: str) -> bytes:
    b = bytearray(bytes.fromhex(hex_uuid))
    b[0] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize("field", ["device_uuid", "driver_uuid"])
def test_wrong_uuid(good, fd_count, field):
    handle, import_fn, still_good = good
    refuse_tampered(import_fn, handle, geyser.DeviceMismatchError, fd_count, **{field: _flip(getattr(handle, field))})
    still_good()


def test_texture_handle_wrong_format_size(good_texture, device2, fd_count):
    handle, data = good_texture
    # RGBA32F needs four times the memory: the description cannot match the allocation.
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count, vk_format=109)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


def test_texture_handle_vk_format_contradicts_format(good_texture, device2, fd_count):
    handle, data = good_texture
    # R32_SFLOAT has the same texel size as RGBA8, so the allocation size matches; but the handle
    # says RGBA8_UNORM, whose only Vulkan format is R8G8B8A8_UNORM, so it describes no image
    # the exporter could have made.
    assert handle.format is TextureFormat.RGBA8_UNORM
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count, vk_format=100)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


@pytest.mark.parametrize("via", ["device", "native"])
def test_texture_handle_tag_contradicts_vk_format(good_texture, device2, fd_count, via):
    # The other way round (issue 14): an RGBA8 image tagged R32_FLOAT would download as float32.
    # The core refuses it, so the binding's own import does too, not just Device.import_texture.
    handle, data = good_texture
    import_fn = device2.import_texture if via == "device" else (lambda h: device2.native.import_texture(h.native))
    e = refuse_tampered(import_fn, handle, geyser.InvalidHandleError, fd_count,
                        texture_format=int(TextureFormat.R32_FLOAT))
    assert "R32_FLOAT" in str(e) and str(handle.vk_format) in str(e), str(e)
    # A tag that names no format at all breaks the wire format (the import's own refusal of tag 22
    # is tested in C++, tests/cpp/test_formats.cpp).
    e = refuse_decoding(handle, fd_count, "'texture_format'", texture_format=22)
    assert "22 is not a TextureFormat" in str(e), str(e)
    with device2.import_texture(handle) as t:
        assert t.format is TextureFormat.RGBA8_UNORM
        assert np.array_equal(t.download(), data)


@pytest.mark.parametrize("field", ["width", "height"])
def test_texture_handle_wrong_extent(good_texture, device, device2, fd_count, field):
    handle, data = good_texture
    wrong = {"width": (W + 1, H), "height": (W, H + 1)}[field]
    # Precondition: on this device the wrong extent needs a different allocation, which is what
    # makes it detectable (opaque memory carries no extent of its own).
    with device.create_shareable_texture(TextureDescriptor(*wrong)) as probe:
        if probe.allocation_size == handle.size:
            pytest.skip(f"{wrong[0]}x{wrong[1]} needs the same {handle.size} bytes as {W}x{H} on this device")
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count,
                    **{field: getattr(handle, field) + 1})
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


def test_texture_handle_zero_extent(good_texture, device2, fd_count):
    handle, data = good_texture
    refuse_decoding(handle, fd_count, "non-zero extent", width=0)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


@pytest.mark.parametrize("usage", [0x40, 0x80, 0x1000], ids=["transient", "input-attachment", "unknown-bit"])
def test_texture_handle_usage_geyser_never_creates(good_texture, device2, fd_count, usage):
    # The core refuses these before vkGetPhysicalDeviceImageFormatProperties2 / vkCreateImage see
    # them (found by the atheris harness); the validation layer would flag them otherwise.
    handle, data = good_texture
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count,
                    vk_usage=handle.vk_usage | usage)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


@pytest.mark.parametrize("layout, usage", [(4, 0x7), (2, 0x7), (6, 0x3 | 0x20)],
                         ids=["depth-read-only-without-depth-usage", "color-attachment-without-it", "shader-read-without-sampled"])
def test_texture_handle_layout_its_usage_forbids(good_texture, device2, fd_count, layout, usage):
    # An import transitions the image from the handle's layout, which needs the matching usage
    # (VUID-VkImageMemoryBarrier-oldLayout-01210; found by the atheris harness in CI).
    handle, data = good_texture
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count, vk_layout=layout, vk_usage=usage)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


def test_texture_handle_unknown_vk_format(good_texture, device2, fd_count):
    # Without a format tag only the core's table can tell: a VkFormat Geyser does not share never
    # reaches the driver's format query (found by atheris in CI).
    handle, data = good_texture
    refuse_tampered(device2.import_texture, handle, geyser.InvalidHandleError, fd_count,
                    vk_format=1903259904, texture_format=0)
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


@pytest.mark.parametrize("usage", [0x20, 0x1 | 0x20, 0x3 | 0x100], ids=["no-transfer", "no-transfer-dst", "indirect"])
def test_buffer_handle_usage_geyser_never_creates(good_buffer, device2, fd_count, usage):
    # Every Buffer operation is a copy, which needs both TRANSFER bits; other bits are not among
    # the usages Geyser creates buffers with.
    handle, data = good_buffer
    refuse_tampered(device2.import_buffer, handle, geyser.InvalidHandleError, fd_count, buffer_usage=usage)
    with device2.import_buffer(handle) as b:
        assert b.read() == data


# -- the wrong kind of resource ----------------------------------------------------------------

def test_texture_handle_imported_as_buffer(good_texture, device2, fd_count):
    handle, data = good_texture
    expect_refused(device2.import_buffer, handle, geyser.InvalidHandleError, fd_count)
    # Also when the Python class says "buffer" but the description is a texture's.
    as_buffer = geyser.BufferHandle.from_bytes(handle.to_bytes(), os.dup(handle.fd))
    try:
        expect_refused(device2.import_buffer, as_buffer, geyser.InvalidHandleError, fd_count)
    finally:
        as_buffer.close()
    with device2.import_texture(handle) as t:
        assert np.array_equal(t.download(), data)


def test_buffer_handle_imported_as_texture(good_buffer, device2, fd_count):
    handle, data = good_buffer
    expect_refused(device2.import_texture, handle, geyser.InvalidHandleError, fd_count)
    with device2.import_buffer(handle) as b:
        assert b.read() == data


def test_texture_description_relabelled_as_buffer(good_texture, device2, fd_count):
    handle, _ = good_texture
    # A "buffer" with no buffer size or usage.
    refuse_decoding(handle, fd_count, "'buffer_size'", kind=wire.BUFFER)


def test_buffer_handle_bigger_than_its_allocation(good_buffer, device2, fd_count):
    handle, data = good_buffer
    refuse_decoding(handle, fd_count, "exceed the allocation size", buffer_size=handle.size + 1)
    with device2.import_buffer(handle) as b:
        assert b.read() == data


def test_not_a_handle(device2):
    with pytest.raises(TypeError):
        device2.import_texture(3)
    with pytest.raises(TypeError):
        device2.import_buffer("fd")


# -- bytes and fds of the wrong type ---------------------------------------------------------

@pytest.mark.parametrize("cls", [geyser.TextureHandle, geyser.BufferHandle, geyser.SemaphoreHandle,
                                 geyser.FenceHandle, geyser.TimelineHandle])
def test_from_bytes_refuses_wrong_types(good_texture, fd_count, cls):
    """Every handle class takes the same arguments the same way: a payload that is not bytes is a
    TypeError and the fd (owned from the start) is closed; an fd that is not an int is a
    TypeError, one that no fd can have an InvalidHandleError, and neither is touched."""
    handle, _ = good_texture
    for payload in ("texture", None, 3, [1, 2]):
        with no_fd_leak(fd_count), pytest.raises(TypeError, match="payload must be bytes"):
            cls.from_bytes(payload, os.dup(handle.fd))
    payload = handle.to_bytes()
    for fd in ("3", 3.0, None, True, [handle.fd]):
        with no_fd_leak(fd_count), pytest.raises(TypeError, match="fd must be an int"):
            cls.from_bytes(payload, fd)
    for fd in (-2, 2**31, -2**40):
        with no_fd_leak(fd_count), pytest.raises(geyser.InvalidHandleError, match="not a file descriptor"):
            cls.from_bytes(payload, fd)
    os.fstat(handle.fd)  # never closed by a refusal
