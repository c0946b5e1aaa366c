"""Shareable buffers: host writes and reads at offsets, export and import within this process and
across a second process, byte-identical."""

from __future__ import annotations

import numpy as np
import pytest

import geyser
from geyser import BufferUsage

SIZES = [1, 4096, 1_000_003]


def random_bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.fixture(params=SIZES, ids=lambda n: f"{n}B")
def filled(device, request):
    """A buffer of each size, filled with random bytes; yields (buffer, contents)."""
    size = request.param
    buf = device.create_shareable_buffer(size)
    data = random_bytes(size, size)
    buf.write(data)
    yield buf, data
    buf.close()


def test_create_and_read_back(filled):
    buf, data = filled
    assert buf.size == len(data)
    assert buf.allocation_size >= buf.size
    assert not buf.imported
    assert buf.read() == data


def test_write_and_read_at_offsets(filled):
    buf, data = filled
    size = len(data)
    expected = bytearray(data)
    for offset, n in [(0, 1), (size // 2, size - size // 2), (size - 1, 1), (size // 3, size // 5)]:
        chunk = random_bytes(n, offset * 7 + n)
        buf.write(chunk, offset)
        expected[offset:offset + n] = chunk
        assert buf.read(n, offset) == chunk
    assert buf.read() == bytes(expected)
    tail = size // 2
    assert buf.read(offset=tail) == bytes(expected[tail:])
    assert buf.read(0, size) == b""


def test_write_numpy_and_read_into(device):
    with device.create_shareable_buffer(4096) as buf:
        src = np.arange(1024, dtype=np.uint32)
        buf.write(src)
        out = np.empty(1024, np.uint32)
        buf.read_into(out)
        assert np.array_equal(out, src)
        half = np.empty(512, np.uint32)
        buf.read_into(half, offset=2048)
        assert np.array_equal(half, src[512:])


def test_export_import_same_process(device, device2, filled):
    buf, data = filled
    with device.export_buffer(buf) as h:
        assert h.fd >= 0 and h.buffer_size == len(data) and h.size == buf.allocation_size
        with device2.import_buffer(h) as imp:
            assert imp.imported and imp.size == len(data)
            assert imp.read() == data
            # Writes through the import show in the exporter, and back.
            patch = random_bytes(min(3, len(data)), 99)
            imp.write(patch, len(data) - len(patch))
            assert buf.read() == data[: len(data) - len(patch)] + patch
            buf.write(data)
            assert imp.read() == data


def test_export_import_child_process(device, run_child, filled):
    buf, data = filled
    with device.export_buffer(buf) as h:
        answer = run_child("buffer-read", h, size=len(data), offset=0)
        assert answer["size"] == len(data)
        assert answer["data"] == data
        if len(data) > 10:
            answer = run_child("buffer-read", h, size=7, offset=len(data) - 10)
            assert answer["data"] == data[-10:-3]


def test_child_writes_parent_reads(device, run_child, filled):
    buf, data = filled
    size = len(data)
    offset = size // 2
    patch = random_bytes(size - offset, 1234)
    assert patch != data[offset:] or size == 1
    with device.export_buffer(buf) as h:
        run_child("buffer-write", h, data=patch, offset=offset)
    assert buf.read() == data[:offset] + patch


@pytest.mark.parametrize("usage", [BufferUsage.STORAGE, BufferUsage.UNIFORM | BufferUsage.VERTEX, BufferUsage.INDEX])
def test_usage_travels(device, device2, usage):
    with device.create_shareable_buffer(256, usage) as buf:
        assert buf.usage & usage == usage
        assert buf.usage & (BufferUsage.COPY_SRC | BufferUsage.COPY_DST) == BufferUsage.COPY_SRC | BufferUsage.COPY_DST
        with device.export_buffer(buf) as h, device2.import_buffer(h) as imp:
            assert imp.usage == buf.usage


@pytest.mark.parametrize("size", [0, -1])
def test_bad_size(device, size):
    with pytest.raises(geyser.InvalidArgumentError) as e:
        device.create_shareable_buffer(size)
    assert isinstance(e.value, ValueError)


def test_out_of_range_write_and_read(filled, fd_count):
    buf, data = filled
    size = len(data)
    n = fd_count()
    cases = [
        lambda: buf.write(b"xy", size - 1),           # one byte past the end
        lambda: buf.write(b"x", size),                # starts at the end
        lambda: buf.write(bytes(size + 1)),           # larger than the buffer
        lambda: buf.write(b"x", -1),
        lambda: buf.write(b"x", 1 << 63),             # offset + size would overflow
        lambda: buf.read(2, size - 1),
        lambda: buf.read(1, size),
        lambda: buf.read(size + 1),
        lambda: buf.read(offset=size + 1),
        lambda: buf.read(1, -1),
        lambda: buf.read(-1),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(geyser.InvalidArgumentError):
            case()
    assert buf.read() == data, "a refused write changed the buffer"
    assert fd_count() == n
