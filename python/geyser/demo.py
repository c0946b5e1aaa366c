"""``python -m geyser demo``: a producer and a consumer process share a ring of textures.

The producer publishes a named sender (a ring of shareable textures) and writes a distinct moving
pattern into each frame; the consumer, a separate process, subscribes by name, imports the ring
once, and checks every frame's bytes against the pattern it expects. Both report to this
process, which shows progress and ends with frames verified / frames sent, frames per second and
the per-frame handoff latency (producer's announce to the consumer holding the ready frame),
saves the last frame the consumer received as a PNG, and exits non-zero if any frame was wrong
or missing.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

import geyser
from . import demo_gl
from .formats import format_info


def pattern(fmt, width: int, height: int, frame: int) -> np.ndarray:
    """A deterministic pattern for ``frame`` in ``fmt``'s host layout; it moves every frame."""
    info = format_info(fmt)
    y, x = np.mgrid[0:height, 0:width].astype(np.uint32)
    planes = [(x + 3 * frame), (y + 5 * frame), ((x ^ y) + 7 * frame), (x * 2 + y + 11 * frame)]
    chans = [p[..., None] for p in planes[: info.channels]]
    raw = np.concatenate(chans, axis=-1) if info.channels > 1 else planes[0]
    if info.dtype.kind == "f":
        # Exactly representable values (multiples of 1/256 below 256) survive any float format.
        out = ((raw % 4096).astype(np.float32) / 256.0).astype(info.dtype)
    elif info.packed:
        out = (raw * 2654435761 & 0x3FFFFFFF).astype(info.dtype)  # RG11B10/RGB10A2: no NaN/Inf bit patterns
    else:
        out = (raw.astype(np.int64) % (int(np.iinfo(info.dtype).max) + 1)).astype(info.dtype)
    return np.ascontiguousarray(out)


def write_png(path: str, rgba: np.ndarray) -> None:
    """A minimal PNG writer (8-bit RGBA or grey) using only zlib."""
    if rgba.dtype != np.uint8:
        raise ValueError("PNG output needs 8-bit channels")
    if rgba.ndim == 2:
        color, img = 0, rgba
    else:
        color = {1: 0, 2: 4, 3: 2, 4: 6}[rgba.shape[2]]
        img = rgba
    h, w = img.shape[:2]
    rows = img.reshape(h, -1)
    raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="two-process zero-copy sharing through a named sender, every frame verified")
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--format", default="RGBA8_UNORM", help="a color TextureFormat name")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--ring", type=int, default=3, help="textures in the ring")
    p.add_argument("--device", default=None, help="device index, UUID or name substring")
    p.add_argument("--png", default="geyser-demo-last-frame.png", help="where the consumer saves the last frame")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds any single wait may take")
    p.add_argument("--producer", choices=["vulkan", "gl"], default="vulkan",
                   help="how the producer writes frames: Vulkan uploads, or an OpenGL shader (demo_gl.py)")
    p.add_argument("--role", choices=["producer", "consumer"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--name", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def wait_for_consumer(sender, timeout: float) -> bool:
    """Waits for the first subscriber; False (and the error event printed) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while sender.subscribers == 0:
        if time.monotonic() > deadline:
            print(json.dumps({"event": "error", "message": "no consumer subscribed"}), flush=True)
            return False
        time.sleep(0.01)
    return True


def _producer(args) -> int:
    dev = geyser.Device(args.device)
    desc = geyser.TextureDescriptor(args.width, args.height, geyser.format_info(args.format).format)
    if args.producer == "gl":
        return demo_gl.produce(args, dev, desc, wait_for_consumer)
    with geyser.Sender(dev, args.name, desc, ring_size=args.ring, release_timeout=args.timeout) as sender:
        print(json.dumps({"event": "ready", "device": dev.name, "sync": sender.ready.kind,
                          "allocation": sender.ring[0].allocation_size}), flush=True)
        if not wait_for_consumer(sender, args.timeout):
            return 1
        for n in range(1, args.frames + 1):
            frame = sender.begin_frame()
            frame.texture.upload(pattern(desc.format, args.width, args.height, n), signal=[(sender.ready, n)])
            sender.end_frame(frame)
            print(json.dumps({"event": "published", "frame": n, "t": time.monotonic_ns()}), flush=True)
        sys.stdin.readline()  # stay up until the demo says the consumer is done
    return 0


def _consumer(args) -> int:
    dev = geyser.Device(args.device)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            sub = geyser.Subscriber(dev, args.name, timeout=1.0, client="geyser demo consumer")
            break
        except geyser.PeerGoneError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    fmt = sub.info.descriptor.format
    print(json.dumps({"event": "subscribed", "ring": len(sub.ring), "sync": sub.info.sync_kind}), flush=True)
    last = None
    for expected in range(1, args.frames + 1):
        t_wait = time.monotonic_ns()
        with sub.next_frame(timeout=args.timeout) as frame:
            t = time.monotonic_ns()
            got = frame.texture.download()
            ok = frame.number == expected and np.array_equal(
                got, pattern(fmt, sub.info.width, sub.info.height, frame.number))
            print(json.dumps({"event": "frame", "frame": frame.number, "ok": bool(ok), "t": t, "t_wait": t_wait}),
                  flush=True)
            last = got
    if last is not None and last.dtype == np.uint8:
        write_png(args.png, last)
        print(json.dumps({"event": "png", "path": os.path.abspath(args.png)}), flush=True)
    return 0


def _percentile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run(args) -> int:
    if args.role == "producer":
        return _producer(args)
    if args.role == "consumer":
        return _consumer(args)

    info = geyser.format_info(args.format)
    if info.is_depth:
        print(f"demo: {info.format.name} is a depth format; pick a color format", file=sys.stderr)
        return 2
    name = f"geyser-demo-{os.getpid()}"
    common = ["--width", str(args.width), "--height", str(args.height), "--format", info.format.name,
              "--frames", str(args.frames), "--ring", str(args.ring), "--name", name, "--png", args.png,
              "--timeout", str(args.timeout), "--producer", args.producer]
    if args.device is not None:
        common += ["--device", str(args.device)]
    cmd = [sys.executable, "-m", "geyser", "demo"]
    producer = subprocess.Popen(cmd + ["--role", "producer"] + common, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    first = json.loads(producer.stdout.readline() or '{"event": "error", "message": "producer died"}')
    if first.get("event") != "ready":
        print(f"demo: producer failed: {first}", file=sys.stderr)
        producer.kill()
        producer.wait()
        return 1
    print(f"producer (pid {producer.pid}): {first['device']}, published '{name}': a ring of {args.ring} "
          f"{args.width}x{args.height} {info.format.name} textures ({first['allocation']} bytes each), "
          f"{first['sync']} timelines")
    consumer = subprocess.Popen(cmd + ["--role", "consumer"] + common, stdout=subprocess.PIPE, text=True)
    published, received, waited, bad = {}, {}, {}, []
    tty = sys.stdout.isatty()
    png = None
    t_start = time.monotonic()
    for line in consumer.stdout:
        ev = json.loads(line)
        if ev["event"] == "subscribed":
            print(f"consumer (pid {consumer.pid}): subscribed, imported {ev['ring']} textures once; "
                  "from now on only frame numbers travel")
        elif ev["event"] == "frame":
            received[ev["frame"]] = ev["t"]
            waited[ev["frame"]] = ev["t_wait"]
            if not ev["ok"]:
                bad.append(ev["frame"])
            done = len(received)
            step = max(1, args.frames // (50 if tty else 10))
            if done == args.frames or done % step == 0:
                bar = "#" * (40 * done // args.frames)
                sys.stdout.write(f"{chr(13) if tty else ''}[{bar:<40}] {done}/{args.frames} frames verified"
                                 f"{'' if tty else chr(10)}")
                sys.stdout.flush()
        elif ev["event"] == "png":
            png = ev["path"]
    elapsed = time.monotonic() - t_start
    crc = consumer.wait()
    producer.stdin.write("done\n")
    producer.stdin.flush()
    for line in producer.stdout:
        ev = json.loads(line)
        if ev["event"] == "published":
            published[ev["frame"]] = ev["t"]
    prc = producer.wait()
    if tty:
        print()
    # Handoff: from the moment both sides were ready (the producer announced the frame and the
    # consumer was waiting for it) until the consumer held the ready frame. Time a frame spent
    # queued behind the consumer's own read-back and check is not handoff.
    lat = [(received[n] - max(published[n], waited[n])) / 1e6 for n in received if n in published]
    ok = len(received) - len(bad)
    fps = len(received) / elapsed if elapsed > 0 else float("nan")
    print(f"{ok}/{args.frames} frames verified (sent {len(published)}), {fps:.1f} fps including the consumer's "
          "read-back and check")
    if lat:
        print(f"per-frame handoff latency (announced and awaited -> consumer holds the ready frame): "
              f"p50 {_percentile(lat, 0.5):.3f} ms, p99 {_percentile(lat, 0.99):.3f} ms")
    if png:
        print(f"last frame saved to {png}")
    if bad:
        print(f"wrong frames: {bad[:10]}{' ...' if len(bad) > 10 else ''}")
    return 0 if (crc == 0 and prc == 0 and not bad and len(received) == args.frames) else 1
