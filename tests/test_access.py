"""Python's own Vulkan work on Geyser's textures and buffers (docs/access.md).

The raw handles come out as ints; the ``vulkan`` package (cffi bindings of the Vulkan loader)
records a clear or a fill between ``begin_access`` and ``end_access`` in a command buffer of
its own, submits it to ``device.vk_queue`` inside ``device.queue_mutex()``, and Geyser's
download, read and an importing second Device see exactly what it wrote. The validation layer
checks the Python-recorded barriers too: the calls go through the same loader and instance.
"""

from __future__ import annotations

import numpy as np
import pytest

import geyser

try:
    import vulkan as vk
except (ImportError, OSError) as e:  # OSError: the package found no libvulkan to open
    vk = None
    _WHY = f"the vulkan package is not usable here ({e}); pip install vulkan"

needs_vulkan_package = pytest.mark.skipif(vk is None, reason=_WHY if vk is None else "")

TIMEOUT_NS = 10_000_000_000
# Vulkan's numbers, spelled out for the tests that run without the vulkan package.
TRANSFER_DST_OPTIMAL = 7
STAGE_TRANSFER = 0x1000
ACCESS_TRANSFER_WRITE = 0x1000

DESC = geyser.TextureDescriptor(21, 9, geyser.TextureFormat.RGBA8_UNORM)


def _value(handle) -> int:
    """A cffi handle as the int Geyser takes."""
    return int(vk.ffi.cast("uintptr_t", handle))


class OwnCommands:
    """A command pool of the device's queue family, one command buffer and a fence."""

    def __init__(self, device: geyser.Device):
        self.device = device
        self.vk_device = vk.ffi.cast("VkDevice", device.vk_device)
        self.queue = vk.ffi.cast("VkQueue", device.vk_queue)
        self.pool = vk.vkCreateCommandPool(self.vk_device, vk.VkCommandPoolCreateInfo(
            flags=vk.VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
            queueFamilyIndex=device.queue_family_index), None)
        self.cmd = vk.vkAllocateCommandBuffers(self.vk_device, vk.VkCommandBufferAllocateInfo(
            commandPool=self.pool, level=vk.VK_COMMAND_BUFFER_LEVEL_PRIMARY, commandBufferCount=1))[0]
        self.fence = vk.vkCreateFence(self.vk_device, vk.VkFenceCreateInfo(), None)

    def begin(self):
        vk.vkBeginCommandBuffer(self.cmd, vk.VkCommandBufferBeginInfo(
            flags=vk.VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT))
        return self.cmd

    def submit(self, signal: geyser.Semaphore | None = None, value: int = 0) -> None:
        vk.vkEndCommandBuffer(self.cmd)
        if signal is None:
            info = vk.VkSubmitInfo(pCommandBuffers=[self.cmd])
        else:
            timeline = vk.VkTimelineSemaphoreSubmitInfo(pSignalSemaphoreValues=[value])
            info = vk.VkSubmitInfo(pNext=timeline, pCommandBuffers=[self.cmd],
                                   pSignalSemaphores=[vk.ffi.cast("VkSemaphore", signal.vk_semaphore)])
        with self.device.queue_mutex():
            vk.vkQueueSubmit(self.queue, 1, [info], self.fence)

    def wait(self) -> None:
        vk.vkWaitForFences(self.vk_device, 1, [self.fence], vk.VK_TRUE, TIMEOUT_NS)
        vk.vkResetFences(self.vk_device, 1, [self.fence])

    def close(self) -> None:
        vk.vkDestroyFence(self.vk_device, self.fence, None)
        vk.vkDestroyCommandPool(self.vk_device, self.pool, None)


@pytest.fixture
def commands(device):
    c = OwnCommands(device)
    yield c
    c.close()


def _record_clear(texture: geyser.Texture, cb, rgba) -> None:
    layout = vk.VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL
    stage, access = vk.VK_PIPELINE_STAGE_TRANSFER_BIT, vk.VK_ACCESS_TRANSFER_WRITE_BIT
    texture.begin_access(_value(cb), layout, stage, access)
    # v / 255 is exact in UNORM8.
    color = vk.VkClearColorValue(float32=[c / 255.0 for c in rgba])
    whole = vk.VkImageSubresourceRange(aspectMask=vk.VK_IMAGE_ASPECT_COLOR_BIT, baseMipLevel=0, levelCount=1,
                                       baseArrayLayer=0, layerCount=1)
    vk.vkCmdClearColorImage(cb, vk.ffi.cast("VkImage", texture.vk_image), layout, color, 1, [whole])
    texture.end_access(_value(cb), layout, stage, access)


def _solid(desc, rgba) -> np.ndarray:
    return np.broadcast_to(np.array(rgba, np.uint8), (desc.height, desc.width, 4))


def test_raw_handles_are_the_devices_own(device, device2):
    for name in ("vk_instance", "vk_physical_device", "vk_device", "vk_queue"):
        assert isinstance(getattr(device, name), int) and getattr(device, name) != 0, name
    assert device.vk_instance == device2.vk_instance  # one instance per process
    assert device.vk_physical_device == device2.vk_physical_device
    assert device.vk_device != device2.vk_device
    assert device.queue_family_index == device.native.queue_family_index
    with device.create_shareable_texture(DESC) as t, device.create_shareable_buffer(64) as b:
        assert t.vk_image and t.vk_memory and b.vk_buffer and b.vk_memory
        assert t.external_layout == 1  # VK_IMAGE_LAYOUT_GENERAL, what Geyser's exports rest in
        with device2.import_texture(device.export_texture(t)) as imported:
            assert imported.vk_image != t.vk_image
            assert imported.external_layout == t.external_layout
    with device.create_semaphore("timeline") as s:
        assert isinstance(s.vk_semaphore, int) and s.vk_semaphore
    with device.create_fence() as f:
        assert isinstance(f.vk_fence, int) and f.vk_fence


def test_refuses_bad_arguments_without_leaking(device, fd_count):
    with device.create_shareable_texture(DESC) as t, device.create_shareable_buffer(64) as b:
        before = fd_count()
        for bad in ("0x1", 1.5, None, True):
            with pytest.raises(geyser.InvalidArgumentError, match="command_buffer"):
                t.begin_access(bad, TRANSFER_DST_OPTIMAL, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        for bad in (-1, 1 << 64):
            with pytest.raises(geyser.InvalidArgumentError, match="handle value"):
                b.begin_access(bad, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        # What the core refuses, before recording anything: a null command buffer, no stages,
        # UNDEFINED, a layout the usage does not allow, an end without a begin.
        with pytest.raises(geyser.InvalidArgumentError, match="null"):
            t.begin_access(0, TRANSFER_DST_OPTIMAL, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="stages"):
            t.begin_access(1, TRANSFER_DST_OPTIMAL, 0, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="not a layout Geyser shares"):
            t.begin_access(1, 0, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="COLOR_ATTACHMENT"):
            t.begin_access(1, 2, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="never began"):
            t.end_access(1, TRANSFER_DST_OPTIMAL, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="never began"):
            b.end_access(1, STAGE_TRANSFER, ACCESS_TRANSFER_WRITE)
        with pytest.raises(geyser.InvalidArgumentError, match="stages"):
            b.begin_access(1, 0, ACCESS_TRANSFER_WRITE)
        assert fd_count() == before
        # Still untouched and usable.
        t.upload(np.full((DESC.height, DESC.width, 4), 9, np.uint8))
        assert (t.download() == 9).all()


def test_queue_mutex_is_the_one_geysers_operations_take(device):
    import threading

    done = threading.Event()
    with device.create_shareable_texture(DESC) as t:
        with device.queue_mutex():
            worker = threading.Thread(target=lambda: (t.upload(np.zeros((9, 21, 4), np.uint8)), done.set()))
            worker.start()
            # The upload waits for the lock this thread holds (its wait released the GIL).
            assert not done.wait(0.3)
        worker.join(10)
        assert done.is_set()


@needs_vulkan_package
def test_own_clear_is_what_download_and_an_importer_see(device, device2, commands):
    with device.create_shareable_texture(DESC) as t:
        # A texture no operation has used: begin_access releases it first.
        _record_clear(t, commands.begin(), (255, 0, 51, 204))
        commands.submit()
        commands.wait()
        np.testing.assert_array_equal(t.download(), _solid(DESC, (255, 0, 51, 204)))
        with device2.import_texture(device.export_texture(t)) as imported:
            np.testing.assert_array_equal(imported.download(), _solid(DESC, (255, 0, 51, 204)))
            # After Geyser's own operations, the same protocol again.
            t.upload(np.full((DESC.height, DESC.width, 4), 7, np.uint8))
            _record_clear(t, commands.begin(), (1, 2, 3, 4))
            commands.submit()
            commands.wait()
            np.testing.assert_array_equal(imported.download(), _solid(DESC, (1, 2, 3, 4)))


@needs_vulkan_package
def test_own_work_ordered_by_a_timeline_without_host_wait(device, commands):
    if not device.info.timeline_semaphores:
        pytest.skip("the device has no timeline semaphores")
    with device.create_shareable_texture(DESC) as t, device.create_semaphore("timeline") as ready:
        for n in range(1, 4):
            _record_clear(t, commands.begin(), (n, 2 * n, 3 * n, 255))
            commands.submit(signal=ready, value=n)
            # Geyser's download waits on the GPU for the value Python's submission signals.
            np.testing.assert_array_equal(t.download(wait=[(ready, n)]), _solid(DESC, (n, 2 * n, 3 * n, 255)))
            commands.wait()
        assert ready.value == 3


@needs_vulkan_package
def test_own_fill_is_what_read_and_an_importer_see(device, device2, commands):
    with device.create_shareable_buffer(4096) as b:
        b.write(bytes(4096))
        cb = commands.begin()
        b.begin_access(_value(cb), vk.VK_PIPELINE_STAGE_TRANSFER_BIT, vk.VK_ACCESS_TRANSFER_WRITE_BIT)
        vk.vkCmdFillBuffer(cb, vk.ffi.cast("VkBuffer", b.vk_buffer), 1024, 512, 0xA0B0C0D0)
        b.end_access(_value(cb), vk.VK_PIPELINE_STAGE_TRANSFER_BIT, vk.VK_ACCESS_TRANSFER_WRITE_BIT)
        commands.submit()
        commands.wait()
        want = bytes(1024) + bytes([0xD0, 0xC0, 0xB0, 0xA0]) * 128 + bytes(4096 - 1536)
        assert b.read() == want
        with device2.import_buffer(device.export_buffer(b)) as imported:
            assert imported.read() == want


def test_timeline_exposes_its_semaphore_only_for_the_vulkan_kind(device):
    portable = device.create_shared_timeline("portable")
    assert portable.vk_semaphore is None
    if device.info.timeline_semaphores:
        local = device.create_timeline("vulkan")
        assert isinstance(local.vk_semaphore, int) and local.vk_semaphore != 0
