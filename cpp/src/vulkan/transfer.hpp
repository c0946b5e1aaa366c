// Internal: staging buffers and one-shot command submission used by host I/O.
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

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

/// A SubmitSync split between the GPU and the host, for one submission. The constructor checks
/// every point (see SubmitSync) before anything waits or is submitted. The operation then calls
/// wait_on_host() before it takes any lock another thread may need in order to signal (the
/// resources' mutexes), submits with OneTimeCommands::submit_and_wait(split), and calls
/// signal_on_host() once that has returned. Borrows what `sync` points at.
class SplitSync {
public:
    SplitSync() = default;  ///< Nothing to order.
    SplitSync(const Device& device, const SubmitSync& sync);

    /// Waits on the portable timelines, all within the SubmitSync's host_wait_timeout.
    void wait_on_host() const;
    /// Signals the portable timelines; only after the submission has completed.
    void signal_on_host() const;

    /// What the GPU waits on and signals (semaphores, Vulkan timelines' semaphores).
    const std::vector<std::pair<Semaphore*, uint64_t>>& gpu_wait() const noexcept { return gpu_wait_; }
    const std::vector<std::pair<Semaphore*, uint64_t>>& gpu_signal() const noexcept { return gpu_signal_; }
    Fence* fence() const noexcept { return fence_; }

private:
    std::vector<std::pair<Semaphore*, uint64_t>> gpu_wait_, gpu_signal_;
    std::vector<std::pair<Timeline*, uint64_t>> host_wait_, host_signal_;
    Fence* fence_ = nullptr;
    uint64_t host_wait_timeout_ns_ = 0;
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
    /// Ends recording, submits (waiting on and signalling `sync`'s GPU part, and signalling its
    /// fence) and waits for completion (TimeoutError after `timeout_ns`), including the GPU's
    /// timeline signals. The host part of `sync` is the caller's (SplitSync).
    void submit_and_wait(const SplitSync& sync = {}, uint64_t timeout_ns = kCopyTimeoutNs);

private:
    const Device& device_;
    std::unique_lock<std::mutex> pool_lock_;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool submitted_ = false;
};

}  // namespace geyser
