"""``python -m geyser view NAME``: a window (glfw) that draws a sender's frames as they arrive.

The frames are imported into the window's OpenGL context once (:class:`geyser.gl.GlSubscriber`)
and sampled where they are: no byte crosses the CPU. The title shows the frame number and the
frame rate. Every colour format with a GL equivalent is drawn zero-copy; BGRA8 (which core
OpenGL has no format for) is downloaded and uploaded, and the title says so."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .demo import write_png
from .device import Device
from .formats import TextureFormat, format_info
from .gl import GlSubscriber
from .sender import Subscriber

_VERTEX = """
#version 330
out vec2 uv;
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    uv = vec2(p.x, 1.0 - p.y);  // texture row 0 at the top of the window
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

_FRAGMENT = """
#version 330
uniform {sampler} frame;
in vec2 uv;
out vec4 colour;
void main() {{
    vec4 texel = {fetch};
    colour = vec4(texel.rgb, {alpha});
}}
"""


def _program(ctx, fmt):
    """A program that samples ``fmt``: normalised and float formats as they are (the window clamps
    them to [0, 1]), integer formats by their low 8 bits (they need integer samplers), with alpha 1
    where there is none."""
    info = format_info(fmt)
    integer = not info.packed and info.dtype.kind in "ui" and info.dtype.itemsize > 1
    if integer and info.dtype.kind == "u":
        sampler, fetch = "usampler2D", "vec4(texture(frame, uv) % 256u) / 255.0"
    elif integer:
        sampler, fetch = "isampler2D", "vec4(abs(texture(frame, uv)) % 256) / 255.0"
    else:
        sampler, fetch = "sampler2D", "texture(frame, uv)"
    alpha = "texel.a" if info.channels == 4 else "1.0"
    return ctx.program(vertex_shader=_VERTEX,
                       fragment_shader=_FRAGMENT.format(sampler=sampler, fetch=fetch, alpha=alpha))


def _read_window(ctx, width: int, height: int) -> np.ndarray:
    data = ctx.screen.read(viewport=(0, 0, width, height), components=4)
    return np.frombuffer(data, np.uint8).reshape(height, width, 4)[::-1].copy()  # GL's rows are bottom-up


def run(args: argparse.Namespace) -> int:
    try:
        import glfw
        import moderngl
    except ImportError as e:
        raise ImportError(f"geyser view needs glfw and moderngl (pip install 'geyser-gpu[gl]'): {e}") from e
    device = Device(args.device)
    sub = Subscriber(device, args.name, timeout=args.timeout, client="geyser view")
    d = sub.info.descriptor
    if format_info(d.format).is_depth:
        print(f"geyser view: {args.name!r} sends {d.format.name}, a depth format; view shows colour formats",
              file=sys.stderr)
        return 2
    if not glfw.init():
        print("geyser view: glfw could not initialise (no display? try xvfb-run)", file=sys.stderr)
        return 2
    try:
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        window = glfw.create_window(d.width, d.height, f"geyser view {args.name}", None, None)
        if not window:
            print("geyser view: glfw could not open a window", file=sys.stderr)
            return 2
        glfw.make_context_current(window)
        glfw.swap_interval(0)
        ctx = moderngl.create_context()
        copied = d.format.name.startswith("BGRA8")
        program = _program(ctx, TextureFormat.RGBA8_UNORM if copied else d.format)
        vao = ctx.vertex_array(program, [])
        gl_sub = None if copied else GlSubscriber(sub)
        upload = ctx.texture((d.width, d.height), 4) if copied else None
        shown, started, last = 0, time.monotonic(), None
        while not glfw.window_should_close(window) and (args.frames == 0 or shown < args.frames):
            width, height = glfw.get_framebuffer_size(window)
            ctx.screen.use()
            ctx.viewport = (0, 0, width, height)
            if copied:
                with sub.next_frame(timeout=args.timeout) as frame:
                    bgra = frame.texture.download()
                upload.write(np.ascontiguousarray(bgra[..., [2, 1, 0, 3]]).tobytes())
                upload.use(0)
                number = frame.number
                vao.render(moderngl.TRIANGLES, vertices=3)
            else:
                with gl_sub.frame(timeout=args.timeout) as frame:
                    wrapped = ctx.external_texture(frame.texture.name, frame.texture.size, 4, 0, "f1")
                    wrapped.use(0)
                    vao.render(moderngl.TRIANGLES, vertices=3)
                    number = frame.number
            shown += 1
            if args.screenshot:
                last = _read_window(ctx, width, height)
            glfw.swap_buffers(window)
            glfw.poll_events()
            fps = shown / max(time.monotonic() - started, 1e-9)
            glfw.set_window_title(window, f"geyser view {args.name}: frame {number}, {fps:.1f} fps"
                                          + (" (copied: no GL BGRA8 format)" if copied else ""))
        if args.screenshot and last is not None:
            write_png(args.screenshot, last)
        print(f"geyser view: showed {shown} frames of {args.name!r}"
              + (f", last one saved to {args.screenshot}" if args.screenshot and last is not None else ""))
        if gl_sub is not None:
            gl_sub.close()
        vao.release()
        program.release()
        return 0
    finally:
        sub.close()
        glfw.terminate()
