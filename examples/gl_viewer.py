"""A GL viewer: a glfw window that draws another process's frames, zero-copy.

    python examples/gl_producer.py --name my-gl-frames &
    python examples/gl_viewer.py my-gl-frames

(``python -m geyser view NAME`` is the full-featured version: every format, fps in the title.)"""

from __future__ import annotations

import argparse

import glfw
import moderngl

import geyser
import geyser.gl

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("name")
parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: until closed)")
args = parser.parse_args()

device = geyser.Device()
with geyser.Subscriber(device, args.name) as sub:
    w, h = sub.info.width, sub.info.height
    if not glfw.init():
        raise SystemExit("glfw could not initialise (no display? try xvfb-run)")
    for hint, value in ((glfw.CONTEXT_VERSION_MAJOR, 3), (glfw.CONTEXT_VERSION_MINOR, 3),
                        (glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)):
        glfw.window_hint(hint, value)
    window = glfw.create_window(w, h, f"{args.name}", None, None)
    glfw.make_context_current(window)
    ctx = moderngl.create_context()
    program = ctx.program(
        vertex_shader="""#version 330
            out vec2 uv;
            void main() { vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
                          uv = vec2(p.x, 1.0 - p.y); gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0); }""",
        fragment_shader="""#version 330
            uniform sampler2D frame; in vec2 uv; out vec4 colour;
            void main() { colour = texture(frame, uv); }""")
    quad = ctx.vertex_array(program, [])
    shown = 0
    while not glfw.window_should_close(window) and (args.frames == 0 or shown < args.frames):
        with geyser.gl.read_frame(sub) as frame:  # waits for the frame; releases it after GL is done
            frame.texture.to_moderngl(ctx).use(0)
            quad.render(moderngl.TRIANGLES, vertices=3)
        glfw.swap_buffers(window)
        glfw.poll_events()
        shown += 1
        glfw.set_window_title(window, f"{args.name}: frame {frame.number}")
    geyser.gl.release_ring(sub)
    glfw.terminate()
    print(f"showed {shown} frames")
