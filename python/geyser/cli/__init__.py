"""The command line, ``python -m geyser SUBCOMMAND`` (also the ``geyser`` script).

One module of this package per subcommand (``info``, ``list``, ``demo``, ``bench``, ...): each
defines ``add_parser(subparsers)``, which registers the subcommand with its options and sets
``func`` to the function that runs it and returns the exit code. A new subcommand is a new
module here; nothing else changes.

Exit codes: 0 success; 1 a runtime failure (no Vulkan driver, a peer that went away, a frame that
did not verify), reported as one line naming the error; 2 bad arguments, reported as one line by
argparse; 130 interrupted. ``--debug`` (before or after the subcommand) shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from typing import Sequence

from ._common import ArgumentParser, HelpFormatter, one_line

__all__ = ["main", "build_parser", "subcommands"]

PROG = "python -m geyser"


def subcommands() -> list[str]:
    """The subcommand modules of this package, in the order ``--help`` lists them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser, every subcommand registered."""
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("``", ""),
                            formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name in subcommands():
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line on ``argv`` (``sys.argv[1:]`` by default); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{PROG} {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one line; --debug shows the rest
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: error: {type(e).__name__}: {one_line(e)}"
              f"{'' if args.debug else ' (--debug for the traceback)'}", file=sys.stderr)
        return 1
