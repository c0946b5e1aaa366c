"""``python -m geyser view NAME``: a window that draws a named sender's frames, zero-copy through OpenGL."""

from __future__ import annotations

from typing import Any

from .. import view
from ._common import add_device_argument, add_subcommand, positive_float


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "view", "draw a named sender's frames in a window, zero-copy through OpenGL",
                       view.__doc__)
    p.add_argument("name", help="the sender's name (python -m geyser list)")
    add_device_argument(p)
    p.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: until the window closes)")
    p.add_argument("--timeout", type=positive_float, default=10.0,
                   help="seconds to wait for the sender and for each frame")
    p.add_argument("--screenshot", default=None, help="save the window's last drawn image here (PNG)")
    p.set_defaults(func=view.run)
