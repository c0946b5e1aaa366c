"""The format table: Geyser's 21 texture formats, their Vulkan formats and host (numpy) layouts.

This table is the one place that maps the portable vocabulary (``TextureFormat``,
``TextureUsage``) onto Vulkan. The C++ core works in Vulkan terms and only carries the portable
numbers along in handles, so both sides of a share agree on the logical format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TextureFormat",
    "TextureUsage",
    "Aspect",
    "FormatInfo",
    "FORMATS",
    "format_info",
    "vk_usage",
    "host_layout",
]


class TextureFormat(enum.IntEnum):
    """The original project's 21 formats. Values are part of the wire format (geyser::TextureFormat)."""

    RGBA8_UNORM = 1
    BGRA8_UNORM = 2
    RGBA8_SRGB = 3
    BGRA8_SRGB = 4
    R8_UNORM = 5
    RG8_UNORM = 6
    R16_FLOAT = 7
    RG16_FLOAT = 8
    RGBA16_FLOAT = 9
    R16_UINT = 10
    R16_SINT = 11
    R32_FLOAT = 12
    RG32_FLOAT = 13
    RGBA32_FLOAT = 14
    R32_UINT = 15
    R32_SINT = 16
    DEPTH32_FLOAT = 17
    DEPTH24_PLUS = 18
    DEPTH24_PLUS_STENCIL8 = 19
    RGB10A2_UNORM = 20
    RG11B10_FLOAT = 21


class TextureUsage(enum.IntFlag):
    """How a texture may be used (WebGPU's names and bit values)."""

    COPY_SRC = 0x01
    COPY_DST = 0x02
    TEXTURE_BINDING = 0x04
    STORAGE_BINDING = 0x08
    RENDER_ATTACHMENT = 0x10


class Aspect(enum.IntFlag):
    """Image aspects (VkImageAspectFlagBits) addressed by host I/O."""

    COLOR = 0x1
    DEPTH = 0x2
    STENCIL = 0x4


# VkFormat values used below (vulkan_core.h).
_VK = {
    "R8_UNORM": 9,
    "R8G8_UNORM": 16,
    "R8G8B8A8_UNORM": 37,
    "R8G8B8A8_SRGB": 43,
    "B8G8R8A8_UNORM": 44,
    "B8G8R8A8_SRGB": 50,
    "A2B10G10R10_UNORM_PACK32": 64,
    "R16_UINT": 74,
    "R16_SINT": 75,
    "R16_SFLOAT": 76,
    "R16G16_SFLOAT": 83,
    "R16G16B16A16_SFLOAT": 97,
    "R32_UINT": 98,
    "R32_SINT": 99,
    "R32_SFLOAT": 100,
    "R32G32_SFLOAT": 103,
    "R32G32B32A32_SFLOAT": 109,
    "B10G11R11_UFLOAT_PACK32": 122,
    "X8_D24_UNORM_PACK32": 125,
    "D32_SFLOAT": 126,
    "D24_UNORM_S8_UINT": 129,
    "D32_SFLOAT_S8_UINT": 130,
}

# MTLPixelFormat values used below (Metal's MTLPixelFormat.h), for the Metal backend (cpp/src/metal/,
# untested: docs/platforms.md). Apple-silicon GPUs have no Depth24Unorm_Stencil8, so DEPTH24_PLUS maps
# to Depth32Float and DEPTH24_PLUS_STENCIL8 to Depth32Float_Stencil8 on every Mac: the same formats as
# the second Vulkan choice above, so a Vulkan peer that picked those agrees bit for bit.
_MTL = {
    "R8Unorm": 10,
    "R16Uint": 23,
    "R16Sint": 24,
    "R16Float": 25,
    "RG8Unorm": 30,
    "R32Uint": 53,
    "R32Sint": 54,
    "R32Float": 55,
    "RG16Float": 65,
    "RGBA8Unorm": 70,
    "RGBA8Unorm_sRGB": 71,
    "BGRA8Unorm": 80,
    "BGRA8Unorm_sRGB": 81,
    "RGB10A2Unorm": 90,
    "RG11B10Float": 92,
    "RG32Float": 105,
    "RGBA16Float": 115,
    "RGBA32Float": 125,
    "Depth32Float": 252,
    "Depth32Float_Stencil8": 260,
}

# VkImageUsageFlagBits
_VK_TRANSFER_SRC = 0x01
_VK_TRANSFER_DST = 0x02
_VK_SAMPLED = 0x04
_VK_STORAGE = 0x08
_VK_COLOR_ATTACHMENT = 0x10
_VK_DEPTH_STENCIL_ATTACHMENT = 0x20


@dataclass(frozen=True)
class FormatInfo:
    """One row of the format table.

    ``vk_formats`` lists the Vulkan formats in order of preference: the device picks the first it
    can share (only the DEPTH24_PLUS formats have more than one; WebGPU lets an implementation
    choose, and the choice travels in the handle so both sides agree). ``dtype`` and ``channels``
    describe the host array of the colour or depth aspect for the first choice.
    """

    format: TextureFormat
    vk_formats: tuple[int, ...]
    aspects: Aspect
    dtype: np.dtype
    channels: int
    packed: bool = False  # one integer holds every channel (RGB10A2, RG11B10)
    mtl_format: int = 0  # the MTLPixelFormat the Metal backend uses

    @property
    def is_depth(self) -> bool:
        return bool(self.aspects & Aspect.DEPTH)

    @property
    def has_stencil(self) -> bool:
        return bool(self.aspects & Aspect.STENCIL)

    @property
    def texel_size(self) -> int:
        """Bytes per texel of the colour or depth aspect in host memory."""
        return self.dtype.itemsize * self.channels


def _row(fmt, vk_names, mtl_name, aspects, dtype, channels, packed=False):
    return FormatInfo(fmt, tuple(_VK[n] for n in vk_names), aspects, np.dtype(dtype), channels, packed, _MTL[mtl_name])


_C, _D, _S = Aspect.COLOR, Aspect.DEPTH, Aspect.STENCIL
F = TextureFormat
FORMATS: dict[TextureFormat, FormatInfo] = {
    r.format: r
    for r in (
        _row(F.RGBA8_UNORM, ["R8G8B8A8_UNORM"], "RGBA8Unorm", _C, np.uint8, 4),
        _row(F.BGRA8_UNORM, ["B8G8R8A8_UNORM"], "BGRA8Unorm", _C, np.uint8, 4),
        _row(F.RGBA8_SRGB, ["R8G8B8A8_SRGB"], "RGBA8Unorm_sRGB", _C, np.uint8, 4),
        _row(F.BGRA8_SRGB, ["B8G8R8A8_SRGB"], "BGRA8Unorm_sRGB", _C, np.uint8, 4),
        _row(F.R8_UNORM, ["R8_UNORM"], "R8Unorm", _C, np.uint8, 1),
        _row(F.RG8_UNORM, ["R8G8_UNORM"], "RG8Unorm", _C, np.uint8, 2),
        _row(F.R16_FLOAT, ["R16_SFLOAT"], "R16Float", _C, np.float16, 1),
        _row(F.RG16_FLOAT, ["R16G16_SFLOAT"], "RG16Float", _C, np.float16, 2),
        _row(F.RGBA16_FLOAT, ["R16G16B16A16_SFLOAT"], "RGBA16Float", _C, np.float16, 4),
        _row(F.R16_UINT, ["R16_UINT"], "R16Uint", _C, np.uint16, 1),
        _row(F.R16_SINT, ["R16_SINT"], "R16Sint", _C, np.int16, 1),
        _row(F.R32_FLOAT, ["R32_SFLOAT"], "R32Float", _C, np.float32, 1),
        _row(F.RG32_FLOAT, ["R32G32_SFLOAT"], "RG32Float", _C, np.float32, 2),
        _row(F.RGBA32_FLOAT, ["R32G32B32A32_SFLOAT"], "RGBA32Float", _C, np.float32, 4),
        _row(F.R32_UINT, ["R32_UINT"], "R32Uint", _C, np.uint32, 1),
        _row(F.R32_SINT, ["R32_SINT"], "R32Sint", _C, np.int32, 1),
        _row(F.DEPTH32_FLOAT, ["D32_SFLOAT"], "Depth32Float", _D, np.float32, 1),
        _row(F.DEPTH24_PLUS, ["X8_D24_UNORM_PACK32", "D32_SFLOAT"], "Depth32Float", _D, np.uint32, 1),
        _row(F.DEPTH24_PLUS_STENCIL8, ["D24_UNORM_S8_UINT", "D32_SFLOAT_S8_UINT"], "Depth32Float_Stencil8", _D | _S, np.uint32, 1),
        _row(F.RGB10A2_UNORM, ["A2B10G10R10_UNORM_PACK32"], "RGB10A2Unorm", _C, np.uint32, 1, packed=True),
        _row(F.RG11B10_FLOAT, ["B10G11R11_UFLOAT_PACK32"], "RG11B10Float", _C, np.uint32, 1, packed=True),
    )
}
del F

# Host layout of depth aspects depends on the Vulkan format the device chose.
_DEPTH_DTYPE = {
    _VK["X8_D24_UNORM_PACK32"]: np.dtype(np.uint32),
    _VK["D24_UNORM_S8_UINT"]: np.dtype(np.uint32),
    _VK["D32_SFLOAT"]: np.dtype(np.float32),
    _VK["D32_SFLOAT_S8_UINT"]: np.dtype(np.float32),
}

# Bits of a D24 depth texel that hold data; the upper 8 bits of its 32-bit host word are undefined.
D24_MASK = 0x00FFFFFF


def format_info(fmt: TextureFormat | int | str) -> FormatInfo:
    """The table row for a format given as a member, its value or its name."""
    if isinstance(fmt, str):
        try:
            fmt = TextureFormat[fmt.upper()]
        except KeyError:
            raise ValueError(f"unknown texture format {fmt!r}; known: {', '.join(f.name for f in TextureFormat)}") from None
    try:
        return FORMATS[TextureFormat(fmt)]
    except ValueError:
        raise ValueError(f"unknown texture format value {fmt!r}") from None


def vk_usage(fmt: TextureFormat, usage: TextureUsage) -> int:
    """The VkImageUsageFlags for a portable usage on a format."""
    info = format_info(fmt)
    bits = 0
    if usage & TextureUsage.COPY_SRC:
        bits |= _VK_TRANSFER_SRC
    if usage & TextureUsage.COPY_DST:
        bits |= _VK_TRANSFER_DST
    if usage & TextureUsage.TEXTURE_BINDING:
        bits |= _VK_SAMPLED
    if usage & TextureUsage.STORAGE_BINDING:
        bits |= _VK_STORAGE
    if usage & TextureUsage.RENDER_ATTACHMENT:
        bits |= _VK_DEPTH_STENCIL_ATTACHMENT if info.is_depth else _VK_COLOR_ATTACHMENT
    return bits


def host_layout(fmt: TextureFormat, vk_format: int, aspect: Aspect, width: int, height: int) -> tuple[np.dtype, tuple[int, ...]]:
    """The numpy dtype and shape of a host copy of one aspect of a texture."""
    info = format_info(fmt)
    if aspect == Aspect.STENCIL:
        return np.dtype(np.uint8), (height, width)
    if aspect == Aspect.DEPTH:
        return _DEPTH_DTYPE.get(vk_format, info.dtype), (height, width)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    return info.dtype, shape
