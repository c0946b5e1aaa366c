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
import threading
import time

import numpy as np
import pytest

import _handle_wire
import geyser
from _forked import refusals, run_forked


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


def _need_timeline_semaphores(device):
    if not device.info.timeline_semaphores:
        pytest.skip(f"{device.name} has no timeline semaphores")


def test_local_vulkan_timeline(device):
    _need_timeline_semaphores(device)
    t = device.create_timeline("vulkan", initial_value=4)
    assert t.kind == "vulkan" and t.value == 4 and not t.imported
    t.signal(4)  # equal: a no-op, as for a portable timeline
    t.signal(9)
    t.wait(9, timeout=0)
    with pytest.raises(geyser.InvalidArgumentError, match="must not decrease: current 9, asked 8"):
        t.signal(8)
    with pytest.raises(geyser.TimeoutError, match="value 10"):
        t.wait(10, timeout=0.05)
    t.mark_abandoned()  # nothing to abandon
    assert not t.abandoned
    with pytest.raises(geyser.UnsupportedOperationError, match="local"):
        device.export_timeline(t)
    assert device.create_timeline().kind == "vulkan"
    assert device.create_timeline("portable").kind == "portable"


def test_export_timeline(device, fd_count):
    t = device.create_shared_timeline("portable", initial_value=2)
    with pytest.raises(TypeError):
        device.export_timeline(object())
    before = fd_count()
    with device.export_timeline(t) as a, device.export_timeline(t) as b:
        assert a.kind == b.kind == "portable" and a.fd != b.fd and a.semaphore_handle is None
        with a.duplicate() as c, geyser.TimelineHandle.from_bytes(a.to_bytes(), os.dup(a.fd)) as d:
            assert device.import_timeline(c).value == device.import_timeline(d).value == 2
    assert fd_count() == before


def test_vulkan_handle_must_describe_a_timeline_semaphore(device, fd_count):
    """A Vulkan timeline handle whose semaphore is a binary one is refused where it is decoded,
    and its fd is closed (the import's own check, for a TimelineHandle built in C++, is
    tests/cpp/test_timeline.cpp's)."""
    fd = os.memfd_create("not-a-semaphore")
    binary = _handle_wire.sync_handle(semaphore_type=_handle_wire.BINARY,
                                      device_uuid=bytes.fromhex(device.info.device_uuid),
                                      driver_uuid=bytes.fromhex(device.info.driver_uuid))
    before = fd_count()
    with pytest.raises(geyser.ProtocolError, match="binary semaphore, not a timeline semaphore"):
        geyser.TimelineHandle.from_bytes(_handle_wire.timeline_handle(_handle_wire.VULKAN, binary), fd)
    assert fd_count() == before - 1  # the refused handle's memfd is closed


def _copies_ordered_by(device, t):
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


def test_gpu_copies_ordered_by_timeline(device, kind):
    _copies_ordered_by(device, device.create_shared_timeline(kind))


def test_gpu_copies_ordered_by_a_local_vulkan_timeline(device):
    _need_timeline_semaphores(device)
    _copies_ordered_by(device, device.create_timeline("vulkan"))


def test_a_waiting_copy_holds_no_lock_and_is_bounded(device):
    t = device.create_shared_timeline("portable")
    tex = device.create_shareable_texture(geyser.TextureDescriptor(8, 8))
    first, second = np.full((8, 8, 4), 1, np.uint8), np.full((8, 8, 4), 2, np.uint8)
    tex.upload(first)
    errors = []

    def upload():
        try:
            tex.upload(second, wait=[(t, 1)], signal=[(t, 2)])
        except geyser.GeyserError as e:  # reported below
            errors.append(e)

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.1)
    # The upload waits on the host for 1 without holding the texture, and has not run.
    assert np.array_equal(tex.download(), first) and t.value == 0
    t.signal(1)
    uploader.join(10)
    assert not errors and t.value == 2
    assert np.array_equal(tex.download(), second)
    start = time.monotonic()
    with pytest.raises(geyser.TimeoutError):
        tex.upload(first, wait=[(t, 9)], signal=[(t, 10)], timeout=0.15)
    assert 0.15 <= time.monotonic() - start < 2.0
    assert t.value == 2 and np.array_equal(tex.download(), second)


def test_a_copy_that_would_lower_a_timeline_is_refused(device):
    timelines = [device.create_shared_timeline("portable", initial_value=3)]
    if device.info.timeline_semaphores:
        timelines.append(device.create_timeline("vulkan", initial_value=3))
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    tex.upload(np.full((4, 4, 4), 5, np.uint8))
    for t in timelines:
        with pytest.raises(geyser.InvalidArgumentError, match="must not decrease"):
            tex.upload(np.zeros((4, 4, 4), np.uint8), signal=[(t, 2)])
        assert t.value == 3 and (tex.download() == 5).all(), t.kind
        tex.upload(np.full((4, 4, 4), 5, np.uint8), signal=[(t, 3)])  # equal: nothing to signal
        assert t.value == 3


def test_native_timelines_and_semaphores_go_straight_to_the_core(device):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    data = np.random.default_rng(5).integers(0, 256, (4, 4, 4), np.uint8)
    t = device.create_shared_timeline("portable")
    pairs = [(t.native, 1)]
    if device.info.timeline_semaphores:
        s = device.create_semaphore("timeline")
        pairs.append((s.native, 1))
    tex.native.upload(1, data, signal=pairs)
    out = np.empty_like(data)
    tex.native.download_into(1, out, wait=pairs, timeout_ns=10**9)
    assert np.array_equal(out, data) and t.value == 1
    fence = device.create_fence()
    with pytest.raises(TypeError):
        tex.native.upload(1, data, wait=[(fence.native, 0)])
    with pytest.raises(geyser.InvalidArgumentError, match="Timeline or Semaphore"):
        tex.upload(data, wait=[(fence, 0)])


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


def test_signal_texture_ready_creates_one_timeline(device):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    assert tex.timeline is None
    device.signal_texture_ready(tex, 1)
    t = tex.timeline
    assert t is tex.timeline, "the texture's timeline stays one object"
    assert t.kind == device.create_shared_timeline().kind and t.value == 1
    device.wait_for_texture(tex, 1, timeout=0)
    with pytest.raises(geyser.TimeoutError):
        device.wait_for_texture(tex, 2, timeout=0.05)
    with pytest.raises(geyser.InvalidArgumentError, match="must not decrease"):
        device.signal_texture_ready(tex, 0)
    device.signal_texture_ready(tex, 2)
    assert tex.timeline is t and t.value == 2
    mine = device.create_shared_timeline("portable")
    tex.timeline = mine
    assert tex.timeline is mine
    device.signal_texture_ready(tex, 1)
    assert mine.value == 1
    with pytest.raises(geyser.InvalidArgumentError):
        tex.timeline = 5
    tex.timeline = None
    with pytest.raises(geyser.UnsupportedOperationError, match="no timeline"):
        device.wait_for_texture(tex, 1, timeout=0)


def test_release_handles(device, fd_count):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    buf = device.create_shareable_buffer(64)
    th, bh = device.export_texture(tex), device.export_buffer(buf)
    with pytest.raises(geyser.InvalidHandleError):
        device.release_texture_handle(bh)
    with pytest.raises(geyser.InvalidHandleError):
        device.release_buffer_handle(th)
    assert not th.closed and not bh.closed
    before = fd_count()
    device.release_texture_handle(th)
    device.release_buffer_handle(bh)
    assert th.closed and bh.closed and fd_count() == before - 2


def test_forked_child_cannot_use_an_inherited_timeline(device):
    t = device.create_shared_timeline("portable", initial_value=1)
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    tex.timeline = t
    handle = device.export_timeline(t)

    def child():
        before = _fd_count()
        _, wrong = refusals({
            "value": lambda: t.value,
            "signal": lambda: t.signal(2),
            "wait": lambda: t.wait(1, timeout=0),
            "mark_abandoned": lambda: t.mark_abandoned(),
            "export_timeline": lambda: device.export_timeline(t),
            "import_timeline": lambda: device.import_timeline(handle),
            "create_shared_timeline": lambda: device.create_shared_timeline(),
            "signal_texture_ready": lambda: device.signal_texture_ready(tex, 2),
            "wait_for_texture": lambda: device.wait_for_texture(tex, 1, timeout=0),
            "upload signalling it": lambda: tex.upload(np.zeros((4, 4, 4), np.uint8), signal=[(t, 2)]),
        })
        opened = _fd_count() - before
        t.close()  # drops the child's mapping; the parent's timeline stays
        return {"wrong": wrong, "fds_opened": opened}

    assert run_forked(child) == {"wrong": [], "fds_opened": 0}
    assert t.value == 1 and not t.abandoned
    t.signal(2)
    assert device.import_timeline(handle).value == 2
    handle.close()


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
