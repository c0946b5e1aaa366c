"""The OpenGL comparison of ``python -m geyser bench``: a frame handed to an OpenGL consumer in
another process, zero-copy (the ring imported into GL once, :class:`geyser.gl.GlSubscriber`),
against the copy path GL users write today (download to numpy, shared memory,
``glTexSubImage2D``), per size. Both consumers end their step with ``glFinish``, so the frame is
in GL, usable, when the clock stops."""

from __future__ import annotations

import json
import subprocess
import sys

_CONSUMER = r"""
import json, os, struct, sys, time
import numpy as np
import moderngl
import geyser, geyser.gl
req = json.loads(sys.argv[1])
out = req["out"]
dev = geyser.Device(req["device"])
ctx = moderngl.create_standalone_context(backend="egl")
if req["mode"] == "zero-copy":
    sub = geyser.Subscriber(dev, req["name"], timeout=30)
    ring = geyser.gl.GlSubscriber(sub)
    os.write(out, b"R")
    for _ in range(req["frames"]):
        with ring.frame(timeout=30) as frame:
            ctx.finish()
            t1 = time.monotonic_ns()
        os.write(out, struct.pack("<q", t1))
    ring.close()
    sub.close()
else:
    from multiprocessing import shared_memory, resource_tracker
    shm = shared_memory.SharedMemory(name=req["shm"])
    resource_tracker.unregister(shm._name, "shared_memory")  # the producer's segment (bench.py says why)
    w, h = req["size"]
    tex = ctx.texture((w, h), 4)
    view = np.ndarray((h, w, 4), np.uint8, buffer=shm.buf)
    inp = req["inp"]
    os.write(out, b"R")
    for _ in range(req["frames"]):
        os.read(inp, 1)
        tex.write(view)  # glTexSubImage2D
        ctx.finish()
        os.write(out, struct.pack("<q", time.monotonic_ns()))
    del view
    shm.close()
"""


def available() -> str | None:
    """None when the GL comparison can run here, else why not."""
    try:
        import moderngl
    except ImportError:
        return "moderngl is not installed (pip install moderngl)"
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as e:  # moderngl raises plain Exception without EGL
        return f"no EGL OpenGL context: {e}"
    missing = [e for e in ("GL_EXT_memory_object", "GL_EXT_memory_object_fd") if e not in ctx.extensions]
    ctx.release()
    return f"the EGL context lacks {', '.join(missing)}" if missing else None


def _consumer(req: dict, pass_fds) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CONSUMER, json.dumps(req)], pass_fds=pass_fds)


def comparisons(device, sizes, repeats: int, frames: int, copy_frames, step, skipped: list[str], *,
                zero_copy, copy_path, comparison) -> list:
    """One comparison per size (zero-copy GL consumer as the baseline), or none with the reason
    added to ``skipped``. ``zero_copy``, ``copy_path`` and ``comparison`` are bench.py's (its
    handoff measurements, given this module's consumer process, and its table row group)."""
    why = available()
    if why:
        skipped.append(f"OpenGL consumer: {why}")
        return []
    groups = []
    for w, h in sizes:
        size = f"{w}x{h}"
        g = comparison(f"gl-handoff-{size}", f"OpenGL consumer {size}", "ms",
                       [("gl-zero-copy", "zero-copy (GlSubscriber)"), ("gl-copy", "copy: download+shm+glTexSubImage2D")])
        for _ in range(repeats):
            step(f"OpenGL consumer {size}")
            # The frame usable in GL in the consumer process: imported once, or copied each time.
            g.add("gl-zero-copy", zero_copy(device, w, h, frames, consumer=_consumer))
            g.add("gl-copy", copy_path(device, w, h, copy_frames(w, h), consumer=_consumer))
        groups.append(g)
    return groups
