"""The victim of tests/test_hostile_peers.py: a process that takes memory from a hostile peer,
imports it and reads it, then prints what happened as one JSON line. A crash (the SIGBUS or
SIGSEGV that issue #14 found) shows in the parent as the signal that ended this process.

Usage: ``python _hostile_victim.py channel PATH`` (receive one handle on a channel connected to
PATH, import it, read it) or ``python _hostile_victim.py subscribe NAME`` (subscribe to NAME, read
one frame). With ``channel``, after a successful import the victim prints ``{"imported": true}``
and waits for a line on stdin before it reads, so the peer can act in between. ``spawned`` is the
multiprocessing target for the pickling path.
"""

from __future__ import annotations

import gc
import json
import os
import sys

import geyser


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _outcome(attempt) -> dict:
    base = _fds()
    try:
        attempt()
        result = {"outcome": "read"}
    except geyser.GeyserError as e:
        result = {"outcome": type(e).__name__, "message": str(e)}
    gc.collect()
    result["fds_leaked"] = _fds() - base
    return result


def _via_channel(device: geyser.Device, path: str) -> None:
    ch = geyser.Channel.connect(path, 10)
    try:
        with geyser.receive_handle(ch, timeout=10) as handle:
            if isinstance(handle, geyser.BufferHandle):
                imported = device.import_buffer(handle)
                read = imported.read
            else:
                imported = device.import_texture(handle)
                read = imported.download
            with imported:
                print(json.dumps({"imported": True}), flush=True)
                sys.stdin.readline()
                read()
    finally:
        ch.close()


def _via_subscriber(device: geyser.Device, name: str) -> None:
    sub = geyser.Subscriber(device, name, timeout=10)
    try:
        with sub.next_frame(timeout=10) as f:
            f.texture.download()
    finally:
        sub.close()


def spawned(conn) -> None:
    """multiprocessing target: unpickle a Texture from ``conn`` (which imports it), read it."""
    with geyser.Device():  # opened first, so the fd count covers only what arrives
        def attempt():
            with conn.recv() as texture:
                texture.download()
        conn.send(_outcome(attempt))


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    with geyser.Device() as dev:
        via = _via_channel if mode == "channel" else _via_subscriber
        print(json.dumps(_outcome(lambda: via(dev, arg))), flush=True)
