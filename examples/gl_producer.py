"""A moderngl producer: each frame is drawn by a shader straight into a Geyser sender's ring.

    python examples/gl_producer.py --name my-gl-frames --frames 600
    python -m geyser view my-gl-frames          # in another terminal: a window, zero-copy

Any subscriber (Vulkan, CUDA, another GL program) receives the frames with no copy."""

from __future__ import annotations

import argparse
import time

import moderngl

import geyser
import geyser.gl
from geyser.gl_pattern import PatternRenderer

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--name", default="geyser-gl-producer")
parser.add_argument("--frames", type=int, default=600)
parser.add_argument("--width", type=int, default=640)
parser.add_argument("--height", type=int, default=360)
parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a first subscriber")
args = parser.parse_args()

device = geyser.Device()
# headless; any current GL context works (moderngl's stubs type **settings as dicts, hence the ignore)
ctx = moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
usage = geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.TEXTURE_BINDING | geyser.TextureUsage.RENDER_ATTACHMENT
desc = geyser.TextureDescriptor(args.width, args.height, geyser.TextureFormat.RGBA8_UNORM, usage)
renderer = PatternRenderer(ctx, desc.format, args.width, args.height)
with geyser.Sender(device, args.name, desc) as sender:
    print(f"publishing {args.name!r}: {args.width}x{args.height}, drawn by {ctx.info['GL_RENDERER']}", flush=True)
    deadline = time.monotonic() + args.wait
    while sender.subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(args.frames):
        with geyser.gl.write_frame(sender) as frame:  # the ring is imported into GL once
            renderer.draw(frame.texture, frame.number)
    print(f"published {sender.frame} frames", flush=True)
    time.sleep(0.5)  # let the last subscriber take the last frame before the sender goes
