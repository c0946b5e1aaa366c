// Draws the moving test pattern into Geyser textures with a Vulkan compute shader (pattern.comp),
// in command buffers of its own: the example of Texture::begin_access/end_access that
// producer.cpp publishes through a Sender, and that tests/cpp/test_access.cpp checks.
//
// Vulkan calls go through the Device's own function table (geyser::Device::vk(), volk's
// VolkDeviceTable): build with VK_NO_PROTOTYPES defined, as volk requires, and no
// VK_USE_PLATFORM_* macro, as geyser_core on Linux, so the table has the core's layout.
#pragma once

#include <volk.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <geyser/geyser.hpp>

namespace geyser_example {

/// The pattern's RGBA8 bytes for `frame`, computed on the host: texel (x, y) holds, modulo 256,
/// R = x + 3f, G = y + 5f, B = (x ^ y) + 7f, A = 2x + y + 11f (geyser.demo.pattern for RGBA8).
std::vector<uint8_t> expected_pattern(uint32_t width, uint32_t height, uint64_t frame);

/// A compute pipeline that writes expected_pattern(frame) into an RGBA8_UNORM texture with
/// STORAGE_BINDING usage, with no host upload. Owns its Vulkan objects (pipeline, descriptor
/// pool, a storage-image view and descriptor set per texture it has drawn into, which it keeps
/// alive, a command pool for the device's queue family, one command buffer and its fence) and
/// holds its Device alive. Not thread-safe: one thread renders with one PatternRenderer.
class PatternRenderer {
public:
    /// Textures one renderer can draw into (a Sender's ring has at most 64).
    static constexpr uint32_t kMaxTextures = 64;

    /// Builds the pipeline. geyser::UnsupportedFormatError where the device cannot use RGBA8 as a
    /// shareable storage image; geyser::VulkanError naming the call that failed.
    explicit PatternRenderer(std::shared_ptr<geyser::Device> device);
    /// Waits (bounded) for the last submission, then destroys what it created.
    ~PatternRenderer();
    PatternRenderer(const PatternRenderer&) = delete;
    PatternRenderer& operator=(const PatternRenderer&) = delete;

    /// Records texture->begin_access (GENERAL, compute shader writes), the dispatch and
    /// texture->end_access, and submits it to the device's queue (under its queue mutex). The
    /// submission signals the timeline semaphore `signal` to `signal_value` when `signal` is not
    /// null (a Sender frame's ready_semaphore and number). Returns once submitted, after waiting
    /// for the previous render to finish (its command buffer is reused); finish() waits for this
    /// one. geyser::DeviceMismatchError for another device's texture, UnsupportedFormatError
    /// for one that is not RGBA8_UNORM, UnsupportedOperationError without STORAGE_BINDING,
    /// InvalidArgumentError past kMaxTextures textures.
    void render(const std::shared_ptr<geyser::Texture>& texture, uint64_t frame, VkSemaphore signal = VK_NULL_HANDLE,
                uint64_t signal_value = 0);
    /// Waits until the last render has finished on the GPU; geyser::TimeoutError after
    /// `timeout`. Afterwards its writes are released to VK_QUEUE_FAMILY_EXTERNAL and Geyser's
    /// operations (download, an end_frame with ReadySignal::kHost) may follow.
    void finish(std::chrono::nanoseconds timeout);

private:
    struct Target {
        std::shared_ptr<geyser::Texture> texture;
        VkImageView view = VK_NULL_HANDLE;
        VkDescriptorSet set = VK_NULL_HANDLE;
    };
    const Target& target_for(const std::shared_ptr<geyser::Texture>& texture);
    void destroy() noexcept;

    std::shared_ptr<geyser::Device> device_;
    const VolkDeviceTable& vk_;
    VkShaderModule shader_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
    VkCommandPool command_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool in_flight_ = false;  // a submission the fence has not been waited for yet
    std::vector<Target> targets_;
};

}  // namespace geyser_example
