// Work recorded in the caller's own command buffers between Texture/Buffer::begin_access and
// end_access (a clear, a fill, the example's compute shader), checked through Geyser's own
// download and read, through an importing second Device, and by the validation layer.
#include <chrono>
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "pattern_renderer.hpp"  // examples/cpp; includes volk.h (this target defines VK_NO_PROTOTYPES)

#include "device_support.hpp"
#include "validation_listener.hpp"
#include "support.hpp"

namespace {

using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;


constexpr std::chrono::nanoseconds kTimeout = std::chrono::seconds(10);

void check(VkResult r, const char* call) {
    if (r != VK_SUCCESS) throw geyser::VulkanError(r, call);
}

// A command pool of the device's queue family with one command buffer and a fence: the caller's
// own Vulkan work, submitted to the device's queue under its queue mutex.
class Commands {
public:
    explicit Commands(std::shared_ptr<geyser::Device> device) : device_(std::move(device)), vk_(device_->vk()) {
        VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        pci.queueFamilyIndex = device_->queue_family_index();
        check(vk_.vkCreateCommandPool(device_->vk_device(), &pci, nullptr, &pool_), "vkCreateCommandPool");
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = pool_;
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        check(vk_.vkAllocateCommandBuffers(device_->vk_device(), &ai, &cmd_), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        check(vk_.vkCreateFence(device_->vk_device(), &fci, nullptr, &fence_), "vkCreateFence");
    }
    ~Commands() {
        if (submitted_) vk_.vkWaitForFences(device_->vk_device(), 1, &fence_, VK_TRUE, static_cast<uint64_t>(kTimeout.count()));
        vk_.vkDestroyFence(device_->vk_device(), fence_, nullptr);
        vk_.vkDestroyCommandPool(device_->vk_device(), pool_, nullptr);
    }
    Commands(const Commands&) = delete;
    Commands& operator=(const Commands&) = delete;

    VkCommandBuffer begin() {
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        check(vk_.vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
        return cmd_;
    }
    /// Ends and submits; signals the timeline `signal` to `value` when given.
    void submit(geyser::Semaphore* signal = nullptr, uint64_t value = 0) {
        check(vk_.vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cmd_;
        VkTimelineSemaphoreSubmitInfo ti{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
        VkSemaphore sem = signal ? signal->vk_semaphore() : VK_NULL_HANDLE;
        if (signal) {
            ti.signalSemaphoreValueCount = 1;
            ti.pSignalSemaphoreValues = &value;
            si.pNext = &ti;
            si.signalSemaphoreCount = 1;
            si.pSignalSemaphores = &sem;
        }
        std::lock_guard<std::mutex> lock(device_->queue_mutex());
        check(vk_.vkQueueSubmit(device_->vk_queue(), 1, &si, fence_), "vkQueueSubmit");
        submitted_ = true;
    }
    void wait() {
        check(vk_.vkWaitForFences(device_->vk_device(), 1, &fence_, VK_TRUE, static_cast<uint64_t>(kTimeout.count())), "vkWaitForFences");
        check(vk_.vkResetFences(device_->vk_device(), 1, &fence_), "vkResetFences");
        submitted_ = false;
    }

private:
    std::shared_ptr<geyser::Device> device_;
    const VolkDeviceTable& vk_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool submitted_ = false;
};

// Clears the whole texture to `rgba` (bytes) in the caller's command buffer.
void clear(Commands& cmds, geyser::Device& dev, geyser::Texture& tex, const uint8_t (&rgba)[4]) {
    VkCommandBuffer cb = cmds.begin();
    tex.begin_access(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_TRANSFER_WRITE_BIT);
    // v / 255 is exact in UNORM8.
    VkClearColorValue color{};
    for (int i = 0; i < 4; ++i) color.float32[i] = static_cast<float>(rgba[i]) / 255.0f;
    const VkImageSubresourceRange range{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    dev.vk().vkCmdClearColorImage(cb, tex.vk_image(), VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, &color, 1, &range);
    tex.end_access(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_TRANSFER_WRITE_BIT);
    cmds.submit();
    cmds.wait();
}

std::vector<uint8_t> solid(size_t texels, const uint8_t (&rgba)[4]) {
    std::vector<uint8_t> v(texels * 4);
    for (size_t i = 0; i < v.size(); ++i) v[i] = rgba[i % 4];
    return v;
}

std::vector<uint8_t> download(geyser::Texture& tex, const geyser::SubmitSync& sync = {}) {
    std::vector<uint8_t> out(tex.host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    tex.download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size(), sync);
    return out;
}

// RGBA8 that a compute shader can write as a storage image.
auto storage_rgba8(uint32_t w, uint32_t h) {
    auto d = rgba8(w, h);
    d.usage |= geyser::kTextureUsageStorageBinding;
    return d;
}

std::shared_ptr<geyser::Device> second_device(const geyser::Device& dev) {
    return geyser::Device::open(geyser::uuid_to_hex(dev.info().device_uuid));
}

}  // namespace

TEST(Access, ClearOnANewTextureIsWhatDownloadAndAnImporterRead) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(19, 7));
    Commands cmds(dev);
    // A texture no operation has used: begin_access releases it first, so its acquire mirrors
    // a release (the validation layer checks the pair).
    const uint8_t color[4] = {255, 0, 51, 204};
    clear(cmds, *dev, *tex, color);
    EXPECT_EQ(download(*tex), solid(19 * 7, color));

    geyser::MemoryHandle h = dev->export_texture(*tex);
    auto other = second_device(*dev);
    auto imported = other->import_texture(h);
    EXPECT_EQ(download(*imported), solid(19 * 7, color));

    // The importer's own access follows the same rule, and the exporter sees its writes.
    Commands other_cmds(other);
    const uint8_t color2[4] = {1, 2, 3, 4};
    clear(other_cmds, *other, *imported, color2);
    EXPECT_EQ(download(*tex), solid(19 * 7, color2));
}

TEST(Access, InterleavesWithGeyserOperations) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(16, 16));
    auto copy = dev->create_shareable_texture(rgba8(16, 16));
    Commands cmds(dev);
    std::vector<uint8_t> ramp(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<uint8_t>(i * 7 + 3);
    for (int round = 0; round < 3; ++round) {
        tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, ramp.data(), ramp.size());
        EXPECT_EQ(download(*tex), ramp);
        const uint8_t color[4] = {static_cast<uint8_t>(round), 10, 20, 255};
        clear(cmds, *dev, *tex, color);
        dev->copy_texture(*tex, *copy, {});
        EXPECT_EQ(download(*copy), solid(16 * 16, color));
    }
}

TEST(Access, ComputeShaderDrawsTheExamplePattern) {
    DEVICE_OR_SKIP(dev);
    geyser_example::PatternRenderer renderer(dev);
    // An extent that is not a multiple of the 8x8 workgroup: the shader bounds-checks.
    auto tex = dev->create_shareable_texture(storage_rgba8(37, 19));
    geyser::MemoryHandle h = dev->export_texture(*tex);
    auto other = second_device(*dev);
    auto imported = other->import_texture(h);
    for (uint64_t frame : {1ull, 2ull, 255ull, 256ull, 70001ull, (1ull << 32) + 5}) {
        renderer.render(tex, frame);
        renderer.finish(kTimeout);
        const auto want = geyser_example::expected_pattern(37, 19, frame);
        EXPECT_EQ(download(*tex), want) << "frame " << frame;
        EXPECT_EQ(download(*imported), want) << "frame " << frame << " through the importer";
    }
}

TEST(Access, ComputeIntoARingOrderedByATimelineWithoutHostWait) {
    DEVICE_OR_SKIP(dev);
    if (!dev->info().timeline_semaphores) GTEST_SKIP() << "the device has no timeline semaphores";
    geyser_example::PatternRenderer renderer(dev);
    std::vector<std::shared_ptr<geyser::Texture>> ring;
    for (int i = 0; i < 3; ++i) ring.push_back(dev->create_shareable_texture(storage_rgba8(24, 8)));
    auto ready = dev->create_semaphore(geyser::SemaphoreType::kTimeline, 0);
    for (uint64_t frame = 1; frame <= 7; ++frame) {
        auto& tex = ring[frame % ring.size()];
        renderer.render(tex, frame, ready->vk_semaphore(), frame);
        // Geyser's download waits on the GPU for the render's signal: no host wait between them.
        geyser::SubmitSync sync;
        sync.wait.emplace_back(ready.get(), frame);
        EXPECT_EQ(download(*tex, sync), geyser_example::expected_pattern(24, 8, frame)) << "frame " << frame;
    }
    EXPECT_EQ(ready->value(), 7u);
}

TEST(Access, RendererRefusesTexturesItCannotDrawInto) {
    DEVICE_OR_SKIP(dev);
    geyser_example::PatternRenderer renderer(dev);
    auto no_storage = dev->create_shareable_texture(rgba8(8, 8));
    EXPECT_THROW(renderer.render(no_storage, 1), geyser::UnsupportedOperationError);
    auto other = second_device(*dev);
    auto elsewhere = other->create_shareable_texture(storage_rgba8(8, 8));
    EXPECT_THROW(renderer.render(elsewhere, 1), geyser::DeviceMismatchError);
    // The refusals left nothing half-recorded: the next render works.
    auto tex = dev->create_shareable_texture(storage_rgba8(8, 8));
    renderer.render(tex, 3);
    renderer.finish(kTimeout);
    EXPECT_EQ(download(*tex), geyser_example::expected_pattern(8, 8, 3));
}

TEST(Access, FillOnABufferIsWhatReadAndAnImporterRead) {
    DEVICE_OR_SKIP(dev);
    auto fill = [&](geyser::Device& d, geyser::Buffer& buf, VkDeviceSize offset, VkDeviceSize size, uint32_t word) {
        Commands cmds(d.shared_from_this());
        VkCommandBuffer cb = cmds.begin();
        buf.begin_access(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
        d.vk().vkCmdFillBuffer(cb, buf.vk_buffer(), offset, size, word);
        buf.end_access(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
        cmds.submit();
        cmds.wait();
    };
    auto expect_words = [](const std::vector<uint8_t>& bytes, size_t from, size_t to, uint32_t word) {
        for (size_t i = from; i < to; ++i) {
            ASSERT_EQ(bytes[i], static_cast<uint8_t>(word >> (8 * (i % 4)))) << "byte " << i;
        }
    };
    // A new buffer, filled whole.
    auto buf = dev->create_shareable_buffer(4096);
    fill(*dev, *buf, 0, VK_WHOLE_SIZE, 0x04030201u);
    std::vector<uint8_t> back(4096);
    buf->read(back.data(), back.size());
    expect_words(back, 0, 4096, 0x04030201u);

    // Written by Geyser, then a range filled: the rest is kept.
    std::vector<uint8_t> zeros(4096, 0);
    buf->write(zeros.data(), zeros.size());
    fill(*dev, *buf, 1024, 512, 0xA0B0C0D0u);
    buf->read(back.data(), back.size());
    expect_words(back, 0, 1024, 0);
    expect_words(back, 1024, 1536, 0xA0B0C0D0u);
    expect_words(back, 1536, 4096, 0);

    // An importer sees it, and its own fill is seen by the exporter.
    geyser::MemoryHandle h = dev->export_buffer(*buf);
    auto other = second_device(*dev);
    auto imported = other->import_buffer(h);
    imported->read(back.data(), back.size());
    expect_words(back, 1024, 1536, 0xA0B0C0D0u);
    fill(*other, *imported, 0, 256, 0x11223344u);
    buf->read(back.data(), back.size());
    expect_words(back, 0, 256, 0x11223344u);
    expect_words(back, 1024, 1536, 0xA0B0C0D0u);
}

TEST(Access, RefusesBadArgumentsWithoutRecordingOrLeaking) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(8, 8));
    auto fresh = dev->create_shareable_texture(rgba8(8, 8));
    auto buf = dev->create_shareable_buffer(256);
    auto fresh_buf = dev->create_shareable_buffer(256);
    Commands cmds(dev);
    VkCommandBuffer cb = cmds.begin();
    const size_t before = fd_count();
    constexpr auto kTransfer = VK_PIPELINE_STAGE_TRANSFER_BIT;
    constexpr auto kWrite = VK_ACCESS_TRANSFER_WRITE_BIT;
    constexpr auto kDst = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;

    EXPECT_THROW(tex->begin_access(VK_NULL_HANDLE, kDst, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(tex->begin_access(cb, kDst, 0, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(tex->begin_access(cb, VK_IMAGE_LAYOUT_UNDEFINED, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(tex->begin_access(cb, VK_IMAGE_LAYOUT_PREINITIALIZED, kTransfer, kWrite),
                 geyser::InvalidArgumentError);
    EXPECT_THROW(tex->begin_access(cb, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, kTransfer, kWrite),
                 geyser::InvalidArgumentError);
    // Layouts the usage does not allow: no attachment usage, no storage needed for GENERAL.
    try {
        tex->begin_access(cb, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, kTransfer, kWrite);
        ADD_FAILURE() << "COLOR_ATTACHMENT_OPTIMAL without attachment usage was accepted";
    } catch (const geyser::InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("COLOR_ATTACHMENT"), std::string::npos) << e.what();
    }
    EXPECT_THROW(tex->begin_access(cb, VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL, kTransfer, kWrite),
                 geyser::InvalidArgumentError);
    EXPECT_THROW(tex->end_access(cb, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, kTransfer, kWrite),
                 geyser::InvalidArgumentError);
    EXPECT_THROW(tex->end_access(VK_NULL_HANDLE, kDst, kTransfer, kWrite), geyser::InvalidArgumentError);
    // Nothing to release on a texture or buffer whose access never began.
    EXPECT_THROW(fresh->end_access(cb, kDst, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(fresh_buf->end_access(cb, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(buf->begin_access(VK_NULL_HANDLE, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(buf->begin_access(cb, 0, kWrite), geyser::InvalidArgumentError);
    EXPECT_THROW(buf->end_access(VK_NULL_HANDLE, kTransfer, kWrite), geyser::InvalidArgumentError);
    EXPECT_EQ(fd_count(), before);

    // The refusals recorded nothing: the same command buffer records a valid access (the
    // validation layer would report a stray barrier) and everything still works.
    tex->begin_access(cb, kDst, kTransfer, kWrite);
    const VkClearColorValue black{};
    const VkImageSubresourceRange range{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    dev->vk().vkCmdClearColorImage(cb, tex->vk_image(), kDst, &black, 1, &range);
    tex->end_access(cb, kDst, kTransfer, kWrite);
    cmds.submit();
    cmds.wait();
    const uint8_t zero[4] = {0, 0, 0, 0};
    EXPECT_EQ(download(*tex), solid(64, zero));
    EXPECT_EQ(download(*fresh).size(), 64u * 4);
    std::vector<uint8_t> back(256);
    fresh_buf->read(back.data(), back.size());
}
