"""Lifetimes: who keeps what alive, closing in any order, and no fd or memory leaks."""

from __future__ import annotations

import gc
import itertools
import os

import numpy as np
import pytest

import _handle_wire
import geyser
from geyser import TextureDescriptor, TextureFormat

# Tests here open their own devices too; the session `device` makes them skip without Vulkan.
pytestmark = pytest.mark.usefixtures("device")

DESC = TextureDescriptor(16, 8, TextureFormat.RGBA8_UNORM)


def pattern(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (8, 16, 4), dtype=np.uint8)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


# -- the exporter can go first -----------------------------------------------------------------

def test_import_after_exporter_closed(fd_count):
    n = fd_count()
    data = pattern(1)
    exporter = geyser.Device()
    tex = exporter.create_shareable_texture(DESC)
    tex.upload(data)
    handle = exporter.export_texture(tex)
    tex.close()
    exporter.close()
    del tex, exporter
    gc.collect()
    # The handle's fd alone keeps the memory alive.
    with geyser.Device() as importer, importer.import_texture(handle) as imp:
        assert np.array_equal(imp.download(), data)
    handle.close()
    gc.collect()
    assert fd_count() == n


def test_imported_outlives_exporter(fd_count):
    n = fd_count()
    data = pattern(2)
    exporter = geyser.Device()
    importer = geyser.Device()
    tex = exporter.create_shareable_texture(DESC)
    tex.upload(data)
    with exporter.export_texture(tex) as handle:
        imp = importer.import_texture(handle)
    tex.close()
    exporter.close()
    del tex, exporter
    gc.collect()
    assert np.array_equal(imp.download(), data)
    imp.upload(pattern(3))
    assert np.array_equal(imp.download(), pattern(3))
    imp.close()
    importer.close()
    gc.collect()
    assert fd_count() == n


def test_buffer_import_after_exporter_closed(fd_count):
    n = fd_count()
    exporter = geyser.Device()
    buf = exporter.create_shareable_buffer(1000)
    buf.write(b"geyser" * 100)
    handle = exporter.export_buffer(buf)
    buf.close()
    exporter.close()
    del buf, exporter
    gc.collect()
    with geyser.Device() as importer, importer.import_buffer(handle) as imp:
        assert imp.read(600) == b"geyser" * 100
    handle.close()
    gc.collect()
    assert fd_count() == n


def test_texture_keeps_its_device_alive():
    data = pattern(4)
    d = geyser.Device()
    tex = d.create_shareable_texture(DESC)
    d.close()
    del d
    gc.collect()
    tex.upload(data)  # the Vulkan device lives as long as the texture
    assert np.array_equal(tex.download(), data)
    tex.close()


# -- leaks -------------------------------------------------------------------------------------

def _cycle(exporter, importer, tex, data):
    with exporter.export_texture(tex) as h:
        with importer.import_texture(h) as imp:
            assert imp.width == DESC.width


@pytest.mark.slow
def test_1000_export_import_cycles_leak_nothing(device, device2, fd_count):
    data = pattern(5)
    with device.create_shareable_texture(DESC) as tex:
        tex.upload(data)
        for _ in range(50):  # warm up allocator caches before measuring
            _cycle(device, device2, tex, data)
        gc.collect()
        n, rss = fd_count(), rss_bytes()
        heaps = [device.memory_usage(), device2.memory_usage()]
        for _ in range(1000):
            _cycle(device, device2, tex, data)
        gc.collect()
        assert fd_count() == n
        grown = rss_bytes() - rss
        assert grown < 50 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB over 1000 cycles"
        # Device memory, where the driver reports it (VK_EXT_memory_budget; on lavapipe device
        # memory is host memory, covered by RSS above).
        for dev, before in zip((device, device2), heaps):
            if before is not None:
                after = dev.memory_usage()
                assert all(a <= b + 4 * 1024 * 1024 for a, b in zip(after, before)), (before, after)
        # The last import still sees the data: the cycles did not disturb the texture.
        with device.export_texture(tex) as h, device2.import_texture(h) as imp:
            assert np.array_equal(imp.download(), data)


def test_failed_imports_leak_nothing(device, device2, fd_count):
    with device.create_shareable_texture(DESC) as tex, device.export_texture(tex) as good:
        payload = _handle_wire.changed(good.to_bytes(), size=good.size + 4096)
        gc.collect()
        n = fd_count()
        for _ in range(200):
            bad = geyser.TextureHandle.from_bytes(payload, os.dup(good.fd))
            with pytest.raises(geyser.InvalidHandleError):
                device2.import_texture(bad)
            bad.close()
        gc.collect()
        assert fd_count() == n


# -- every deletion order ----------------------------------------------------------------------

NAMES = ("device", "texture", "handle", "imported")


def _scenario():
    dev = geyser.Device()
    tex = dev.create_shareable_texture(DESC)
    tex.upload(pattern(6))
    with dev.export_texture(tex) as h:
        dev.import_texture(h).download()


@pytest.mark.parametrize("order", list(itertools.permutations(NAMES)), ids="-".join)
@pytest.mark.parametrize("how", ["del", "close"])
def test_release_in_any_order(fd_count, order, how):
    data = pattern(6)
    # Run the scenario once first, so fds a driver opens once per process are not counted.
    _scenario()
    gc.collect()
    n = fd_count()
    objs = {"device": geyser.Device()}
    objs["texture"] = objs["device"].create_shareable_texture(DESC)
    objs["texture"].upload(data)
    objs["handle"] = objs["device"].export_texture(objs["texture"])
    objs["imported"] = objs["device"].import_texture(objs["handle"])
    handle_fd = objs["handle"].fd
    for name in order:
        obj = objs.pop(name)
        if how == "close":
            obj.close()
            assert obj.closed
        del obj
        gc.collect()
        # Whatever is left still works.
        for key in ("texture", "imported"):
            if key in objs:
                assert np.array_equal(objs[key].download(), data), f"{key} broke after releasing {name}"
        if "handle" in objs:
            assert fd_is_open(handle_fd)
            if "device" in objs:
                with objs["device"].import_texture(objs["handle"]) as again:
                    assert np.array_equal(again.download(), data)
    gc.collect()
    assert fd_count() == n


# -- closed objects ----------------------------------------------------------------------------

def test_closed_texture_raises(device):
    tex = device.create_shareable_texture(DESC)
    tex.close()
    assert tex.closed
    tex.close()  # idempotent
    uses = [
        lambda: tex.download(),
        lambda: tex.upload(pattern(7)),
        lambda: tex.width,
        lambda: tex.host_layout(),
        lambda: device.export_texture(tex),
    ]
    for use in uses:
        with pytest.raises(geyser.GeyserError):
            use()
    assert "closed" in repr(tex)


def test_closed_buffer_raises(device):
    buf = device.create_shareable_buffer(64)
    buf.close()
    for use in (lambda: buf.read(), lambda: buf.write(b"x"), lambda: buf.size, lambda: device.export_buffer(buf)):
        with pytest.raises(geyser.GeyserError):
            use()


def test_closed_device_raises():
    d = geyser.Device()
    d.close()
    assert d.closed
    for use in (lambda: d.create_shareable_texture(DESC), lambda: d.create_shareable_buffer(4),
                lambda: d.format_support(TextureFormat.RGBA8_UNORM)):
        with pytest.raises(geyser.GeyserError):
            use()


def test_handle_close_is_idempotent(device, device2, fd_count):
    with device.create_shareable_texture(DESC) as tex:
        n = fd_count()
        h = device.export_texture(tex)
        fd = h.fd
        assert fd >= 0 and fd_is_open(fd) and fd_count() == n + 1
        h.close()
        assert h.closed and h.fd == -1 and fd_count() == n
        h.close()
        h.close()
        assert h.closed and fd_count() == n
        with pytest.raises(geyser.InvalidHandleError):
            device2.import_texture(h)
        assert fd_count() == n


def test_detach_gives_up_the_fd(device, fd_count):
    with device.create_shareable_buffer(64) as buf:
        n = fd_count()
        h = device.export_buffer(buf)
        fd = h.detach()
        assert h.closed and h.fd == -1
        h.close()  # closes nothing now
        assert fd_is_open(fd) and fd_count() == n + 1
        os.close(fd)
        assert fd_count() == n


def test_context_managers_close(fd_count):
    gc.collect()
    n = fd_count()
    with geyser.Device() as d:
        with d.create_shareable_texture(DESC) as tex:
            with d.export_texture(tex) as h:
                fd = h.fd
                assert fd_is_open(fd)
                with d.import_texture(h) as imp:
                    assert not imp.closed
                assert imp.closed
            assert h.closed and h.fd == -1
            assert not fd_is_open(fd)
        assert tex.closed
        with d.create_shareable_buffer(16) as buf, d.export_buffer(buf) as bh:
            assert not bh.closed
        assert buf.closed and bh.closed
    assert d.closed
    gc.collect()
    assert fd_count() == n


def test_context_manager_closes_on_error(device):
    with pytest.raises(KeyError):
        with device.create_shareable_texture(DESC) as tex:
            raise KeyError("boom")
    assert tex.closed


def test_closed_wrappers_keep_nothing_alive():
    """A closed texture or buffer no longer holds its Device (the Vulkan device can go)."""
    import weakref

    dev = geyser.Device()
    tex = dev.create_shareable_texture(DESC)
    buf = dev.create_shareable_buffer(64)
    ref = weakref.ref(dev)
    tex.close()
    buf.close()
    del dev
    gc.collect()
    assert ref() is None
    assert tex.device is None and buf.device is None
