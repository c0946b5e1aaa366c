"""``python -m geyser list``: the named senders published on this machine."""

from __future__ import annotations

import argparse
from typing import Any

import geyser

from ._common import add_subcommand, positive_float, to_json


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "list", "list the named senders published on this machine",
                       "Lists the named senders this user's processes publish (geyser.list_senders()):\n"
                       "size, format, ring, producer pid, timeline kind, last frame and subscribers.")
    p.add_argument("--timeout", type=positive_float, default=0.5, help="seconds to wait for each sender's answer")
    p.add_argument("--json", action="store_true", help="print a JSON list of the senders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    senders = geyser.list_senders(timeout=args.timeout)
    if args.json:
        to_json(senders)
        return 0
    if not senders:
        print("no senders published")
        return 0
    print(f"{'name':<28}{'size':>12}  {'format':<16}{'ring':>5}{'pid':>8}  {'sync':<9}{'frame':>8}{'subs':>6}")
    for s in senders:
        if s.layout is not None:  # a tensor stream: its slot's bytes and how many tensors
            size, fmt = f"{s.layout.size} B", f"{len(s.layout.names)} tensor{'s' if len(s.layout.names) > 1 else ''}"
        else:
            size = f"{s.width}x{s.height}"
            fmt = s.descriptor.format.name if s.descriptor else f"VkFormat {s.vk_format}"
        print(f"{s.name:<28}{size:>12}  {fmt:<16}{s.ring_size:>5}{s.producer_pid:>8}  "
              f"{s.sync_kind:<9}{s.current_frame:>8}{s.subscribers:>6}")
    return 0
