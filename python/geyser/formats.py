"""The format table: Geyser's 21 texture formats, their Vulkan formats and host (numpy) layouts.

The table is the C++ core's (``geyser/formats.hpp``, ``cpp/src/format_table.cpp``): the Vulkan,
Metal and OpenGL equivalents of each format, its aspects and host layout. This module builds
Python's view of it from the binding (``TextureFormat``, ``TextureUsage``, ``Aspect``,
``FORMATS``) and keeps no format numbers of its own, so both languages read one table.
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _native
from .errors import InvalidArgumentError

__all__ = [
    "TextureFormat",
    "TextureUsage",
    "Aspect",
    "FormatInfo",
    "FORMATS",
    "D24_MASK",
    "format_info",
    "vk_usage",
    "host_layout",
]

_NUMERIC_SPECS = frozenset("bcdoxXneEfFgG%")


class _NamedIntEnum(enum.IntEnum):
    """An IntEnum whose ``str()`` (and plain ``format()``) is the member's name, not its value."""

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in _NUMERIC_SPECS:
            return int.__format__(int(self), spec)
        return format(str(self), spec)


class _NamedIntFlag(enum.IntFlag):
    """An IntFlag whose ``str()`` is its flags' names joined by ``|`` (``"0"`` for none)."""

    def __str__(self) -> str:
        return self.name or "0"

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in _NUMERIC_SPECS:
            return int.__format__(int(self), spec)
        return format(str(self), spec)


_TABLE = _native.format_table()

if TYPE_CHECKING:
    # What type checkers see: the members' names (the values are the core table's, read at run
    # time below). tests/test_api.py checks that these names are exactly the table's.
    class TextureFormat(_NamedIntEnum):
        """The original project's 21 formats. Values are part of the wire format (geyser::TextureFormat)."""

        RGBA8_UNORM = ...
        BGRA8_UNORM = ...
        RGBA8_SRGB = ...
        BGRA8_SRGB = ...
        R8_UNORM = ...
        RG8_UNORM = ...
        R16_FLOAT = ...
        RG16_FLOAT = ...
        RGBA16_FLOAT = ...
        R16_UINT = ...
        R16_SINT = ...
        R32_FLOAT = ...
        RG32_FLOAT = ...
        RGBA32_FLOAT = ...
        R32_UINT = ...
        R32_SINT = ...
        DEPTH32_FLOAT = ...
        DEPTH24_PLUS = ...
        DEPTH24_PLUS_STENCIL8 = ...
        RGB10A2_UNORM = ...
        RG11B10_FLOAT = ...

    class TextureUsage(_NamedIntFlag):
        """How a texture may be used (WebGPU's names and bit values, geyser::TextureUsage)."""

        COPY_SRC = ...
        COPY_DST = ...
        TEXTURE_BINDING = ...
        STORAGE_BINDING = ...
        RENDER_ATTACHMENT = ...

    class Aspect(_NamedIntFlag):
        """Image aspects (VkImageAspectFlagBits) addressed by host I/O."""

        COLOR = ...
        DEPTH = ...
        STENCIL = ...
else:
    TextureFormat = _NamedIntEnum(
        "TextureFormat", [(row.name, row.format) for row in _TABLE], module=__name__, qualname="TextureFormat"
    )
    TextureFormat.__doc__ = "The original project's 21 formats. Values are part of the wire format (geyser::TextureFormat)."

    def _usage_bits():
        bits, bit = [], 1
        while bit <= _native.TEXTURE_USAGE_ALL:
            bits.append((_native.texture_usage_name(bit), bit))
            bit <<= 1
        return bits

    TextureUsage = _NamedIntFlag("TextureUsage", _usage_bits(), module=__name__, qualname="TextureUsage")
    TextureUsage.__doc__ = "How a texture may be used (WebGPU's names and bit values, geyser::TextureUsage)."

    Aspect = _NamedIntFlag(
        "Aspect",
        [("COLOR", _native.ASPECT_COLOR), ("DEPTH", _native.ASPECT_DEPTH), ("STENCIL", _native.ASPECT_STENCIL)],
        module=__name__,
        qualname="Aspect",
    )
    Aspect.__doc__ = "Image aspects (VkImageAspectFlagBits) addressed by host I/O."


#: Bits of a D24 depth texel that hold data; the upper 8 bits of its 32-bit host word are undefined.
D24_MASK: int = _native.D24_MASK


@dataclass(frozen=True)
class FormatInfo:
    """One row of the format table (geyser::FormatInfo).

    ``vk_formats`` lists the Vulkan formats in order of preference: the device picks the first it
    can share (only the DEPTH24_PLUS formats have more than one; WebGPU lets an implementation
    choose, and the choice travels in the handle so both sides agree). ``dtype`` and ``channels``
    describe the host array of the colour or depth aspect for the first choice.
    ``gl_internal_formats`` is parallel to ``vk_formats`` (0 where GL has no sized format).
    """

    format: TextureFormat
    vk_formats: tuple[int, ...]
    aspects: Aspect
    dtype: np.dtype
    channels: int
    packed: bool = False  # one integer holds every channel (RGB10A2, RG11B10)
    mtl_format: int = 0  # the MTLPixelFormat the Metal backend uses
    gl_internal_formats: tuple[int, ...] = ()

    @property
    def is_depth(self) -> bool:
        """Whether the format has a depth aspect."""
        return bool(self.aspects & Aspect.DEPTH)

    @property
    def has_stencil(self) -> bool:
        """Whether the format has a stencil aspect."""
        return bool(self.aspects & Aspect.STENCIL)

    @property
    def texel_size(self) -> int:
        """Bytes per texel of the colour or depth aspect in host memory."""
        return self.dtype.itemsize * self.channels


FORMATS: dict[TextureFormat, FormatInfo] = {
    TextureFormat(row.format): FormatInfo(
        TextureFormat(row.format), tuple(row.vk_formats), Aspect(row.aspects), np.dtype(row.dtype), row.channels,
        row.packed, row.mtl_format, tuple(row.gl_internal_formats),
    )
    for row in _TABLE
}
del _TABLE


def format_info(fmt: TextureFormat | int | str) -> FormatInfo:
    """The table row for a format given as a member, its value or its name (any case).

    Raises InvalidArgumentError (a ValueError) for anything that is not one of the 21 formats.
    """
    if isinstance(fmt, str):
        row = _native.format_info(fmt)
    else:
        try:
            value = operator.index(fmt)
        except TypeError:
            raise InvalidArgumentError(f"a texture format is a TextureFormat, its value or its name, "
                                       f"got {type(fmt).__name__}") from None
        row = _native.format_info(value)
    return FORMATS[TextureFormat(row.format)]


def vk_usage(fmt: TextureFormat | int | str, usage: TextureUsage) -> int:
    """The VkImageUsageFlags for a portable usage on a format (geyser::vk_image_usage)."""
    return _native.vk_image_usage(int(format_info(fmt).format), int(usage))


def host_layout(fmt: TextureFormat | int | str, vk_format: int, aspect: Aspect, width: int,
                height: int) -> tuple[np.dtype, tuple[int, ...]]:
    """The numpy dtype and shape of a host copy of one aspect of a texture stored as ``vk_format``."""
    dtype, channels, _ = _native.host_layout(int(format_info(fmt).format), int(vk_format), int(aspect))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.dtype(dtype), shape
