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


def write_png(path: str, image: np.ndarray) -> None:
    """Writes an 8- or 16-bit grey, RGB or RGBA image (``uint8`` or ``uint16``, (h, w) or
    (h, w, 1|3|4)) as a PNG, with only zlib."""
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG takes uint8 or uint16 samples, got {image.dtype} (convert with png_image)")
    channels = 1 if image.ndim == 2 else image.shape[2]
    color = {1: 0, 3: 2, 4: 6}.get(channels)
    if color is None:
        raise ValueError(f"PNG takes 1, 3 or 4 channels, got {channels}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image.astype(image.dtype.newbyteorder(">"))).reshape(h, -1)
    raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, image.dtype.itemsize * 8, color, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def _unsigned_float(bits: np.ndarray, mantissa_bits: int) -> np.ndarray:
    """Vulkan's 11- and 10-bit unsigned floats (5 exponent bits, no sign) as float32."""
    e = ((bits >> mantissa_bits) & 0x1F).astype(np.int32)
    m = (bits & ((1 << mantissa_bits) - 1)).astype(np.float32) / (1 << mantissa_bits)
    normal = np.ldexp(1.0 + m, e - 15)
    subnormal = np.ldexp(m, -14)
    return np.where(e == 0, subnormal, np.where(e == 31, np.inf, normal)).astype(np.float32)


def _stretched(values: np.ndarray) -> np.ndarray:
    """``values`` stretched from their finite [min, max] onto 16 bits."""
    v = values.astype(np.float64)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    v = np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo)
    return np.round(np.clip((v - lo) / span, 0, 1) * 65535).astype(np.uint16)


def png_image(fmt, array: np.ndarray) -> tuple[np.ndarray, str]:
    """A host array of ``fmt`` (as ``Texture.download()`` returns it) as an image ``write_png``
    takes, and a note saying how it was converted ("" where the samples are written as they are).

    8-bit unsigned formats are written as they are and 16-bit unsigned ones as 16-bit PNG (BGRA
    reordered to RGBA; RG gets a zero blue channel); RGB10A2 is widened to 16 bits; float,
    signed, 32-bit integer, RG11B10 and depth values are stretched from the frame's own
    [min, max] onto 16 bits, and the note says so.
    """
    info = format_info(fmt)
    notes = []
    if info.format == geyser.TextureFormat.RGB10A2_UNORM:
        v = array.astype(np.uint32)
        rgb = [((v >> s) & 0x3FF) * 65535 // 1023 for s in (0, 10, 20)]
        out = np.stack(rgb + [(v >> 30) * 65535 // 3], axis=-1).astype(np.uint16)
        notes.append("10-bit channels widened to 16 bits")
    elif info.format == geyser.TextureFormat.RG11B10_FLOAT:
        v = array.astype(np.uint32)
        rgb = np.stack([_unsigned_float(v & 0x7FF, 6), _unsigned_float((v >> 11) & 0x7FF, 6),
                        _unsigned_float(v >> 22, 5)], axis=-1)
        out = _stretched(rgb)
        notes.append("RG11B10 floats stretched from the frame's [min, max] to 16 bits")
    elif info.dtype in (np.uint8, np.uint16) and not info.is_depth:
        out = array
    else:
        data = array & geyser.formats.D24_MASK if info.is_depth and info.dtype == np.uint32 else array
        out = _stretched(data)
        notes.append(f"{info.dtype} values stretched from the frame's [min, max] to 16 bits")
    if out.ndim == 3 and out.shape[2] == 2:
        out = np.concatenate([out, np.zeros_like(out[..., :1])], axis=-1)
        notes.append("RG written as RGB with blue 0")
    if info.format.name.startswith("BGRA"):
        out = out[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(out), "; ".join(notes)


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
    if last is not None and args.png:
        image, note = png_image(fmt, last)
        write_png(args.png, image)
        print(json.dumps({"event": "png", "path": os.path.abspath(args.png), "note": note}), flush=True)
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
        raise geyser.UnsupportedFormatError(f"{info.format.name} is a depth format; the demo shares color formats")
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
        producer.kill()
        producer.wait()
        raise RuntimeError(f"the producer process failed before publishing: {first.get('message', first)}")
    print(f"producer (pid {producer.pid}): {first['device']}, published '{name}': a ring of {args.ring} "
          f"{args.width}x{args.height} {info.format.name} textures ({first['allocation']} bytes each), "
          f"{first['sync']} timelines")
    consumer = subprocess.Popen(cmd + ["--role", "consumer"] + common, stdout=subprocess.PIPE, text=True)
    published, received, waited, bad = {}, {}, {}, []
    png = None
    t_start = time.monotonic()
    # Progress on stderr where it is a terminal (tqdm switches itself off otherwise). Imported
    # here: the producer and consumer processes, and callers of pattern(), do not need it.
    from tqdm import tqdm

    with tqdm(total=args.frames, unit="frame", desc="verified", disable=None, leave=False) as bar:
        for line in consumer.stdout:
            ev = json.loads(line)
            if ev["event"] == "subscribed":
                bar.write(f"consumer (pid {consumer.pid}): subscribed, imported {ev['ring']} textures once; "
                          "from now on only frame numbers travel", file=sys.stdout)
            elif ev["event"] == "frame":
                received[ev["frame"]] = ev["t"]
                waited[ev["frame"]] = ev["t_wait"]
                if not ev["ok"]:
                    bad.append(ev["frame"])
                bar.update(1)
            elif ev["event"] == "png":
                png = ev["path"] + (f" ({ev['note']})" if ev["note"] else "")
    elapsed = time.monotonic() - t_start
    crc = consumer.wait()
    producer.stdin.write("done\n")
    producer.stdin.flush()
    for line in producer.stdout:
        ev = json.loads(line)
        if ev["event"] == "published":
            published[ev["frame"]] = ev["t"]
    prc = producer.wait()
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
    failures = [f"the consumer process exited with status {crc}"] if crc else []
    failures += [f"the producer process exited with status {prc}"] if prc else []
    failures += [f"{len(bad)} frames had wrong bytes"] if bad else []
    if len(received) != args.frames:
        failures.append(f"{args.frames - len(received)} frames never arrived")
    if failures:
        raise RuntimeError("; ".join(failures))
    return 0
