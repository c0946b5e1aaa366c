"""Shareable textures: every format round-trips byte-identically through export and import,
within this process (a second Device object) and across a real second process."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

import geyser
from geyser import Aspect, TextureDescriptor, TextureFormat, TextureUsage, format_info

SIZES = [(17, 9), (64, 48)]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
ALL_FORMATS = list(TextureFormat)
D24_MASK = 0x00FFFFFF
# VkFormats whose depth aspect is 24-bit UNORM in a 32-bit host word (X8_D24, D24_S8).
D24_VK_FORMATS = {125, 129}


# -- helpers -----------------------------------------------------------------------------------

def require_shareable(device, fmt, usage=None):
    caps = device.format_support(fmt) if usage is None else device.format_support(fmt, usage)
    if not caps.shareable:
        pytest.skip(f"{fmt.name} cannot be shared on {device.name!r}: {caps.reason}")
    return caps


def aspects_of(fmt: TextureFormat) -> list[Aspect]:
    a = format_info(fmt).aspects
    return [Aspect.DEPTH, Aspect.STENCIL] if a == Aspect.DEPTH | Aspect.STENCIL else [Aspect(a)]


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _finite_ufloat(rng, shape, mantissa_bits):
    """Random bits of an unsigned small float (B10G11R11) whose exponent is not all ones."""
    exponent = rng.integers(0, 31, shape, dtype=np.uint32)  # 31 is Inf/NaN
    mantissa = rng.integers(0, 1 << mantissa_bits, shape, dtype=np.uint32)
    return (exponent << mantissa_bits) | mantissa


def pattern(rng: np.random.Generator, tex: geyser.Texture, aspect: Aspect) -> np.ndarray:
    """A random host array of ``tex.host_layout(aspect)`` holding only valid texel values."""
    dtype, shape = tex.host_layout(aspect)
    fmt = tex.format
    if aspect == Aspect.STENCIL:
        assert dtype == np.uint8
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if aspect == Aspect.DEPTH:
        if dtype == np.float32:
            # D32 float: only [0, 1] is defined without VK_EXT_depth_range_unrestricted.
            a = rng.random(shape, dtype=np.float32)
            a.flat[0], a.flat[-1] = 0.0, 1.0
            return a
        assert dtype == np.uint32, dtype
        # D24 in a 32-bit word: random high bits too; only the low 24 are compared.
        return rng.integers(0, 1 << 32, shape, dtype=np.uint32)
    if fmt == TextureFormat.RG11B10_FLOAT:
        r = _finite_ufloat(rng, shape, 6)
        g = _finite_ufloat(rng, shape, 6)
        b = _finite_ufloat(rng, shape, 5)
        return (r | (g << 11) | (b << 22)).astype(np.uint32)
    if dtype == np.float16:
        return rng.uniform(-65000, 65000, shape).astype(np.float16)
    if dtype == np.float32:
        return (rng.standard_normal(shape) * 1e4).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def assert_same_texels(vk_format: int, aspect: Aspect, expected: np.ndarray, actual: np.ndarray) -> None:
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if aspect == Aspect.DEPTH and vk_format in D24_VK_FORMATS:
        expected, actual = expected & D24_MASK, actual & D24_MASK
    # Bitwise, so -0.0 vs 0.0 or a changed NaN payload would count as a difference.
    e = np.ascontiguousarray(expected).view(np.uint8)
    a = np.ascontiguousarray(actual).view(np.uint8)
    if not np.array_equal(e, a):
        bad = int(np.count_nonzero(e != a))
        raise AssertionError(f"{bad} of {e.size} bytes differ for aspect {aspect!r} (VkFormat {vk_format})")


def make_texture(device, fmt, w, h, usage=None) -> tuple[geyser.Texture, dict]:
    """A texture of ``fmt`` filled with a random pattern; returns it and {aspect: pattern}."""
    desc = TextureDescriptor(w, h, fmt) if usage is None else TextureDescriptor(w, h, fmt, usage)
    tex = device.create_shareable_texture(desc)
    rng = rng_for(fmt.name, w, h)
    data = {}
    for a in aspects_of(fmt):
        data[a] = pattern(rng, tex, a)
        tex.upload(data[a], a)
    return tex, data


# -- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_roundtrip_same_process(device, device2, fmt, size):
    caps = require_shareable(device, fmt)
    w, h = size
    tex, data = make_texture(device, fmt, w, h)
    with tex:
        assert tex.vk_format == caps.vk_format
        for a, expected in data.items():  # the exporter itself reads back what it wrote
            assert_same_texels(tex.vk_format, a, expected, tex.download(a))
        with device.export_texture(tex) as handle:
            assert handle.fd >= 0 and handle.handle_type == "opaque_fd"
            assert (handle.width, handle.height, handle.format) == (w, h, fmt)
            assert handle.vk_format == tex.vk_format
            assert handle.size == tex.allocation_size
            with device2.import_texture(handle) as imported:
                assert imported.imported and not tex.imported
                assert (imported.width, imported.height, imported.format) == (w, h, fmt)
                assert imported.vk_format == tex.vk_format
                assert imported.usage == tex.usage
                for a, expected in data.items():
                    assert imported.host_layout(a) == tex.host_layout(a)
                    assert_same_texels(tex.vk_format, a, expected, imported.download(a))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_roundtrip_child_process(device, run_child, fmt, size):
    require_shareable(device, fmt)
    w, h = size
    tex, data = make_texture(device, fmt, w, h)
    with tex, device.export_texture(tex) as handle:
        answer = run_child("texture-read", handle, aspects=[int(a) for a in data])
        assert (answer["format"], answer["width"], answer["height"]) == (fmt.name, w, h)
        for a, expected in data.items():
            assert_same_texels(tex.vk_format, a, expected, answer["arrays"][str(int(a))])
        assert handle.fd >= 0, "the parent's handle must survive the child"


@pytest.mark.parametrize(
    "fmt",
    [TextureFormat.RGBA8_UNORM, TextureFormat.R16_FLOAT, TextureFormat.RGBA32_FLOAT, TextureFormat.DEPTH24_PLUS_STENCIL8],
    ids=lambda f: f.name,
)
def test_child_writes_parent_reads(device, run_child, fmt):
    require_shareable(device, fmt)
    w, h = 17, 9
    tex, before = make_texture(device, fmt, w, h)
    rng = rng_for("child-writes", fmt.name)
    written = {a: pattern(rng, tex, a) for a in aspects_of(fmt)}
    for a in written:  # the new pattern really differs from what the parent uploaded
        assert not np.array_equal(written[a], before[a])
    with tex, device.export_texture(tex) as handle:
        run_child("texture-write", handle, arrays={str(int(a)): arr for a, arr in written.items()})
        # The exporter's own texture (not a re-import) sees the child's writes.
        for a, expected in written.items():
            assert_same_texels(tex.vk_format, a, expected, tex.download(a))


def test_export_twice_gives_independent_fds(device, device2, fd_count):
    tex, data = make_texture(device, TextureFormat.RGBA8_UNORM, 17, 9)
    with tex:
        n0 = fd_count()
        h1 = device.export_texture(tex)
        h2 = device.export_texture(tex)
        assert fd_count() == n0 + 2
        assert h1.fd >= 0 and h2.fd >= 0 and h1.fd != h2.fd
        assert h1.to_bytes() == h2.to_bytes()
        with device2.import_texture(h1) as t1:
            assert_same_texels(tex.vk_format, Aspect.COLOR, data[Aspect.COLOR], t1.download())
        fd2 = h2.fd
        h1.close()
        assert h1.closed and not h2.closed
        os.fstat(fd2)  # still open after its sibling closed
        with device2.import_texture(h2) as t2:
            assert_same_texels(tex.vk_format, Aspect.COLOR, data[Aspect.COLOR], t2.download())
        h2.close()
        assert fd_count() == n0


def test_duplicate_handle(device, device2):
    tex, data = make_texture(device, TextureFormat.R32_UINT, 17, 9)
    with tex, device.export_texture(tex) as h:
        with h.duplicate() as d:
            assert d.fd != h.fd and d.to_bytes() == h.to_bytes()
        assert d.closed and not h.closed
        with device2.import_texture(h) as t:
            assert np.array_equal(t.download(), data[Aspect.COLOR])


# -- argument checking -------------------------------------------------------------------------

@pytest.fixture
def rgba8(device):
    tex, data = make_texture(device, TextureFormat.RGBA8_UNORM, 17, 9)
    yield tex, data[Aspect.COLOR]
    tex.close()


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((9, 17, 4), np.float32),   # wrong dtype
        np.zeros((9, 17, 4), np.int8),      # wrong dtype, same size
        np.zeros((17, 9, 4), np.uint8),     # transposed
        np.zeros((9, 17), np.uint8),        # channels missing
        np.zeros((9, 17, 3), np.uint8),     # too few channels
        np.zeros((10, 17, 4), np.uint8),    # one row too many
        np.zeros(9 * 17 * 4, np.uint8),     # flat, right byte count
    ],
    ids=["float32", "int8", "transposed", "no-channels", "3-channels", "extra-row", "flat"],
)
def test_upload_wrong_dtype_or_shape(rgba8, bad):
    tex, data = rgba8
    with pytest.raises(geyser.InvalidArgumentError) as e:
        tex.upload(bad)
    assert isinstance(e.value, ValueError)
    assert np.array_equal(tex.download(), data), "a refused upload changed the texture"


def test_download_returns_new_array(rgba8):
    tex, data = rgba8
    a, b = tex.download(), tex.download()
    assert a is not b and not np.shares_memory(a, b)
    a[...] = 0
    assert np.array_equal(tex.download(), data)


def test_upload_non_contiguous(rgba8):
    tex, _ = rgba8
    src = rng_for("noncontig").integers(0, 256, (9, 34, 4), dtype=np.uint8)
    view = src[:, ::2]
    assert not view.flags.c_contiguous
    tex.upload(view)
    assert np.array_equal(tex.download(), view)


def test_depth_stencil_needs_an_aspect(device):
    fmt = TextureFormat.DEPTH24_PLUS_STENCIL8
    require_shareable(device, fmt)
    with device.create_shareable_texture(TextureDescriptor(8, 8, fmt)) as tex:
        with pytest.raises(geyser.InvalidArgumentError):
            tex.download()
        with pytest.raises(geyser.InvalidArgumentError):
            tex.download(Aspect.COLOR)


def test_color_texture_rejects_depth_aspect(rgba8):
    tex, _ = rgba8
    with pytest.raises(geyser.InvalidArgumentError):
        tex.download(Aspect.DEPTH)


@pytest.mark.parametrize(
    "w,h",
    [(0, 9), (17, 0), (0, 0), (-1, 9), ((1 << 16) + 1, 1), (1, (1 << 16) + 1), (1 << 40, 1)],
)
def test_bad_extent_rejected_by_descriptor(w, h):
    # Raised by TextureDescriptor itself, before any device or Vulkan object is involved.
    with pytest.raises(geyser.InvalidArgumentError) as e:
        TextureDescriptor(w, h)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("w,h", [(1.0, 9), (True, 9), ("17", 9)])
def test_non_integer_extent(w, h):
    with pytest.raises(geyser.InvalidArgumentError):
        TextureDescriptor(w, h)


def test_extent_over_device_maximum(device, fd_count):
    caps = require_shareable(device, TextureFormat.RGBA8_UNORM)
    max_w = caps.handle_types["opaque_fd"].max_width
    if max_w >= 1 << 16:
        pytest.skip(f"the device's maximum width {max_w} is beyond what a TextureDescriptor allows")
    n = fd_count()
    with pytest.raises(geyser.InvalidArgumentError) as e:
        device.create_shareable_texture(TextureDescriptor(max_w + 1, 1))
    assert str(max_w) in str(e.value)
    assert fd_count() == n


def test_empty_usage_rejected():
    with pytest.raises(geyser.InvalidArgumentError):
        TextureDescriptor(4, 4, usage=TextureUsage(0))


def test_upload_without_copy_dst(device):
    usage = TextureUsage.COPY_SRC | TextureUsage.TEXTURE_BINDING
    require_shareable(device, TextureFormat.RGBA8_UNORM, usage)
    with device.create_shareable_texture(TextureDescriptor(17, 9, usage=usage)) as tex:
        with pytest.raises(geyser.UnsupportedOperationError):
            tex.upload(np.zeros((9, 17, 4), np.uint8))
        tex.download()  # COPY_SRC is there


def test_download_without_copy_src(device):
    usage = TextureUsage.COPY_DST | TextureUsage.TEXTURE_BINDING
    require_shareable(device, TextureFormat.RGBA8_UNORM, usage)
    with device.create_shareable_texture(TextureDescriptor(17, 9, usage=usage)) as tex:
        tex.upload(np.zeros((9, 17, 4), np.uint8))  # COPY_DST is there
        with pytest.raises(geyser.UnsupportedOperationError):
            tex.download()


def test_usage_travels_in_the_handle(device, device2):
    usage = TextureUsage.COPY_DST | TextureUsage.TEXTURE_BINDING
    require_shareable(device, TextureFormat.RGBA8_UNORM, usage)
    with device.create_shareable_texture(TextureDescriptor(17, 9, usage=usage)) as tex:
        with device.export_texture(tex) as h, device2.import_texture(h) as imp:
            assert imp.usage == usage
            with pytest.raises(geyser.UnsupportedOperationError):
                imp.download()


# -- import with an expected descriptor --------------------------------------------------------

def test_import_with_matching_descriptor(device, device2, rgba8):
    tex, data = rgba8
    with device.export_texture(tex) as h:
        with device2.import_texture(h, descriptor=tex.descriptor) as imp:
            assert np.array_equal(imp.download(), data)


@pytest.mark.parametrize(
    "change",
    [
        {"width": 18},
        {"height": 8},
        {"format": TextureFormat.BGRA8_UNORM},
        {"format": TextureFormat.R32_FLOAT},
        {"usage": TextureUsage.COPY_SRC | TextureUsage.COPY_DST},
    ],
    ids=["width", "height", "format-bgra", "format-r32f", "usage"],
)
def test_import_with_mismatching_descriptor(device, device2, rgba8, fd_count, change):
    tex, _ = rgba8
    d = tex.descriptor
    fields = {"width": d.width, "height": d.height, "format": d.format, "usage": d.usage, **change}
    expected = TextureDescriptor(**fields)
    with device.export_texture(tex) as h:
        n = fd_count()
        with pytest.raises(geyser.InvalidHandleError) as e:
            device2.import_texture(h, descriptor=expected)
        assert type(e.value) is geyser.InvalidHandleError
        assert next(iter(change)) in str(e.value)
        assert fd_count() == n
        device2.import_texture(h).close()  # the handle is still good
