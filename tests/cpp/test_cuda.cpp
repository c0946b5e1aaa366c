// CUDA interop against geyser::core: Vulkan writes, CUDA copies on a stream ordered by an
// imported timeline, Vulkan reads back. Skipped with the reason where CUDA or semaphore export is
// missing (lavapipe machines).
#include <gtest/gtest.h>
#include <dirent.h>

#include <string>
#include <vector>

#include "geyser/cuda.hpp"
#include "geyser/geyser.hpp"
#include "support.hpp"
#include <chrono>

using namespace std::chrono_literals;

namespace {

using geyser::cuda::CudaBuffer;
using geyser::cuda::CudaContext;
using geyser::cuda::CudaSemaphore;
using geyser::cuda::CudaTexture;

constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);

using geyser::testing_support::fd_count;

std::vector<uint8_t> ramp(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + seed);
    return v;
}

geyser::TextureDescriptor rgba8(uint32_t w, uint32_t h) {
    geyser::TextureDescriptor d;
    d.width = w;
    d.height = h;
    d.format = geyser::TextureFormat::kRgba8Unorm;
    d.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageTextureBinding |
              geyser::kTextureUsageRenderAttachment;
    return d;
}

// A Vulkan device with a CUDA context for the same GPU, or a skip saying what is missing.
struct Fixture {
    std::shared_ptr<geyser::Device> device;
    std::shared_ptr<CudaContext> cuda;
    std::string skip;
};

Fixture open_fixture() {
    Fixture f;
    const geyser::cuda::CudaStatus status = geyser::cuda::cuda_status();
    if (!status.available) {
        f.skip = "CUDA unavailable: " + status.reason;
        return f;
    }
    try {
        f.device = geyser::Device::open();
    } catch (const geyser::VulkanUnavailableError& e) {
        f.skip = std::string("no Vulkan device: ") + e.what();
        return f;
    }
    f.cuda = CudaContext::for_device(f.device);
    return f;
}

#define FIXTURE_OR_SKIP(f)         \
    Fixture f = open_fixture();    \
    if (!f.skip.empty()) GTEST_SKIP() << f.skip

TEST(Cuda, StatusSaysWhyNot) {
    const geyser::cuda::CudaStatus s = geyser::cuda::cuda_status();
    if (s.available) {
        EXPECT_TRUE(s.reason.empty());
        EXPECT_GT(s.driver_version, 0);
        EXPECT_GT(s.device_count, 0);
    } else {
        EXPECT_NE(s.reason.find("CUDA"), std::string::npos) << s.reason;
        try {
            auto dev = geyser::Device::open();
            EXPECT_THROW(CudaContext::for_device(dev), geyser::UnsupportedOperationError);
        } catch (const geyser::VulkanUnavailableError&) {
        }
    }
}

TEST(Cuda, ContextMatchesTheVulkanDeviceUuid) {
    FIXTURE_OR_SKIP(f);
    EXPECT_EQ(f.cuda->uuid(), f.device->info().device_uuid);
    EXPECT_NE(f.cuda->context(), 0u);
}

TEST(Cuda, StreamCopiesOrderedByAnImportedTimeline) {
    FIXTURE_OR_SKIP(f);
    if (!(f.device->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << f.device->info().name << " cannot export timeline semaphores";
    }
    const size_t before = fd_count();
    {
        const uint32_t w = 37, h = 23;
        auto texture = f.device->create_shareable_texture(rgba8(w, h));
        auto buffer = f.device->create_shareable_buffer(size_t{w} * h * 4);
        auto timeline = f.device->create_shared_semaphore(geyser::SemaphoreType::kTimeline, 0);
        auto pattern = ramp(size_t{w} * h * 4, 7);
        texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, pattern.data(), pattern.size());

        auto ct = CudaTexture::import(f.cuda, f.device->export_texture(*texture));
        auto cb = CudaBuffer::import(f.cuda, f.device->export_buffer(*buffer));
        auto cs = CudaSemaphore::import(f.cuda, f.device->export_semaphore(*timeline));
        ASSERT_TRUE(cs->timeline());
        EXPECT_EQ(cb->size(), size_t{w} * h * 4);

        // The stream waits for the host's 1, copies texture -> buffer, then signals 2.
        cs->wait(1, 0);
        ct->copy_to_device(cb->device_pointer(), w * 4, 0);
        cs->signal(2, 0);
        EXPECT_EQ(timeline->value(), 0u) << "the copy must wait for value 1";
        timeline->signal(1);
        timeline->wait(2, 10s);
        std::vector<uint8_t> back(pattern.size());
        buffer->read(back.data(), back.size());
        EXPECT_EQ(back, pattern);

        // And back: Vulkan writes the buffer, CUDA copies it into the texture, Vulkan reads it.
        auto second = ramp(pattern.size(), 101);
        buffer->write(second.data(), second.size());
        cs->wait(3, 0);
        ct->copy_from_device(cb->device_pointer(), w * 4, 0);
        cs->signal(4, 0);
        timeline->signal(3);
        timeline->wait(4, 10s);
        texture->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        EXPECT_EQ(back, second);
        f.cuda->synchronize(0);
    }
    EXPECT_EQ(fd_count(), before) << "CUDA imports must own their fds and free them";
}

TEST(Cuda, DestroyedWithWorkQueuedLeavesItAllocated) {
    FIXTURE_OR_SKIP(f);
    if (!(f.device->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << f.device->info().name << " cannot export timeline semaphores";
    }
    const uint32_t w = 16, h = 8;
    auto texture = f.device->create_shareable_texture(rgba8(w, h));
    auto buffer = f.device->create_shareable_buffer(size_t{w} * h * 4);
    auto timeline = f.device->create_shared_semaphore(geyser::SemaphoreType::kTimeline, 0);
    auto pattern = ramp(size_t{w} * h * 4, 3);
    texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, pattern.data(), pattern.size());
    auto cb = CudaBuffer::import(f.cuda, f.device->export_buffer(*buffer));
    {
        auto ct = CudaTexture::import(f.cuda, f.device->export_texture(*texture));
        auto cs = CudaSemaphore::import(f.cuda, f.device->export_semaphore(*timeline));
        // Queue a wait nobody has satisfied yet and a copy behind it, then destroy both objects:
        // they must stay allocated under that work instead of being freed.
        cs->wait(5, 0);
        ct->copy_to_device(cb->device_pointer(), w * 4, 0);
        cs->signal(6, 0);
    }
    timeline->signal(5);
    timeline->wait(6, 10s);
    f.cuda->synchronize(0);
    std::vector<uint8_t> back(pattern.size());
    buffer->read(back.data(), back.size());
    EXPECT_EQ(back, pattern);
    // Once the work is done, new imports of the same objects work and free normally.
    auto ct = CudaTexture::import(f.cuda, f.device->export_texture(*texture));
    ct->copy_to_device(cb->device_pointer(), w * 4, 0);
    f.cuda->synchronize(0);
}

TEST(Cuda, RefusesBadHandlesWithoutLeaking) {
    FIXTURE_OR_SKIP(f);
    const size_t before = fd_count();
    {
        auto texture = f.device->create_shareable_texture(rgba8(16, 16));
        auto buffer = f.device->create_shareable_buffer(4096);
        geyser::MemoryHandle th = f.device->export_texture(*texture);
        geyser::MemoryHandle bh = f.device->export_buffer(*buffer);

        EXPECT_THROW(CudaBuffer::import(f.cuda, th), geyser::InvalidHandleError);   // a texture as a buffer
        EXPECT_THROW(CudaTexture::import(f.cuda, bh), geyser::InvalidHandleError);  // a buffer as a texture

        geyser::MemoryHandle other = bh.duplicate();
        other.device_uuid[0] ^= 0xff;
        EXPECT_THROW(CudaBuffer::import(f.cuda, other), geyser::DeviceMismatchError);

        geyser::MemoryHandle too_big = bh.duplicate();
        too_big.buffer_size = too_big.size + 1;
        EXPECT_THROW(CudaBuffer::import(f.cuda, too_big), geyser::InvalidHandleError);

        // A texture whose description does not match what this device requires for it.
        geyser::MemoryHandle wrong_extent = th.duplicate();
        wrong_extent.width *= 4;
        EXPECT_THROW(CudaTexture::import(f.cuda, wrong_extent), geyser::InvalidHandleError);

        geyser::MemoryHandle closed = bh.duplicate();
        closed.close();
        EXPECT_THROW(CudaBuffer::import(f.cuda, closed), geyser::InvalidHandleError);

        geyser::TextureDescriptor depth = rgba8(16, 16);
        depth.format = geyser::TextureFormat::kDepth32Float;
        depth.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst;
        auto depth_texture = f.device->create_shareable_texture(depth);
        EXPECT_THROW(CudaTexture::import(f.cuda, f.device->export_texture(*depth_texture)), geyser::UnsupportedFormatError);

        if (f.device->info().fence.exportable & VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT) {
            auto fence = f.device->create_shared_fence();
            EXPECT_THROW(CudaSemaphore::import(f.cuda, f.device->export_fence(*fence)), geyser::InvalidHandleError);
        }
        // Still importable after all that: nothing was poisoned.
        auto good = CudaBuffer::import(f.cuda, bh);
        EXPECT_NE(good->device_pointer(), 0u);
        auto ct = CudaTexture::import(f.cuda, th);
        EXPECT_THROW(ct->copy_to_device(good->device_pointer(), 16 * 4 - 1, 0), geyser::InvalidArgumentError);
        EXPECT_THROW(ct->copy_to_device(0, 16 * 4, 0), geyser::InvalidArgumentError);
    }
    EXPECT_EQ(fd_count(), before);
}

}  // namespace
