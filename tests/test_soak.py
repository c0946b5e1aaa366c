"""Soak: 10,000 export -> send over a Unix socket -> import -> read -> close cycles per primitive,
between two real processes, with fd counts checked in both at the end (zero growth); and a named
stream of thousands of frames in each delivery mode to a consumer process, checked the same way."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import geyser
from geyser import _native

CYCLES = int(os.environ.get("GEYSER_SOAK_CYCLES", "10000"))
WARMUP = 200  # cycles before the child's first fd count: driver pools settle

def _count() -> int:
    return len(os.listdir("/proc/self/fd"))


PEER = textwrap.dedent(
    """
    import os, struct, sys, numpy as np, geyser
    from geyser import _native
    kind, cycles, warmup, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    dev = geyser.Device()
    ch = geyser.Channel.connect(path, timeout=10)
    counts = {}
    for i in range(cycles):
        with geyser.receive_handle(ch, timeout=10) as h:
            if kind in ("texture", "buffer"):
                obj = dev.import_texture(h) if kind == "texture" else dev.import_buffer(h)
            else:
                assert isinstance(h, geyser.TimelineHandle) and h.kind == kind, h
                obj = dev.import_timeline(h)
        if kind == "texture":
            value = int(obj.download()[0, 0, 0])
        else:
            value = obj.read(1)[0] if kind == "buffer" else obj.value % 256
        obj.close()
        if i + 1 in (warmup, cycles):
            counts[i + 1] = len(os.listdir("/proc/self/fd"))
        ch.send(_native.MESSAGE_FRAME, struct.pack("<QI", i + 1, value), [], timeout=10)
    print(counts[warmup], counts[cycles], flush=True)
    """
)


@pytest.mark.parametrize("kind", ["texture", "buffer", "portable", "vulkan"])
def test_soak_export_send_import_read_close(device, kind):
    if kind == "vulkan" and "opaque_fd" not in device.info.timeline_semaphore_export:
        pytest.skip(f"{device.name} cannot export timeline semaphores")
    path = os.path.join(geyser.runtime_dir(), f"soak-{os.getpid()}-{kind}.sock")
    listener = geyser.Listener.bind(path)
    proc = subprocess.Popen([sys.executable, "-c", PEER, kind, str(CYCLES), str(WARMUP), path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ch = listener.accept(timeout=30)
        if kind == "texture":
            obj = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
        elif kind == "buffer":
            obj = device.create_shareable_buffer(64)
        else:
            obj = device.create_shared_timeline(kind)
        before = None
        for i in range(CYCLES):
            v = i % 256
            if kind == "texture":
                obj.upload(np.full((4, 4, 4), v, np.uint8))
                with device.export_texture(obj) as h:
                    geyser.send_handle(ch, h)
            elif kind == "buffer":
                obj.write(bytes([v]) * 64)
                with device.export_buffer(obj) as h:
                    geyser.send_handle(ch, h)
            else:
                obj.signal(i)
                with device.export_timeline(obj) as h:
                    geyser.send_handle(ch, h)
            t, payload, fds = ch.receive(timeout=30)
            assert not fds
            n, value = struct.unpack("<QI", payload)
            assert (n, value) == (i + 1, v), f"cycle {i}: the peer read {value}, expected {v}"
            if i + 1 == WARMUP:
                before = _count()
        assert _count() == before, "the parent's fd count grew"
        ch.close()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        warm, last = (int(x) for x in out.split())
        assert warm == last, f"the peer's fd count grew from {warm} to {last} over {CYCLES - WARMUP} cycles"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        del listener


STREAM_FRAMES = int(os.environ.get("GEYSER_SOAK_STREAM_FRAMES", "2000"))


@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_soak_stream_in_both_modes(device, mode):
    import gc
    import json
    import time

    from geyser.demo import pattern

    desc = geyser.TextureDescriptor(16, 8)
    name = f"soak-{mode}-{os.getpid()}"
    peer = os.path.join(os.path.dirname(__file__), "_stream_peer.py")
    gc.collect()
    before = _count()
    with geyser.Sender(device, name, desc, ring_size=4, mode=mode) as sender:
        proc = subprocess.Popen([sys.executable, peer, "consume", name, str(STREAM_FRAMES), "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "GEYSER_PEER_FDS": "1"})
        proc.stdout.readline()
        sender.wait_for_subscribers(1, timeout=30)
        n = 0
        while proc.poll() is None:
            n += 1
            sender.publish(pattern(desc.format, desc.width, desc.height, n), timeout=30)
            assert n < 50 * STREAM_FRAMES, "the consumer never finished"
            if mode == "latest":
                time.sleep(0.0002)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        answer = json.loads(out.strip().splitlines()[-1])
        assert sender.stats.subscribers_dropped == 0
    sender = None
    gc.collect()
    assert answer["error"] is None and answer["bad"] == 0, answer
    assert len(answer["numbers"]) == STREAM_FRAMES
    if mode == "lossless":
        assert answer["numbers"] == list(range(1, STREAM_FRAMES + 1))
    assert answer["fds"][0] == answer["fds"][1], f"the consumer's fds grew: {answer['fds']}"
    assert _count() == before, "the producer's fds grew"
