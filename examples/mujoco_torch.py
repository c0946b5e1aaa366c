"""MuJoCo renders with OpenGL (MUJOCO_GL=egl); a torch consumer process gets each frame with no
readback: the scene is rendered into MuJoCo's offscreen framebuffer and glBlitFramebuffer copies
it, on the GPU, into the Geyser texture imported into MuJoCo's own GL context.

    python examples/mujoco_torch.py --frames 100 --width 320 --height 240

The consumer turns each frame into a torch tensor with a host download (torch.from_numpy; moved to
the GPU with .cuda() where torch has CUDA). The producer side reads nothing back: MuJoCo's pixels
go from its framebuffer to the shared texture on the GPU."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

SCENE = """
<mujoco>
  <visual><global offwidth="{w}" offheight="{h}"/></visual>
  <worldbody>
    <light pos="0 0 3"/>
    <geom type="plane" size="2 2 0.1" rgba="0.2 0.3 0.4 1"/>
    <body pos="0 0 1"><freejoint/><geom type="box" size="0.2 0.2 0.2" rgba="0.9 0.4 0.1 1"/></body>
  </worldbody>
</mujoco>
"""


def produce(args: argparse.Namespace) -> int:
    import mujoco
    from OpenGL import GL

    import geyser
    import geyser.gl

    model = mujoco.MjModel.from_xml_string(SCENE.format(w=args.width, h=args.height))
    data = mujoco.MjData(model)
    gl_context = mujoco.GLContext(args.width, args.height)
    gl_context.make_current()
    scene, camera, option = mujoco.MjvScene(model, maxgeom=100), mujoco.MjvCamera(), mujoco.MjvOption()
    camera.distance, camera.elevation = 4.0, -30.0
    context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
    mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, context)
    viewport = mujoco.MjrRect(0, 0, args.width, args.height)

    device = geyser.Device()
    usage = geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.TEXTURE_BINDING | geyser.TextureUsage.RENDER_ATTACHMENT
    desc = geyser.TextureDescriptor(args.width, args.height, geyser.TextureFormat.RGBA8_UNORM, usage)
    with geyser.Sender(device, args.name, desc) as sender:
        ring = geyser.gl.GlSender(sender)  # in MuJoCo's context, which is current
        targets = {}
        for texture in ring.ring:  # one draw framebuffer per ring slot, made once
            fbo = GL.glGenFramebuffers(1)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fbo)
            GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture.name, 0)
            targets[texture.name] = fbo
        consumer = subprocess.Popen([sys.executable, __file__, "--role", "consumer", "--name", args.name,
                                     "--frames", str(args.frames)], stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while sender.subscribers == 0 and time.monotonic() < deadline and consumer.poll() is None:
            time.sleep(0.01)
        for _ in range(args.frames):
            mujoco.mj_step(model, data)
            mujoco.mjv_updateScene(model, data, option, None, camera, mujoco.mjtCatBit.mjCAT_ALL, scene)
            mujoco.mjr_render(viewport, scene, context)
            with ring.frame(timeout=30) as frame:
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, context.offFBO)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, targets[frame.texture.name])
                # GL's rows run bottom-up; the texture's first row is the image's top.
                GL.glBlitFramebuffer(0, 0, args.width, args.height, 0, args.height, args.width, 0,
                                     GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        assert consumer.stdout is not None
        report = [json.loads(line) for line in consumer.stdout]
        rc = consumer.wait(timeout=60)
        GL.glDeleteFramebuffers(len(targets), list(targets.values()))
        ring.close()
    for line in report:
        print(json.dumps(line))
    ok = rc == 0 and len(report) == args.frames and all(r["rendered"] for r in report)
    print(f"mujoco -> torch: {len(report)} frames, {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def consume(args: argparse.Namespace) -> int:
    import torch

    import geyser
    device = geyser.Device()
    sub = geyser.Subscriber(device, args.name, timeout=30, client="mujoco torch consumer")  # published already
    with sub:
        for _ in range(args.frames):
            with sub.next_frame(timeout=30) as frame:
                image = torch.from_numpy(frame.texture.download())
                if torch.cuda.is_available():
                    image = image.cuda()
                rgb = image[..., :3].float()
                # A rendered scene: a lit floor and a box, so the pixels vary and are not black.
                print(json.dumps({"frame": frame.number, "mean": round(rgb.mean().item(), 2),
                                  "rendered": bool(rgb.std().item() > 1.0 and rgb.mean().item() > 1.0)}), flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=f"geyser-mujoco-{os.getpid()}")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--role", choices=["producer", "consumer"], default="producer")
    a = parser.parse_args()
    sys.exit(consume(a) if a.role == "consumer" else produce(a))
