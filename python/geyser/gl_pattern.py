"""The demo's moving pattern (``geyser.demo.pattern``) drawn by an OpenGL shader (moderngl) into a
Geyser texture imported with :mod:`geyser.gl`, texel for texel what ``pattern`` computes, so a
consumer verifies GL-drawn frames exactly as it verifies uploaded ones."""

from __future__ import annotations

import numpy as np

from .errors import UnsupportedFormatError
from .formats import format_info

_VERTEX = """
#version 330
void main() {
    // One triangle that covers the viewport.
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

# The four planes of demo.pattern, per texel; OUT, CONVERT and MODULUS depend on the format.
_FRAGMENT = """
#version 330
uniform int frame;
out {out_type} colour;
void main() {{
    int x = int(gl_FragCoord.x), y = int(gl_FragCoord.y);
    ivec4 raw = ivec4(x + 3 * frame, y + 5 * frame, (x ^ y) + 7 * frame, x * 2 + y + 11 * frame);
    colour = {convert};
}}
"""


def _shader(fmt) -> str:
    info = format_info(fmt)
    if info.is_depth or info.packed:
        raise UnsupportedFormatError(f"the GL pattern covers 8-bit UNORM, float and integer colour formats, "
                                     f"not {info.format.name}")
    kind, size = info.dtype.kind, info.dtype.itemsize
    if kind == "f":
        # Multiples of 1/256 below 16: exact in every float format (demo.pattern's rule).
        return _FRAGMENT.format(out_type="vec4", convert="vec4(raw % 4096) / 256.0")
    if kind == "u" and size == 1:
        return _FRAGMENT.format(out_type="vec4", convert="vec4(raw % 256) / 255.0")  # UNORM8: k/255 is exact
    if kind == "u":
        convert = "uvec4(raw % 65536)" if size == 2 else "uvec4(raw)"  # 32-bit: no wrap below 2^31
        return _FRAGMENT.format(out_type="uvec4", convert=convert)
    if kind == "i":
        # demo.pattern stores raw % (iinfo.max + 1): for int16 that is 0..32767.
        convert = "ivec4(raw % 32768)" if size == 2 else "raw"
        return _FRAGMENT.format(out_type="ivec4", convert=convert)
    raise UnsupportedFormatError(f"the GL pattern has no shader for {info.format.name}")


class PatternRenderer:
    """Draws ``demo.pattern(fmt, width, height, frame)`` into a :class:`geyser.gl.GlTexture`
    with ``ctx`` (a moderngl context current on this thread)."""

    def __init__(self, ctx, fmt, width: int, height: int):
        self.ctx = ctx
        self.width, self.height = width, height
        self.program = ctx.program(vertex_shader=_VERTEX, fragment_shader=_shader(fmt))
        self.vao = ctx.vertex_array(self.program, [])
        self._framebuffers: dict[int, object] = {}

    def _framebuffer(self, gl_texture):
        fb = self._framebuffers.get(gl_texture.name)
        if fb is None:
            info = format_info(gl_texture.format)
            dtype = {"f": "f4", "u": "u4", "i": "i4"}[info.dtype.kind]
            if info.dtype.kind == "u" and info.dtype.itemsize == 1:
                dtype = "f1"
            wrapped = self.ctx.external_texture(gl_texture.name, gl_texture.size, info.channels, 0, dtype)
            fb = self._framebuffers[gl_texture.name] = self.ctx.framebuffer(color_attachments=[wrapped])
        return fb

    def draw(self, gl_texture, frame: int) -> None:
        fb = self._framebuffer(gl_texture)
        fb.use()
        self.ctx.viewport = (0, 0, self.width, self.height)
        self.program["frame"].value = int(frame)
        self.vao.render(mode=self.ctx.TRIANGLES, vertices=3)

    def release(self) -> None:
        for fb in self._framebuffers.values():
            fb.release()
        self._framebuffers.clear()
        self.vao.release()
        self.program.release()
