"""geyser.cuda.PeerCopy: a frame slot written by Vulkan on GPU A, copied by CUDA into a slot that
Vulkan on GPU B allocated, ordered by timelines on both GPUs with no host wait, read back by
Vulkan on B, every frame verified. Buffers and textures, the direct path and host staging.

With one GPU, A == B (two Vulkan devices on it, so the destination is another VkDevice's memory,
as on two GPUs); with two or more, every pair with GPU 0 as well. Needs CUDA and exportable
timeline semaphores (the GPU machine: scripts/gpu/multigpu.sh); skips with the reason elsewhere.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import geyser
import geyser.cuda

STATUS = geyser.cuda.status()
pytestmark = pytest.mark.skipif(not STATUS.available, reason=f"CUDA unavailable: {STATUS.reason}")
TIMEOUT = 30


def _pairs():
    n = STATUS.device_count if STATUS.available else 1
    return [(a, b) for a in range(n) for b in range(n) if a == 0 or b == 0]


class Side:
    """A Vulkan device on one GPU, its CUDA device, and an exportable Vulkan timeline there."""

    def __init__(self, ordinal: int):
        try:
            self.device = geyser.Device(f"cuda:{ordinal}")
        except geyser.VulkanUnavailableError as e:
            pytest.skip(f"CUDA device {ordinal} has no Vulkan device: {e}")
        try:
            self.timeline = self.device.create_shared_timeline("vulkan")
        except geyser.UnsupportedOperationError as e:
            pytest.skip(f"{self.device.info.name} cannot export timeline semaphores: {e}")
        self.gpu = geyser.cuda.CudaDevice(self.device)


@pytest.fixture(params=[(a, b, staged) for a, b in _pairs() for staged in (False, True)],
                ids=lambda p: f"cuda{p[0]}-to-cuda{p[1]}-{'staged' if p[2] else 'direct'}")
def engine(request):
    a, b, staged = request.param
    src, dst = Side(a), Side(b)
    e = geyser.cuda.PeerCopy(src.gpu, dst.gpu, host_staging=staged)
    yield src, dst, e
    e.wait_idle(TIMEOUT)


def _pattern(n: int, frame: int) -> np.ndarray:
    return ((np.arange(n, dtype=np.uint32) * 2654435761 + frame * 97) >> 11).astype(np.uint8)


def test_path_and_reason(engine):
    src, dst, e = engine
    if "host staging was asked" in e.reason:
        assert e.path == "host_staging"
    elif src.gpu.ordinal == dst.gpu.ordinal:
        assert e.path == "same_device"
    else:
        peer = geyser.gpu_topology().peer_access[src.gpu.ordinal][dst.gpu.ordinal]
        assert e.path == ("peer" if peer else "host_staging"), e.reason
    assert e.idle() and e.copies == 0


def test_buffers_every_frame_verified(engine):
    src, dst, e = engine
    size = 1 << 20
    a = src.device.create_shareable_buffer(size)
    b = dst.device.create_shareable_buffer(size)
    released = src.device.create_shared_timeline("vulkan")
    ca, cb = src.gpu.import_buffer(a), dst.gpu.import_buffer(b)
    for frame in range(1, 9):
        if frame > 1:
            released.wait(frame - 1, TIMEOUT)  # the copy has read A's slot: render into it again
        pattern = _pattern(size, frame)
        a.write(pattern)
        e.copy_buffer(ca, cb, wait=(src.timeline, frame), signal=(dst.timeline, frame), release=(released, frame))
        assert dst.timeline.value == frame - 1, "the copy waits for A's timeline"
        src.timeline.signal(frame)
        dst.timeline.wait(frame, TIMEOUT)
        np.testing.assert_array_equal(np.frombuffer(b.read(), np.uint8), pattern, err_msg=f"frame {frame}")
    assert e.copies == 8


def test_textures_every_frame_verified(engine):
    src, dst, e = engine
    desc = geyser.TextureDescriptor(97, 41)
    a, b = src.device.create_shareable_texture(desc), dst.device.create_shareable_texture(desc)
    ca, cb = src.gpu.import_texture(a), dst.gpu.import_texture(b)
    for frame in range(1, 5):
        pattern = _pattern(97 * 41 * 4, frame).reshape(41, 97, 4)
        a.upload(pattern)
        e.copy_texture(ca, cb, wait=(src.timeline, frame), signal=(dst.timeline, frame))
        src.timeline.signal(frame)
        dst.timeline.wait(frame, TIMEOUT)
        np.testing.assert_array_equal(b.download(), pattern, err_msg=f"frame {frame}")


def test_refusals(engine):
    src, dst, e = engine
    big = src.gpu.import_buffer(src.device.create_shareable_buffer(4096))
    small = dst.gpu.import_buffer(dst.device.create_shareable_buffer(1024))
    with pytest.raises(geyser.InvalidArgumentError, match="smaller than the source"):
        e.copy_buffer(big, small)
    with pytest.raises(geyser.InvalidArgumentError, match="CudaBuffer into a CudaBuffer"):
        e.copy_buffer(big, "nope")
    with pytest.raises(geyser.InvalidArgumentError, match=r"\(timeline or semaphore, value\)"):
        e.copy_buffer(big, big, wait=src.timeline)
    portable = src.device.create_timeline("portable")
    with pytest.raises(geyser.UnsupportedOperationError, match="host memory"):
        e.copy_buffer(big, big, wait=(portable, 1))
    if src.gpu.ordinal != dst.gpu.ordinal:
        with pytest.raises(geyser.DeviceMismatchError):
            e.copy_buffer(big, big)
    assert e.copies == 0


def test_wait_idle_is_bounded(engine):
    src, dst, e = engine
    a = src.gpu.import_buffer(src.device.create_shareable_buffer(4096))
    b = dst.gpu.import_buffer(dst.device.create_shareable_buffer(4096))
    e.copy_buffer(a, b, wait=(src.timeline, 1))
    assert not e.idle()
    with pytest.raises(geyser.TimeoutError, match="did not finish"):
        e.wait_idle(0.1)
    src.timeline.signal(1)
    e.wait_idle(TIMEOUT)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("kind", ["buffer", "texture"])
def test_a_thousand_copies_leave_fd_and_memory_counts_flat(engine, kind):
    """1,000 copies through a ring of 3 slots, every frame verified; no fd or device memory grows."""
    src, dst, e = engine
    w, h = 64, 32
    n = w * h * 4
    if kind == "buffer":
        ring_a = [src.device.create_shareable_buffer(n) for _ in range(3)]
        ring_b = [dst.device.create_shareable_buffer(n) for _ in range(3)]
        imp_a = [src.gpu.import_buffer(x) for x in ring_a]
        imp_b = [dst.gpu.import_buffer(x) for x in ring_b]
    else:
        desc = geyser.TextureDescriptor(w, h)
        ring_a = [src.device.create_shareable_texture(desc) for _ in range(3)]
        ring_b = [dst.device.create_shareable_texture(desc) for _ in range(3)]
        imp_a = [src.gpu.import_texture(x) for x in ring_a]
        imp_b = [dst.gpu.import_texture(x) for x in ring_b]
    copy = e.copy_buffer if kind == "buffer" else e.copy_texture

    def one(frame: int) -> None:
        slot = frame % 3
        pattern = _pattern(n, frame)
        if kind == "buffer":
            ring_a[slot].write(pattern)
        else:
            ring_a[slot].upload(pattern.reshape(h, w, 4))
        copy(imp_a[slot], imp_b[slot], wait=(src.timeline, frame), signal=(dst.timeline, frame))
        src.timeline.signal(frame)
        dst.timeline.wait(frame, TIMEOUT)
        got = np.frombuffer(ring_b[slot].read(), np.uint8) if kind == "buffer" else ring_b[slot].download().ravel()
        np.testing.assert_array_equal(got, pattern, err_msg=f"frame {frame}")

    for frame in range(1, 21):  # warm up: staging buffers, events, driver caches
        one(frame)
    e.wait_idle(TIMEOUT)
    fds, mem_a, mem_b = _fds(), src.device.memory_usage(), dst.device.memory_usage()
    for frame in range(21, 1021):
        one(frame)
    e.wait_idle(TIMEOUT)
    assert _fds() == fds
    assert src.device.memory_usage() == mem_a and dst.device.memory_usage() == mem_b
