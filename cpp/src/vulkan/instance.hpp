// Internal: the process-wide VkInstance, created on first use and shared by every Device.
#pragma once

#include <memory>
#include <vector>

#include "vulkan/vk.hpp"

namespace geyser {

/// Owns the VkInstance (and the validation messenger when GEYSER_VALIDATION=1). One exists per
/// process, created on first use and kept until the process exits (instance.cpp says why);
/// Devices also hold it by shared_ptr.
class Instance {
public:
    /// The live instance, or a new one. Throws VulkanUnavailableError with install advice when
    /// there is no loader or no driver.
    static std::shared_ptr<Instance> get();
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    VkInstance handle() const noexcept { return instance_; }
    const std::vector<VkPhysicalDevice>& physical_devices() const noexcept { return physical_; }

private:
    Instance() = default;
    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    std::vector<VkPhysicalDevice> physical_;
};

/// Whether this process is a fork() child of a process that had Vulkan open at the time. Some
/// drivers (NVIDIA's) cannot open a device in such a child at all.
bool forked_after_vulkan() noexcept;

/// Counts the fork() children this process descends from (0 in a process nobody forked). A
/// Device remembers it, so an inherited one is recognised without a system call.
uint64_t fork_generation() noexcept;

}  // namespace geyser
