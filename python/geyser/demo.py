"""``python -m geyser demo``: share a texture between two processes and prove the bytes match.

The producer creates a shareable texture on the chosen device, writes a pattern, exports it and
sends the fd over a Unix socket (SCM_RIGHTS) with the handle's description. The consumer, a
separate process, imports it, reads it back and checks every byte against the same pattern.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

_MAX_MESSAGE = 64 * 1024


def pattern(width: int, height: int, frame: int) -> np.ndarray:
    """A deterministic RGBA8 pattern that differs in every texel and every frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.uint32)
    img = np.empty((height, width, 4), np.uint8)
    img[..., 0] = (x + frame) & 0xFF
    img[..., 1] = (y + 3 * frame) & 0xFF
    img[..., 2] = ((x ^ y) + 7 * frame) & 0xFF
    img[..., 3] = 255
    return img


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="two-process zero-copy share-and-verify on the default device")
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--frames", type=int, default=5, help="patterns written and verified in turn")
    p.add_argument("--device", default=None, help="device index, UUID or name substring")
    p.add_argument("--consumer-fd", type=int, default=None, help=argparse_suppress())
    p.set_defaults(func=run)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _send(sock: socket.socket, obj: dict, fds: list[int] = ()) -> None:
    data = json.dumps(obj).encode()
    socket.send_fds(sock, [data], list(fds))


def _recv(sock: socket.socket, timeout: float) -> tuple[dict, list[int]]:
    sock.settimeout(timeout)
    data, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 4)
    if not data:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("peer closed the socket")
    return json.loads(data), fds


def _consumer(sock_fd: int, device_sel: str | None) -> int:
    import geyser

    sock = socket.socket(fileno=sock_fd)
    dev = geyser.Device(device_sel)
    msg, fds = _recv(sock, 30)
    handle = geyser.TextureHandle.from_dict(msg["handle"], fds[0])
    with handle:
        tex = dev.import_texture(handle)
    _send(sock, {"imported": True, "device": dev.name})
    while True:
        msg, fds = _recv(sock, 30)
        for fd in fds:
            os.close(fd)
        if msg.get("done"):
            break
        frame = msg["frame"]
        got = tex.download()
        want = pattern(tex.width, tex.height, frame)
        _send(sock, {"frame": frame, "ok": bool(np.array_equal(got, want)),
                     "sha256": hashlib.sha256(got.tobytes()).hexdigest()})
    tex.close()
    return 0


def run(args) -> int:
    if args.consumer_fd is not None:
        return _consumer(args.consumer_fd, args.device)

    import geyser

    dev = geyser.Device(args.device)
    desc = geyser.TextureDescriptor(args.width, args.height, geyser.TextureFormat.RGBA8_UNORM, label="demo")
    tex = dev.create_shareable_texture(desc)
    print(f"producer: {dev.name} ({dev.info.driver_name}, device UUID {dev.info.device_uuid})")
    print(f"producer: created {args.width}x{args.height} RGBA8_UNORM texture, "
          f"{tex.allocation_size} bytes of exportable memory (type {tex.memory_type_index}, "
          f"{'dedicated' if tex.dedicated else 'not dedicated'})")

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cmd = [sys.executable, "-m", "geyser", "demo", "--consumer-fd", str(child.fileno())]
    if args.device is not None:
        cmd += ["--device", str(args.device)]
    proc = subprocess.Popen(cmd, pass_fds=[child.fileno()])
    child.close()
    failures = 0
    try:
        with dev.export_texture(tex) as handle:
            _send(parent, {"handle": handle.to_dict()}, [handle.fd])
            print(f"producer: exported opaque fd {handle.fd} ({handle.size} bytes) and sent it over a Unix socket")
        msg, _ = _recv(parent, 60)
        print(f"consumer (pid {proc.pid}): imported the texture on {msg['device']}")
        for frame in range(args.frames):
            want = pattern(args.width, args.height, frame)
            t0 = time.perf_counter()
            tex.upload(want)
            _send(parent, {"frame": frame})
            reply, _ = _recv(parent, 60)
            dt = (time.perf_counter() - t0) * 1e3
            expected = hashlib.sha256(want.tobytes()).hexdigest()
            ok = reply["ok"] and reply["sha256"] == expected
            failures += not ok
            print(f"frame {frame}: producer wrote, consumer read {args.width * args.height * 4} bytes through "
                  f"shared memory: {'MATCH' if ok else 'MISMATCH'} sha256 {reply['sha256'][:16]}  ({dt:.1f} ms)")
        _send(parent, {"done": True})
    finally:
        parent.close()
        rc = proc.wait(timeout=60)
    if rc != 0:
        print(f"consumer exited with status {rc}")
        return 1
    print(f"{args.frames - failures}/{args.frames} frames verified byte-identical across processes")
    return 0 if failures == 0 else 1
