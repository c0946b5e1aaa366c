"""pytest-benchmark: the core operations one at a time, on the device present.

    python -m pytest benchmarks/test_bench_core.py [--benchmark-json out.json]

Texture creation over sizes and formats, export, import (into a second Device: what another
process does), buffers, semaphores, fences and timelines (create, export, import), the
export -> send -> import round trip across processes, and the binding overhead of small calls
against os.getppid(). Whatever the device cannot do (lavapipe exports no semaphores or fences)
is skipped with the reason. Runs offline; nothing asserts a speed.
"""

from __future__ import annotations

import os

import pytest

import geyser
from geyser.bench import import_each_frame, percentile

SIZES = [256, 1024, 4096]
FORMATS = [geyser.TextureFormat.RGBA8_UNORM, geyser.TextureFormat.RGBA16_FLOAT, geyser.TextureFormat.R32_FLOAT]
BUFFER_SIZES = {"64KiB": 1 << 16, "16MiB": 1 << 24}


@pytest.fixture(scope="module")
def importer(device):
    """A second Device on the same GPU: imports there cost what they cost in another process."""
    other = geyser.Device(device.info.device_uuid)
    yield other
    other.close()


def _desc(size, fmt=geyser.TextureFormat.RGBA8_UNORM):
    return geyser.TextureDescriptor(size, size, fmt)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("size", SIZES)
def test_create_texture(benchmark, device, size, fmt):
    benchmark.group = f"create_shareable_texture {size}x{size}"
    desc = _desc(size, fmt)
    benchmark(lambda: device.create_shareable_texture(desc).close())


@pytest.mark.parametrize("size", SIZES)
def test_export_texture(benchmark, device, size):
    benchmark.group = f"texture {size}x{size}: export / import"
    with device.create_shareable_texture(_desc(size)) as tex:
        benchmark(lambda: device.export_texture(tex).close())


@pytest.mark.parametrize("size", SIZES)
def test_import_texture(benchmark, device, importer, size):
    benchmark.group = f"texture {size}x{size}: export / import"
    with device.create_shareable_texture(_desc(size)) as tex, device.export_texture(tex) as handle:
        benchmark(lambda: importer.import_texture(handle).close())


@pytest.mark.parametrize("size", list(BUFFER_SIZES))
def test_buffer_create_export_import(benchmark, device, importer, size):
    benchmark.group = f"buffer {size}: create + export + import"
    n = BUFFER_SIZES[size]

    def cycle():
        with device.create_shareable_buffer(n) as buf, device.export_buffer(buf) as h:
            importer.import_buffer(h).close()

    benchmark(cycle)


def _sync_support(device, what):
    names = {"binary": device.info.binary_semaphore_export, "timeline": device.info.timeline_semaphore_export,
             "fence": device.info.fence_export}[what]
    if "opaque_fd" not in names:
        noun = "fences" if what == "fence" else f"{what} semaphores"
        pytest.skip(f"{device.name} cannot export {noun} as opaque FDs")


@pytest.mark.parametrize("what", ["binary", "timeline", "fence"])
def test_sync_create(benchmark, device, what):
    _sync_support(device, what)
    benchmark.group = f"{what}: create / export / import"
    make = device.create_shared_fence if what == "fence" else (lambda: device.create_shared_semaphore(what))
    benchmark(lambda: make().close())


@pytest.mark.parametrize("what", ["binary", "timeline", "fence"])
def test_sync_export(benchmark, device, what):
    _sync_support(device, what)
    benchmark.group = f"{what}: create / export / import"
    with (device.create_shared_fence() if what == "fence" else device.create_shared_semaphore(what)) as obj:
        export = device.export_fence if what == "fence" else device.export_semaphore
        benchmark(lambda: export(obj).close())


@pytest.mark.parametrize("what", ["binary", "timeline", "fence"])
def test_sync_import(benchmark, device, importer, what):
    _sync_support(device, what)
    benchmark.group = f"{what}: create / export / import"
    with (device.create_shared_fence() if what == "fence" else device.create_shared_semaphore(what)) as obj:
        if what == "fence":
            with device.export_fence(obj) as h:
                benchmark(lambda: importer.import_fence(h).close())
        else:
            with device.export_semaphore(obj) as h:
                benchmark(lambda: importer.import_semaphore(h).close())


@pytest.mark.parametrize("kind", ["portable", "vulkan"])
def test_shared_timeline_create_export_import(benchmark, device, importer, kind):
    if kind == "vulkan":
        _sync_support(device, "timeline")
    benchmark.group = "shared timeline: create + export + import"

    def cycle():
        with device.create_shared_timeline(kind) as t, device.export_timeline(t) as h:
            importer.import_timeline(h).close()

    benchmark(cycle)


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_export_send_import_across_processes(benchmark, device, size):
    """One batch of frames, each exported, sent over a Channel (SCM_RIGHTS) and imported by another
    process; the per-frame p50/p99 go to extra_info."""
    benchmark.group = "export -> send -> import across processes"
    frames = 100
    lat = benchmark.pedantic(import_each_frame, args=(device, *size, frames), rounds=1, iterations=1)
    benchmark.extra_info.update({"frames": frames, "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99)})


def test_call_getppid(benchmark):
    benchmark.group = "binding overhead: small calls"
    benchmark(os.getppid)


def test_call_texture_width(benchmark, device):
    benchmark.group = "binding overhead: small calls"
    with device.create_shareable_texture(_desc(256)) as tex:
        benchmark(lambda: tex.width)


def test_call_timeline_value(benchmark, device):
    benchmark.group = "binding overhead: small calls"
    with device.create_shared_timeline("portable") as t:
        benchmark(lambda: t.value)


def test_call_timeline_signal_wait(benchmark, device):
    benchmark.group = "binding overhead: small calls"
    with device.create_shared_timeline("portable") as t:
        state = {"v": 0}

        def step():
            state["v"] += 1
            t.signal(state["v"])
            t.wait(state["v"], 1.0)

        benchmark(step)
