"""The command line (``python -m geyser``, geyser.cli): help with defaults for every subcommand,
one-line errors with exit code 2 for bad arguments and 1 for runtime failures, ``--debug`` for
the traceback, ``info --json`` and ``list --json``, and the demo's PNG for every color format.

Everything runs the real command in a subprocess, on the real driver."""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import geyser
from geyser import cli
from geyser.demo import pattern, png_image, write_png

NO_DRIVER = {"VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": "/nonexistent/icd.json"}
COLOR_FORMATS = [f for f in geyser.TextureFormat if not geyser.format_info(f).is_depth]


def geyser_cli(*args: str, env: dict | None = None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    if env:
        full_env.pop("GEYSER_VALIDATION", None)
    return subprocess.run([sys.executable, "-m", "geyser", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_is_a_module_and_has_help():
    subs = _subparsers()
    assert set(cli.subcommands()) == set(subs)
    assert {"info", "list", "demo", "bench", "doctor"} <= set(subs)
    for name, p in subs.items():
        assert p.description, name
        for action in p._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings} has no help"


@pytest.mark.parametrize("name", ["info", "list", "demo", "bench", "doctor"])
def test_help_shows_defaults(name):
    out = geyser_cli(name, "--help")
    assert out.returncode == 0, out.stderr
    p = _subparsers()[name]
    for action in p._actions:
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        if action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in " ".join(out.stdout.split()), (name, action.dest)
    assert "--debug" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["demo", "--width", "0"], "--width"),
    (["demo", "--frames", "-3"], "--frames"),
    (["demo", "--format", "rgba9"], "unknown format 'rgba9'"),
    (["demo", "--format", "DEPTH32_FLOAT"], "depth format"),
    (["demo", "--timeout", "nan"], "--timeout"),
    (["bench", "--iterations", "0"], "--iterations"),
    (["bench", "--sizes", "0x5"], "--sizes"),
    (["list", "--timeout", "soon"], "--timeout"),
    (["doctor", "--timeout", "0"], "--timeout"),
    (["nosuchcommand"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, needle):
    out = geyser_cli(*args, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_no_driver_is_one_line_naming_the_cause_and_exit_1():
    out = geyser_cli("info", env=NO_DRIVER, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("python -m geyser info: error: VulkanUnavailableError: ") and "--debug" in lines[0]


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where):
    args = ["--debug", "info"] if where == "before" else ["info", "--debug"]
    out = geyser_cli(*args, env=NO_DRIVER, timeout=60)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr and "VulkanUnavailableError" in out.stderr


def test_unknown_device_is_a_runtime_error(device):
    out = geyser_cli("demo", "--device", "no-such-device-name", "--frames", "1", "--width", "4", "--height", "4",
                     "--png", "")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error: VulkanUnavailableError" in out.stderr and "no-such-device-name" in out.stderr


def test_info_json(device):
    out = geyser_cli("info", "--json", "--device", device.info.device_uuid)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["device"] == device.info.device_uuid
    assert device.info.device_uuid in [d["device_uuid"] for d in doc["devices"]]
    assert [row["format"] for row in doc["formats"]] == [f.name for f in geyser.TextureFormat]
    rgba = doc["formats"][0]
    assert rgba["shareable"] is True and rgba["handle_types"]["opaque_fd"]["exportable"] is True


def test_list_json_shows_a_live_sender(device):
    name = f"cli-json-{os.getpid()}"
    with geyser.Sender(device, name, geyser.TextureDescriptor(8, 4), ring_size=2):
        out = geyser_cli("list", "--json", timeout=60)
    assert out.returncode == 0, out.stderr
    mine = [s for s in json.loads(out.stdout) if s["name"] == name]
    assert len(mine) == 1
    s = mine[0]
    assert (s["width"], s["height"], s["ring_size"], s["producer_pid"]) == (8, 4, 2, os.getpid())
    assert s["descriptor"]["format"] == "RGBA8_UNORM"


def _read_png(path) -> tuple[int, int, int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(tag + body) & 0xFFFFFFFF
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color = ihdr[:4]
    return w, h, depth, color, zlib.decompress(idat)


@pytest.mark.parametrize("fmt", COLOR_FORMATS, ids=lambda f: f.name)
def test_png_handles_every_color_format(fmt, tmp_path):
    w, h = 7, 5
    image, note = png_image(fmt, pattern(fmt, w, h, 3))
    path = tmp_path / "f.png"
    write_png(str(path), image)
    pw, ph, depth, color, raw = _read_png(path)
    channels = {0: 1, 2: 3, 6: 4}[color]
    assert (pw, ph) == (w, h)
    assert len(raw) == h * (1 + w * channels * depth // 8)
    info = geyser.format_info(fmt)
    if info.dtype in (np.uint8, np.uint16) and not info.packed:
        assert depth == info.dtype.itemsize * 8
        assert "stretched" not in note
    else:
        assert depth == 16 and note


def test_png_keeps_8bit_samples_and_reorders_bgra(tmp_path):
    px = pattern(geyser.TextureFormat.BGRA8_UNORM, 3, 2, 1)
    image, note = png_image(geyser.TextureFormat.BGRA8_UNORM, px)
    assert note == "" and image.dtype == np.uint8
    assert (image[..., 0] == px[..., 2]).all() and (image[..., 3] == px[..., 3]).all()


def test_demo_writes_a_png_of_a_float_format_and_nothing_else(device, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    png = tmp_path / "last.png"
    out = geyser_cli("demo", "--width", "16", "--height", "8", "--frames", "3", "--ring", "2", "--format",
                     "rgba16_float", "--png", str(png), cwd=work)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3/3 frames verified" in out.stdout and "stretched" in out.stdout
    assert _read_png(png)[:4] == (16, 8, 16, 6)
    assert list(work.iterdir()) == []
