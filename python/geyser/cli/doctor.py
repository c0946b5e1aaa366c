"""``python -m geyser doctor [NAME]``: why this process can or cannot share zero-copy."""

from __future__ import annotations

import argparse
from typing import Any

import geyser

from ._common import add_device_argument, add_subcommand, positive_float, to_json


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "doctor", "say whether this process can share zero-copy, and if not why",
                       "For the sender NAME (or every published sender), every other Vulkan device and CUDA:\n"
                       "whether the chosen device can share zero-copy with it and, if not, each reason with\n"
                       "its fix (geyser.explain). A subscriber that cannot share zero-copy receives frames\n"
                       "through host memory (the copy path, docs/fallback.md), or from another GPU by a\n"
                       "GPU-to-GPU peer copy where the producer can (docs/streams.md).")
    p.add_argument("name", nargs="?", default=None, help="one sender's name (default: every published sender)")
    add_device_argument(p)
    p.add_argument("--timeout", type=positive_float, default=1.0, help="seconds to wait for a sender's answer")
    p.add_argument("--json", action="store_true", help="print the same as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with geyser.Device(args.device) as dev:
        if args.name is not None:
            names = [args.name]
        else:
            names = [s.name for s in geyser.list_senders(timeout=args.timeout)]
        senders = [geyser.explain(n, dev, timeout=args.timeout) for n in names]
        others = [geyser.explain(d, dev) for d in geyser.devices() if d.device_uuid != dev.info.device_uuid
                  or d.driver_uuid != dev.info.driver_uuid]
        cuda = geyser.explain_cuda(dev)
        # Peer-copy delivery from every other GPU (a producer there copying frames onto this one).
        peers = [geyser.explain_peer_copy(dev, d) for d in geyser.devices()
                 if d.device_uuid != dev.info.device_uuid]
        me = {"name": dev.info.name, "device_uuid": dev.info.device_uuid, "driver_uuid": dev.info.driver_uuid}
    if args.json:
        to_json({"device": me, "test_forced_mismatch": geyser._native.device_mismatch_forced(),
                 "senders": [e.to_dict() for e in senders], "devices": [e.to_dict() for e in others],
                 "cuda": cuda.to_dict(), "peer_copy": [e.to_dict() for e in peers]})
        return 0
    print(f"this process uses '{me['name']}' (device {me['device_uuid']}, driver {me['driver_uuid']})")
    if args.name is None and not senders:
        print("no senders published")
    for e in senders + others + [cuda] + peers:
        print(e)
    return 0
