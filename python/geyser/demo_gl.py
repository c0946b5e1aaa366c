"""``python -m geyser demo --producer gl``: the demo's producer, drawing each frame with OpenGL.

A moderngl EGL context renders ``demo.pattern`` with a shader (:mod:`geyser.gl_pattern`) straight
into the sender's ring, imported into GL once (:class:`geyser.gl.GlSender`); the consumer verifies
every frame as it does for uploaded ones."""

from __future__ import annotations

import json
import sys
import time

from .formats import TextureUsage
from .gl import GlSender
from .gl_pattern import PatternRenderer
from .memory import TextureDescriptor
from .sender import Sender


def produce(args, device, desc, wait_for_consumer) -> int:
    """The producer role of ``demo --producer gl``; ``wait_for_consumer(sender, timeout)`` is the
    demo's (it returns False after printing the error event)."""
    try:
        import moderngl
    except ImportError as e:
        print(json.dumps({"event": "error", "message": f"--producer gl needs moderngl (pip install moderngl): {e}"}),
              flush=True)
        return 1
    usage = desc.usage | TextureUsage.RENDER_ATTACHMENT
    desc = TextureDescriptor(desc.width, desc.height, desc.format, usage)
    ctx = moderngl.create_standalone_context(backend="egl")
    renderer = PatternRenderer(ctx, desc.format, desc.width, desc.height)
    with Sender(device, args.name, desc, ring_size=args.ring, release_timeout=args.timeout) as sender:
        gl_sender = GlSender(sender)
        print(json.dumps({"event": "ready", "device": f"{device.name} (OpenGL: {gl_sender.context.info.renderer}, "
                                                      f"sync {gl_sender.sync_path.name.lower()})",
                          "sync": sender.ready.kind, "allocation": sender.ring[0].allocation_size}), flush=True)
        if not wait_for_consumer(sender, args.timeout):
            return 1
        for _ in range(args.frames):
            with gl_sender.frame(timeout=args.timeout) as frame:
                renderer.draw(frame.texture, frame.number)
            print(json.dumps({"event": "published", "frame": frame.number, "t": time.monotonic_ns()}), flush=True)
        sys.stdin.readline()
        gl_sender.close()
    renderer.release()
    ctx.release()
    return 0
