"""The GL calls the tests make themselves (glGetTexImage and friends), through eglGetProcAddress
as geyser's core does, and the per-format (format, type) of a byte-exact glGetTexImage."""

from __future__ import annotations

import ctypes

import numpy as np

from geyser import TextureFormat

_egl = ctypes.CDLL("libEGL.so.1")
_egl.eglGetProcAddress.restype = ctypes.c_void_p
_egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]

GL_TEXTURE_2D = 0x0DE1
_RED, _RG, _RGB, _RGBA = 0x1903, 0x8227, 0x1907, 0x1908
_RED_INTEGER, _DEPTH, _DEPTH_STENCIL = 0x8D94, 0x1902, 0x84F9
_UBYTE, _SHORT, _USHORT, _INT, _UINT, _FLOAT, _HALF = 0x1401, 0x1402, 0x1403, 0x1404, 0x1405, 0x1406, 0x140B
_UINT_2_10_10_10_REV, _UINT_10F_11F_11F_REV, _UINT_24_8, _FLOAT_32_UINT_24_8_REV = 0x8368, 0x8C3B, 0x84FA, 0x8DAD

# (format, type, bytes per texel) of a glGetTexImage that returns a texture's memory unconverted.
READBACK = {
    TextureFormat.RGBA8_UNORM: (_RGBA, _UBYTE, 4), TextureFormat.RGBA8_SRGB: (_RGBA, _UBYTE, 4),
    TextureFormat.R8_UNORM: (_RED, _UBYTE, 1), TextureFormat.RG8_UNORM: (_RG, _UBYTE, 2),
    TextureFormat.R16_FLOAT: (_RED, _HALF, 2), TextureFormat.RG16_FLOAT: (_RG, _HALF, 4),
    TextureFormat.RGBA16_FLOAT: (_RGBA, _HALF, 8),
    TextureFormat.R16_UINT: (_RED_INTEGER, _USHORT, 2), TextureFormat.R16_SINT: (_RED_INTEGER, _SHORT, 2),
    TextureFormat.R32_FLOAT: (_RED, _FLOAT, 4), TextureFormat.RG32_FLOAT: (_RG, _FLOAT, 8),
    TextureFormat.RGBA32_FLOAT: (_RGBA, _FLOAT, 16),
    TextureFormat.R32_UINT: (_RED_INTEGER, _UINT, 4), TextureFormat.R32_SINT: (_RED_INTEGER, _INT, 4),
    TextureFormat.RGB10A2_UNORM: (_RGBA, _UINT_2_10_10_10_REV, 4),
    TextureFormat.RG11B10_FLOAT: (_RGB, _UINT_10F_11F_11F_REV, 4),
}
# Depth: by the GL internal format the device's VkFormat maps to.
DEPTH_READBACK = {
    0x81A6: (_DEPTH, _UINT, 4),                         # DEPTH_COMPONENT24
    0x8CAC: (_DEPTH, _FLOAT, 4),                        # DEPTH_COMPONENT32F
    0x88F0: (_DEPTH_STENCIL, _UINT_24_8, 4),            # DEPTH24_STENCIL8
    0x8CAD: (_DEPTH_STENCIL, _FLOAT_32_UINT_24_8_REV, 8),  # DEPTH32F_STENCIL8
}


def _fn(name, restype, *argtypes):
    address = _egl.eglGetProcAddress(name.encode())
    if not address:
        raise RuntimeError(f"{name} is missing")
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


_get_tex_image = _fn("glGetTexImage", None, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p)
_bind_texture = _fn("glBindTexture", None, ctypes.c_uint, ctypes.c_uint)
_pixel_store = _fn("glPixelStorei", None, ctypes.c_uint, ctypes.c_int)
_get_named_buffer_sub_data = _fn("glGetNamedBufferSubData", None, ctypes.c_uint, ctypes.c_ssize_t, ctypes.c_ssize_t,
                                 ctypes.c_void_p)
_named_buffer_sub_data = _fn("glNamedBufferSubData", None, ctypes.c_uint, ctypes.c_ssize_t, ctypes.c_ssize_t,
                             ctypes.c_void_p)
get_error = _fn("glGetError", ctypes.c_uint)
_image = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
_copy_image_sub_data = _fn("glCopyImageSubData", None, *_image, *_image, ctypes.c_int, ctypes.c_int, ctypes.c_int)


def copy_texture(src, dst) -> None:
    """glCopyImageSubData of ``src`` (a geyser GlTexture) into ``dst`` (a moderngl texture of its
    size): a read of ``src`` by GL on the GPU, ordered like the caller's other GL commands."""
    w, h = dst.size
    _copy_image_sub_data(src.name, GL_TEXTURE_2D, 0, 0, 0, 0, dst.glo, GL_TEXTURE_2D, 0, 0, 0, 0, w, h, 1)


def readback_of(gl_texture) -> tuple[int, int, int]:
    f = gl_texture.format
    return READBACK[f] if f in READBACK else DEPTH_READBACK[gl_texture.internal_format]


def get_tex_image(gl_texture) -> np.ndarray:
    """The texture's level 0 as bytes, unconverted (rows tightly packed)."""
    fmt, typ, texel = readback_of(gl_texture)
    out = np.zeros(gl_texture.width * gl_texture.height * texel, np.uint8)
    _pixel_store(0x0D05, 1)  # GL_PACK_ALIGNMENT
    _bind_texture(GL_TEXTURE_2D, gl_texture.name)
    _get_tex_image(GL_TEXTURE_2D, 0, fmt, typ, out.ctypes.data)
    _bind_texture(GL_TEXTURE_2D, 0)
    error = get_error()
    assert error == 0, f"glGetTexImage raised 0x{error:04X}"
    return out


def buffer_read(gl_buffer, size: int) -> np.ndarray:
    out = np.zeros(size, np.uint8)
    _get_named_buffer_sub_data(gl_buffer.name, 0, size, out.ctypes.data)
    return out


def buffer_write(gl_buffer, data: np.ndarray) -> None:
    data = np.ascontiguousarray(data, np.uint8)
    _named_buffer_sub_data(gl_buffer.name, 0, data.size, data.ctypes.data)


_is_texture = _fn("glIsTexture", ctypes.c_ubyte, ctypes.c_uint)
_is_buffer = _fn("glIsBuffer", ctypes.c_ubyte, ctypes.c_uint)
_is_memory_object = _fn("glIsMemoryObjectEXT", ctypes.c_ubyte, ctypes.c_uint)


def is_texture(name: int) -> bool:
    return bool(_is_texture(name))


def is_buffer(name: int) -> bool:
    return bool(_is_buffer(name))


def is_memory_object(name: int) -> bool:
    return bool(_is_memory_object(name))
