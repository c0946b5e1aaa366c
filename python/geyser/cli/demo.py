"""``python -m geyser demo``: two processes share a ring of textures, every frame verified."""

from __future__ import annotations

import argparse
from typing import Any

from .. import demo
from ._common import add_device_argument, add_subcommand, color_format, positive_float, positive_int


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "demo", "two-process zero-copy sharing through a named sender, every frame verified",
                       demo.__doc__)
    p.add_argument("--width", type=positive_int, default=1920, help="texture width in texels")
    p.add_argument("--height", type=positive_int, default=1080, help="texture height in texels")
    p.add_argument("--format", type=color_format, default="RGBA8_UNORM",
                   help="a color TextureFormat name, any case (python -m geyser info lists them)")
    p.add_argument("--frames", type=positive_int, default=300, help="frames to send and verify")
    p.add_argument("--ring", type=positive_int, default=3, help="textures in the sender's ring")
    add_device_argument(p)
    p.add_argument("--png", default="geyser-demo-last-frame.png",
                   help="where the consumer saves the last frame (every format is converted for PNG; "
                        "an empty string saves nothing)")
    p.add_argument("--timeout", type=positive_float, default=30.0, help="seconds any single wait may take")
    p.add_argument("--producer", choices=["vulkan", "gl"], default="vulkan",
                   help="how the producer writes frames: Vulkan uploads, or an OpenGL shader (geyser.demo_gl)")
    p.add_argument("--role", choices=["producer", "consumer"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--name", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=demo.run)
