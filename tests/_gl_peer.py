"""The other process of tests/test_gl.py's cross-process tests, with a moderngl EGL context.

    python _gl_peer.py produce NAME FRAMES WIDTH HEIGHT FORMAT   GL draws demo.pattern into a Sender
    python _gl_peer.py consume NAME FRAMES                        GL reads a Subscriber's frames
    python _gl_peer.py vkproduce NAME FRAMES WIDTH HEIGHT         Vulkan frames written by the
        GPU, which signals the ready timeline (end_frame(ready="gpu"))

Prints one JSON line per event; exits non-zero on any mismatch."""

from __future__ import annotations

import json
import sys
import time

import moderngl
import numpy as np

import geyser
import geyser.gl
from geyser.demo import pattern
from geyser.gl_pattern import PatternRenderer

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _gl import get_tex_image  # noqa: E402


def produce(name: str, frames: int, width: int, height: int, fmt_name: str) -> int:
    device = geyser.Device()
    ctx = moderngl.create_standalone_context(backend="egl")
    fmt = geyser.format_info(fmt_name).format
    usage = geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.COPY_DST | geyser.TextureUsage.TEXTURE_BINDING \
        | geyser.TextureUsage.RENDER_ATTACHMENT
    desc = geyser.TextureDescriptor(width, height, fmt, usage)
    with geyser.Sender(device, name, desc, ring_size=3) as sender:
        gl_sender = geyser.gl.GlSender(sender)
        renderer = PatternRenderer(ctx, fmt, width, height)
        print(json.dumps({"event": "ready", "sync": gl_sender.sync_path.name}), flush=True)
        deadline = time.monotonic() + 30
        while sender.subscribers == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(frames):
            with gl_sender.frame() as frame:
                renderer.draw(frame.texture, frame.number)
        sys.stdin.readline()
        renderer.release()
        gl_sender.close()
    return 0


def vkproduce(name: str, frames: int, width: int, height: int) -> int:
    device = geyser.Device()
    fmt = geyser.TextureFormat.RGBA8_UNORM
    with geyser.Sender(device, name, geyser.TextureDescriptor(width, height), ring_size=3) as sender:
        print(json.dumps({"event": "ready", "sync": sender.ready.kind}), flush=True)
        if sender.ready.kind == "vulkan":
            sender.wait_for_subscribers(1, timeout=30)
            for _ in range(frames):
                frame = sender.begin_frame(timeout=30)
                # The GPU writes the frame and signals the producer's ready timeline; end_frame
                # forwards that to each subscriber's own timeline, which the consumer's GL waits on.
                sender.ring[frame.slot].upload(pattern(fmt, width, height, frame.number),
                                               signal=[(sender.ready, frame.number)])
                sender.end_frame(frame, ready="gpu")
        sys.stdin.readline()
    return 0


def consume(name: str, frames: int) -> int:
    device = geyser.Device()
    ctx = moderngl.create_standalone_context(backend="egl")
    with geyser.Subscriber(device, name, timeout=30) as sub:  # the test published it before starting this
        d = sub.info.descriptor
        ok = True
        gl_sub = geyser.gl.GlSubscriber(sub)
        print(json.dumps({"event": "subscribed", "sync": gl_sub.sync_path.name}), flush=True)
        for expected in range(1, frames + 1):
            with gl_sub.frame(timeout=30) as frame:
                got = get_tex_image(frame.texture)
                want = pattern(d.format, d.width, d.height, frame.number).view(np.uint8).ravel()
                same = frame.number == expected and np.array_equal(got, want)
                ok = ok and same
                print(json.dumps({"event": "frame", "frame": frame.number, "ok": bool(same)}), flush=True)
        gl_sub.close()
    del ctx
    return 0 if ok else 1


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "produce":
        sys.exit(produce(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]))
    if mode == "vkproduce":
        sys.exit(vkproduce(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    sys.exit(consume(sys.argv[2], int(sys.argv[3])))
