"""The other process in the cross-process tests (run by conftest.run_child, not by pytest).

Usage: ``python _child.py MODE`` with a JSON request on stdin. The request carries ``handle``
(the hex of ``to_bytes()``) and ``fd``, an fd number the parent passed with ``pass_fds``. The
child rebuilds the handle with ``from_bytes(payload, fd)``, imports it into its own ``geyser.Device()``,
does MODE, and prints one JSON line: the answer, plus ``validation`` (the layer's messages when
GEYSER_VALIDATION=1) and, if a GeyserError was raised, ``error`` and ``message``.

Modes:
  device          open Device() (GEYSER_DEVICE applies) and describe it; no handle
  texture-read    download ``aspects`` (list of ints) -> ``arrays`` {str(aspect): array}
  texture-write   upload ``arrays`` {str(aspect): array}
  buffer-read     read ``size`` bytes at ``offset`` -> ``data``
  buffer-write    write ``data`` at ``offset``

numpy arrays and bytes travel as _jsonarrays encodes them.
"""

from __future__ import annotations

import json
import sys


import geyser
from _jsonarrays import decode as _decode, encode as _encode


def run(mode: str, req: dict) -> dict:
    if mode == "device":
        with geyser.Device() as d:
            return {"index": d.info.index, "name": d.info.name, "device_uuid": d.info.device_uuid}

    cls = geyser.TextureHandle if mode.startswith("texture") else geyser.BufferHandle
    # from_bytes takes ownership of the inherited fd; the with block closes it.
    with cls.from_bytes(bytes.fromhex(req["handle"]), req["fd"]) as handle, geyser.Device() as device:
        if mode == "texture-read":
            with device.import_texture(handle) as tex:
                arrays = {str(a): tex.download(geyser.Aspect(a)) for a in req["aspects"]}
                return {"arrays": arrays, "format": tex.format.name, "width": tex.width, "height": tex.height}
        if mode == "texture-write":
            with device.import_texture(handle) as tex:
                for a, arr in req["arrays"].items():
                    tex.upload(arr, geyser.Aspect(int(a)))
                return {}
        if mode == "buffer-read":
            with device.import_buffer(handle) as buf:
                return {"data": buf.read(req["size"], req["offset"]), "size": buf.size}
        if mode == "buffer-write":
            with device.import_buffer(handle) as buf:
                buf.write(req["data"], req["offset"])
                return {}
    raise SystemExit(f"unknown mode {mode!r}")


def main() -> int:
    mode = sys.argv[1]
    req = _decode(json.loads(sys.stdin.read() or "{}"))
    try:
        answer = run(mode, req)
    except geyser.GeyserError as e:
        answer = {"error": type(e).__name__, "message": str(e)}
    try:
        answer["validation"] = geyser.validation_messages()
    except Exception:  # noqa: BLE001 - no Vulkan at all: nothing to report
        answer["validation"] = []
    sys.stdout.write(json.dumps(_encode(answer)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
