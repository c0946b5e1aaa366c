"""Shared timelines across real processes, and the GPU copies they order.

On lavapipe (CI) ``create_shared_timeline()`` gives the portable timeline; on drivers that can
export timeline semaphores it gives a Vulkan one, so the same tests cover both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import geyser


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _spawn(code: str, req: dict, fds: list[int]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), json.dumps(req)], pass_fds=fds,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{out}\n{err}"
    return out


@pytest.fixture(params=["auto", "portable"])
def kind(request, device):
    return request.param


# -- one process -------------------------------------------------------------------------------

def test_portable_timeline_host_use(device):
    t = device.create_shared_timeline("portable", initial_value=4)
    assert t.kind == "portable" and t.value == 4
    t.signal(4)  # equal: no-op
    t.signal(9)
    t.wait(9, timeout=0)
    with pytest.raises(geyser.InvalidArgumentError, match="must not decrease"):
        t.signal(8)
    with pytest.raises(geyser.InvalidArgumentError):
        t.wait(10, timeout=-1)
    start = time.monotonic()
    with pytest.raises(geyser.TimeoutError, match="value 10"):
        t.wait(10, timeout=0.25)
    assert 0.25 <= time.monotonic() - start < 1.0


def test_auto_kind_follows_the_device(device):
    t = device.create_shared_timeline()
    expected = "vulkan" if "opaque_fd" in device.info.timeline_semaphore_export else "portable"
    assert t.kind == expected


def test_timeline_kind_checked(device):
    with pytest.raises(geyser.InvalidArgumentError):
        device.create_shared_timeline("bogus")
    if "opaque_fd" not in device.info.timeline_semaphore_export:
        with pytest.raises(geyser.UnsupportedOperationError, match="cannot export timeline"):
            device.create_shared_timeline("vulkan")


def test_abandoned_timeline_wakes_waiters_with_peer_gone(device):
    t = device.create_shared_timeline("portable")
    with device.export_timeline(t) as h:
        other = device.import_timeline(h)
    t.mark_abandoned()
    start = time.monotonic()
    with pytest.raises(geyser.PeerGoneError):
        other.wait(1, timeout=5)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("maker", ["pipe", "dev-null", "plain-memfd"])
def test_bad_portable_timeline_fds(device, maker):
    if maker == "pipe":
        fd, other = os.pipe()
        os.close(other)
    elif maker == "dev-null":
        fd = os.open("/dev/null", os.O_RDWR)
    else:
        fd = os.memfd_create("not-a-timeline")
        os.ftruncate(fd, 4096)
    before = _fd_count()
    with geyser.TimelineHandle("portable", fd=fd) as h:
        with pytest.raises(geyser.InvalidHandleError):
            device.import_timeline(h)
        assert _fd_count() == before
        os.fstat(h.fd)  # the caller's fd survived the failed import


def test_unknown_timeline_kind_refused():
    fd = os.memfd_create("x")
    # The core's decoder refuses the bytes: the wire format knows kinds 1 (portable) and 2 (vulkan).
    with pytest.raises(geyser.ProtocolError, match="unknown timeline kind 7"):
        geyser.TimelineHandle.from_bytes(bytes([7]), fd)
    with pytest.raises(OSError):
        os.fstat(fd)  # from_bytes took ownership and closed it


def test_timeline_cycles_leak_nothing(device, kind):
    for _ in range(20):  # let a driver open whatever it opens once
        with device.export_timeline(device.create_shared_timeline(kind)) as h:
            device.import_timeline(h)
    before = _fd_count()
    for _ in range(1000):
        t = device.create_shared_timeline(kind)
        with device.export_timeline(t) as h:
            u = device.import_timeline(h)
        t.close()
        u.close()
    assert _fd_count() == before


def test_gpu_copies_ordered_by_timeline(device, kind):
    t = device.create_shared_timeline(kind)
    desc = geyser.TextureDescriptor(19, 7)
    a = device.create_shareable_texture(desc)
    b = device.create_shareable_texture(desc)
    data = np.random.default_rng(3).integers(0, 256, (7, 19, 4), np.uint8)
    a.upload(data, signal=[(t, 1)])
    device.copy_texture(a, b, wait=[(t, 1)], signal=[(t, 2)])
    assert t.value == 2
    assert np.array_equal(b.download(wait=[(t, 2)]), data)
    buf = device.create_shareable_buffer(data.nbytes + 64)
    buf.write(data.tobytes(), offset=64)
    c = device.create_shareable_texture(desc)
    device.copy_buffer_to_texture(buf, c, offset=64, signal=[(t, 3)])
    assert t.value == 3 and np.array_equal(c.download(), data)


def test_copy_errors(device):
    a = device.create_shareable_texture(geyser.TextureDescriptor(8, 8))
    b = device.create_shareable_texture(geyser.TextureDescriptor(8, 9))
    with pytest.raises(geyser.InvalidArgumentError, match="same format and extent"):
        device.copy_texture(a, b)
    with pytest.raises(geyser.InvalidArgumentError, match="onto itself"):
        device.copy_texture(a, a)
    small = device.create_shareable_buffer(100)
    with pytest.raises(geyser.InvalidArgumentError, match="outside"):
        device.copy_buffer_to_texture(small, a)
    big = device.create_shareable_buffer(4096)
    with pytest.raises(geyser.InvalidArgumentError, match="multiple of 4"):
        device.copy_buffer_to_texture(big, a, offset=2)
    no_dst = device.create_shareable_texture(geyser.TextureDescriptor(8, 8, usage=geyser.TextureUsage.COPY_SRC))
    with pytest.raises(geyser.UnsupportedOperationError, match="COPY_DST"):
        device.copy_texture(a, no_dst)
    with pytest.raises(geyser.InvalidArgumentError, match="pairs"):
        a.upload(np.zeros((8, 8, 4), np.uint8), wait=[object()])


def test_wait_for_texture_needs_a_timeline(device):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    with pytest.raises(geyser.UnsupportedOperationError, match="no timeline"):
        device.wait_for_texture(tex, 1, timeout=0)


# -- across processes --------------------------------------------------------------------------

_PINGPONG = """
import json, sys, geyser
req = json.loads(sys.argv[1])
dev = geyser.Device(req["uuid"])
h = geyser.TimelineHandle.from_bytes(bytes.fromhex(req["timeline"]), req["fd"])
t = dev.import_timeline(h)
h.close()
for i in range(req["rounds"]):
    t.wait(2 * i + 1, timeout=10)
    v = t.value
    if v != 2 * i + 1:
        sys.exit(f"woke at {v}, expected exactly {2 * i + 1}")
    t.signal(2 * i + 2)
print("ok", t.value)
"""


def test_thousand_round_trips_across_processes(device, kind):
    t = device.create_shared_timeline(kind)
    rounds = 1000
    with device.export_timeline(t) as h:
        proc = _spawn(_PINGPONG, {"uuid": device.info.device_uuid, "timeline": h.to_bytes().hex(), "fd": h.fd,
                                  "rounds": rounds}, [h.fd])
    for i in range(rounds):
        t.signal(2 * i + 1)
        t.wait(2 * i + 2, timeout=10)
        assert t.value == 2 * i + 2, "a wake-up came before the peer signalled"
    assert _finish(proc).split() == ["ok", str(2 * rounds)]


_SLEEPER = """
import json, sys, time, geyser
req = json.loads(sys.argv[1])
dev = geyser.Device(req["uuid"])
t = dev.import_timeline(geyser.TimelineHandle.from_bytes(bytes.fromhex(req["timeline"]), req["fd"]))
print("ready", flush=True)
time.sleep(60)
"""


def test_waiter_returns_when_peer_is_killed(device, kind):
    t = device.create_shared_timeline(kind)
    with device.export_timeline(t) as h:
        proc = _spawn(_SLEEPER, {"uuid": device.info.device_uuid, "timeline": h.to_bytes().hex(), "fd": h.fd},
                      [h.fd])
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    start = time.monotonic()
    with pytest.raises(geyser.TimeoutError):
        t.wait(1, timeout=0.5)
    assert 0.5 <= time.monotonic() - start < 1.5
    t.signal(1)  # the timeline is still usable
    assert t.value == 1


_CONSUMER = """
import json, socket, sys, numpy as np, geyser
req = json.loads(sys.argv[1])
dev = geyser.Device(req["uuid"])
fds = req["fds"]
tex = dev.import_texture(geyser.TextureHandle.from_bytes(bytes.fromhex(req["texture"]), fds[0]),
                         timeline=geyser.TimelineHandle.from_bytes(bytes.fromhex(req["ready"]), fds[1]))
released = dev.import_timeline(geyser.TimelineHandle.from_bytes(bytes.fromhex(req["released"]), fds[2]))
h, w = req["shape"]
for frame in range(1, req["frames"] + 1):
    dev.wait_for_texture(tex, frame, timeout=10)
    got = tex.download()
    want = (np.arange(h * w * 4, dtype=np.uint32).reshape(h, w, 4) * 7 + frame).astype(np.uint8)
    if not np.array_equal(got, want):
        sys.exit(f"frame {frame}: wrong bytes")
    released.signal(frame)
print("verified", req["frames"])
"""


def test_gpu_ordered_frames_across_processes(device, kind):
    """Producer uploads frame N and signals it; the consumer process waits, reads and releases.

    No host sleeps: every hand-off is a timeline wait, so a missing or early signal shows as
    wrong bytes or a timeout.
    """
    h, w, frames = 9, 23, 30
    tex = device.create_shareable_texture(geyser.TextureDescriptor(w, h))
    ready = device.create_shared_timeline(kind)
    released = device.create_shared_timeline(kind)
    tex.timeline = ready
    with device.export_texture(tex) as th, device.export_timeline(ready) as rh, \
            device.export_timeline(released) as lh:
        req = {"uuid": device.info.device_uuid, "texture": th.to_bytes().hex(), "ready": rh.to_bytes().hex(),
               "released": lh.to_bytes().hex(), "fds": [th.fd, rh.fd, lh.fd], "shape": [h, w], "frames": frames}
        proc = _spawn(_CONSUMER, req, [th.fd, rh.fd, lh.fd])
    for frame in range(1, frames + 1):
        if frame > 1:
            released.wait(frame - 1, timeout=10)  # never overwrite a frame still being read
        data = (np.arange(h * w * 4, dtype=np.uint32).reshape(h, w, 4) * 7 + frame).astype(np.uint8)
        tex.upload(data, signal=[(ready, frame)])
    released.wait(frames, timeout=10)
    assert _finish(proc).split() == ["verified", str(frames)]
