"""``python -m geyser bench``: Geyser's paths against copies, raw eventfds and local allocations."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from .. import bench
from ._common import add_device_argument, add_subcommand, positive_int


def _sizes(text: str) -> str:
    try:
        bench.parse_sizes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"sizes are WxH, comma-separated, positive ({e})") from None
    return text


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "bench", "Geyser's paths against copies, raw eventfds and local allocations, side by side",
                       bench.__doc__)
    p.add_argument("--quick", action="store_true", help="CI-sized run (under 20 s on 2 CPU cores with lavapipe)")
    p.add_argument("--sizes", type=_sizes, default="1920x1080,3840x2160",
                   help="handoff sizes, WxH comma-separated; the largest is also used for one-time cost and read")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help="samples per run of the cheap measurements (frames, wake round trips); the expensive "
                        "ones take a tenth, at least 3 (default: 300, 100 with --quick)")
    p.add_argument("--repeats", type=positive_int, default=None, help="interleaved runs per comparison (default: 3)")
    add_device_argument(p)
    p.add_argument("--fallback-device", default=None,
                   help="the copy path's consumer device (index, UUID or name); default: the same device, "
                        "with zero_copy='never'")
    p.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON to PATH")
    p.add_argument("--png", "--plot", dest="png", metavar="PATH", default=None,
                   help="write a plot of the distributions to PATH (needs matplotlib)")
    p.add_argument("--cpp-bench", metavar="PATH", default=None,
                   help=f"the geyser_bench_core program, for binding overhead (default: {bench.CPP_BENCH_DEFAULT} "
                        "if built)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bench.run(sizes=args.sizes, iterations=args.iterations, repeats=args.repeats, quick=args.quick,
              device=args.device, fallback_device=args.fallback_device, json_path=args.json, plot_path=args.png, cpp_bench=args.cpp_bench,
              command=" ".join(["python -m geyser", *(shlex.quote(a) for a in sys.argv[1:])]))
    return 0
