"""What the subcommand modules share: the parser classes, argument types and JSON output."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from typing import Any, NoReturn

import geyser

__all__ = ["ArgumentParser", "HelpFormatter", "add_subcommand", "add_device_argument", "add_debug_argument",
           "positive_int", "positive_float", "color_format", "one_line", "to_json"]


def one_line(e: BaseException) -> str:
    """An exception's message on one line (the core's messages may span several)."""
    return " ".join(str(e).split()) or type(e).__name__


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(ValueError(message))} (see {self.prog} --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default and keeps the descriptions' line breaks."""


def add_debug_argument(p: argparse.ArgumentParser) -> None:
    """``--debug`` after the subcommand too (``python -m geyser demo --debug``)."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of a failure")


def add_subcommand(sub: Any, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand's parser, with the shared formatter and ``--debug``."""
    p = sub.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)
    add_debug_argument(p)
    return p


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None,
                   help="device index, UUID, CUDA ordinal (cuda:N) or name substring (GEYSER_DEVICE; default: the first discrete GPU, "
                        "else integrated, else the CPU driver)")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def positive_float(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return v


def color_format(text: str) -> geyser.TextureFormat:
    """An argparse type: the name (any case) of one of the color TextureFormats."""
    try:
        info = geyser.format_info(text)
    except geyser.InvalidArgumentError:
        names = ", ".join(f.name for f in geyser.TextureFormat if not geyser.format_info(f).is_depth)
        raise argparse.ArgumentTypeError(f"unknown format {text!r}; the color formats are {names}") from None
    if info.is_depth:
        raise argparse.ArgumentTypeError(f"{info.format.name} is a depth format; pick a color format")
    return info.format


def _plain(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(_plain(k)): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, geyser.TensorLayout):
        return obj.to_dict()
    if hasattr(obj, "dtype") and hasattr(obj, "itemsize"):  # a numpy dtype
        return str(obj)
    return obj


def to_json(obj: Any) -> None:
    """Prints ``obj`` (dataclasses, enums by name, lists, dicts) as indented JSON on stdout."""
    json.dump(_plain(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")
