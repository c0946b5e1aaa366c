// Internal: staging buffers and one-shot command submission used by host I/O.
#pragma once

#include <cstdint>
#include <mutex>

#include "geyser/device.hpp"
#include "geyser/sync.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

/// Default bound on waiting for Geyser's own copies to finish (GPU hangs must not hang Python).
constexpr uint64_t kCopyTimeoutNs = 30ull * 1000 * 1000 * 1000;

/// A host-visible, coherent, persistently mapped buffer. Destroyed with its owner.
class StagingBuffer {
public:
    StagingBuffer(const Device& device, VkDeviceSize size, bool readback);
    ~StagingBuffer();
    StagingBuffer(const StagingBuffer&) = delete;
    StagingBuffer& operator=(const StagingBuffer&) = delete;
    VkBuffer buffer() const noexcept { return buffer_; }
    void* data() const noexcept { return mapped_; }

private:
    void destroy() noexcept;
    const Device& device_;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    void* mapped_ = nullptr;
};

/// One primary command buffer from the device's pool, recorded by the caller between
/// construction and submit_and_wait(). Holds the pool lock while recording, because a command
/// pool and its buffers need external synchronisation.
class OneTimeCommands {
public:
    explicit OneTimeCommands(const Device& device);
    ~OneTimeCommands();
    OneTimeCommands(const OneTimeCommands&) = delete;
    OneTimeCommands& operator=(const OneTimeCommands&) = delete;
    VkCommandBuffer cmd() const noexcept { return cmd_; }
    /// Ends recording, submits (waiting on and signalling `sync`'s semaphores on the GPU, and
    /// signalling its fence) and waits for completion (TimeoutError after `timeout_ns`).
    void submit_and_wait(const SubmitSync& sync = {}, uint64_t timeout_ns = kCopyTimeoutNs);

private:
    const Device& device_;
    std::unique_lock<std::mutex> pool_lock_;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool submitted_ = false;
};

}  // namespace geyser
