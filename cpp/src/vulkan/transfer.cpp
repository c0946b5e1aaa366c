#include "vulkan/transfer.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "geyser/timeline.hpp"
#include "timeout.hpp"

namespace geyser {

namespace {

std::string values(uint64_t current, uint64_t asked) {
    return "current " + std::to_string(current) + ", asked " + std::to_string(asked);
}

Semaphore* gpu_semaphore(const Device& device, const SyncPoint& p, const char* role) {
    if ((p.semaphore == nullptr) == (p.timeline == nullptr)) {
        throw InvalidArgumentError(std::string("a ") + role + " point names exactly one semaphore or timeline");
    }
    Semaphore* s = p.semaphore ? p.semaphore : p.timeline->semaphore();
    if (s != nullptr && s->device().get() != &device) {
        throw DeviceMismatchError(std::string("a ") + role + (p.semaphore ? " semaphore" : " timeline") +
                                  " belongs to another Device");
    }
    return s;  // null: a portable timeline
}

}  // namespace

SplitSync::SplitSync(const Device& device, const SubmitSync& sync)
    : fence_(sync.fence), host_wait_timeout_ns_(nanoseconds_of(sync.host_wait_timeout)) {
    for (const SyncPoint& p : sync.wait) {
        Semaphore* s = gpu_semaphore(device, p, "wait");
        if (s) {
            gpu_wait_.emplace_back(s, p.value);
        } else {
            host_wait_.emplace_back(p.timeline, p.value);
        }
    }
    for (const SyncPoint& p : sync.signal) {
        Semaphore* s = gpu_semaphore(device, p, "signal");
        if (p.semaphore) {
            // A GPU signal of a timeline semaphore must raise it (VUID-VkSubmitInfo-pSignalSemaphores-03242).
            if (s->type() == SemaphoreType::kTimeline) {
                const uint64_t current = s->value();
                if (p.value <= current) {
                    throw InvalidArgumentError("a timeline semaphore's signal must raise its value: " +
                                               values(current, p.value));
                }
            }
            gpu_signal_.emplace_back(s, p.value);
            continue;
        }
        // A Timeline of either kind: as Timeline::signal, equal is nothing and lower refused.
        const uint64_t current = p.timeline->value();
        if (p.value < current) throw InvalidArgumentError("timeline value must not decrease: " + values(current, p.value));
        if (s) {
            if (p.value > current) gpu_signal_.emplace_back(s, p.value);
        } else {
            host_signal_.emplace_back(p.timeline, p.value);
        }
    }
    if (fence_ && fence_->device().get() != &device) throw DeviceMismatchError("the fence belongs to another Device");
}

void SplitSync::wait_on_host() const {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    for (const auto& [timeline, value] : host_wait_) {
        const auto spent = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
        timeline->wait(value, timeout_of(spent < host_wait_timeout_ns_ ? host_wait_timeout_ns_ - spent : 0));
    }
}

void SplitSync::signal_on_host() const {
    for (const auto& [timeline, value] : host_signal_) timeline->signal(value);
}

StagingBuffer::StagingBuffer(const Device& device, VkDeviceSize size, bool readback) : device_(device) {
    const auto& vk = device.vk();
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = readback ? VK_BUFFER_USAGE_TRANSFER_DST_BIT : VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    vk_call("vkCreateBuffer", [&] { return vk.vkCreateBuffer(device.vk_device(), &bci, nullptr, &buffer_); });
    try {
        VkMemoryRequirements req;
        vk.vkGetBufferMemoryRequirements(device.vk_device(), buffer_, &req);
        const VkMemoryPropertyFlags required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        const VkMemoryPropertyFlags preferred = readback ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : 0;
        VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
        mai.allocationSize = req.size;
        mai.memoryTypeIndex = device.choose_memory_type(req.memoryTypeBits, required, required | preferred);
        vk_call("vkAllocateMemory(staging)", [&] { return vk.vkAllocateMemory(device.vk_device(), &mai, nullptr, &memory_); });
        vk_call("vkBindBufferMemory(staging)", [&] { return vk.vkBindBufferMemory(device.vk_device(), buffer_, memory_, 0); });
        vk_call("vkMapMemory(staging)", [&] { return vk.vkMapMemory(device.vk_device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_); });
    } catch (...) {
        destroy();
        throw;
    }
}

StagingBuffer::~StagingBuffer() { destroy(); }

void StagingBuffer::destroy() noexcept {
    const auto& vk = device_.vk();
    if (buffer_ != VK_NULL_HANDLE) vk.vkDestroyBuffer(device_.vk_device(), buffer_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vk.vkFreeMemory(device_.vk_device(), memory_, nullptr);
    buffer_ = VK_NULL_HANDLE;
    memory_ = VK_NULL_HANDLE;
}

OneTimeCommands::OneTimeCommands(const Device& device) : device_(device), pool_lock_(device.pool_mutex()) {
    const auto& vk = device.vk();
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = device.command_pool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    vk_call("vkAllocateCommandBuffers", [&] { return vk.vkAllocateCommandBuffers(device.vk_device(), &ai, &cmd_); });
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VkResult r = vk.vkBeginCommandBuffer(cmd_, &bi);
    if (r != VK_SUCCESS) {
        vk.vkFreeCommandBuffers(device.vk_device(), device.command_pool(), 1, &cmd_);
        throw VulkanError(r, "vkBeginCommandBuffer");
    }
}

OneTimeCommands::~OneTimeCommands() {
    const auto& vk = device_.vk();
    if (fence_ != VK_NULL_HANDLE) {
        // A submitted batch must finish before its command buffer is freed; if the wait timed
        // out, wait again without bound only on device loss paths, where the driver returns.
        if (submitted_) vk.vkWaitForFences(device_.vk_device(), 1, &fence_, VK_TRUE, kCopyTimeoutNs);
        vk.vkDestroyFence(device_.vk_device(), fence_, nullptr);
    }
    if (!pool_lock_.owns_lock()) pool_lock_.lock();
    vk.vkFreeCommandBuffers(device_.vk_device(), device_.command_pool(), 1, &cmd_);
}

void OneTimeCommands::submit_and_wait(const SplitSync& sync, uint64_t timeout_ns) {
    const auto& vk = device_.vk();
    vk_call("vkEndCommandBuffer", [&] { return vk.vkEndCommandBuffer(cmd_); });
    pool_lock_.unlock();
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vk_call("vkCreateFence", [&] { return vk.vkCreateFence(device_.vk_device(), &fci, nullptr, &fence_); });
    std::vector<VkSemaphore> wait_sems, signal_sems;
    std::vector<uint64_t> wait_values, signal_values;
    std::vector<VkPipelineStageFlags> wait_stages;
    bool timeline = false;
    for (const auto& [sem, value] : sync.gpu_wait()) {
        wait_sems.push_back(sem->vk_semaphore());
        wait_values.push_back(value);
        wait_stages.push_back(VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
        timeline |= sem->type() == SemaphoreType::kTimeline;
    }
    for (const auto& [sem, value] : sync.gpu_signal()) {
        signal_sems.push_back(sem->vk_semaphore());
        signal_values.push_back(value);
        timeline |= sem->type() == SemaphoreType::kTimeline;
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    si.waitSemaphoreCount = static_cast<uint32_t>(wait_sems.size());
    si.pWaitSemaphores = wait_sems.data();
    si.pWaitDstStageMask = wait_stages.data();
    si.signalSemaphoreCount = static_cast<uint32_t>(signal_sems.size());
    si.pSignalSemaphores = signal_sems.data();
    // Values for binary semaphores in the same batch are ignored, but the arrays must cover them.
    VkTimelineSemaphoreSubmitInfo ti{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ti.waitSemaphoreValueCount = static_cast<uint32_t>(wait_values.size());
    ti.pWaitSemaphoreValues = wait_values.data();
    ti.signalSemaphoreValueCount = static_cast<uint32_t>(signal_values.size());
    ti.pSignalSemaphoreValues = signal_values.data();
    if (timeline) chain(si, ti);
    {
        std::lock_guard<std::mutex> q(device_.queue_mutex());
        vk_call("vkQueueSubmit", [&] { return vk.vkQueueSubmit(device_.vk_queue(), 1, &si, fence_); });
        // An empty submission signals the user's fence once everything before it has finished.
        if (sync.fence()) {
            vk_call("vkQueueSubmit(fence)",
                    [&] { return vk.vkQueueSubmit(device_.vk_queue(), 0, nullptr, sync.fence()->vk_fence()); });
        }
    }
    submitted_ = true;
    VkResult r = vk.vkWaitForFences(device_.vk_device(), 1, &fence_, VK_TRUE, timeout_ns);
    if (r == VK_TIMEOUT) {
        throw TimeoutError("the device did not finish a copy within " + std::to_string(timeout_ns / 1000000) + " ms");
    }
    check_vk(r, "vkWaitForFences");
    submitted_ = false;
    // The fence does not order the batch's semaphore signal operations before itself (lavapipe
    // lets vkGetSemaphoreCounterValue lag behind the fence), so a timeline this copy signals is
    // waited for too: when a Geyser operation returns, everything it signals has happened.
    for (const auto& [sem, value] : sync.gpu_signal()) {
        if (sem->type() == SemaphoreType::kTimeline) sem->wait(value, timeout_of(timeout_ns));
    }
}

}  // namespace geyser
