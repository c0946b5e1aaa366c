// Internal: which Vulkan drivers a child forked after its parent opened Vulkan must not touch.
// Free of Vulkan headers so tests can check the table directly.
#pragma once

#include <cstdint>

namespace geyser {

/// Whether the driver with this VkDriverId must not be used at all in a process forked after its
/// parent had opened Vulkan. Where the parent's instance found one, the child gets no Vulkan at
/// all (the loader would load every driver, this one included). NVIDIA's proprietary driver refuses vkCreateDevice in such a child
/// (VK_ERROR_INITIALIZATION_FAILED), and a child that tried, with the Khronos validation layer
/// loaded, left the parent's next vkCreateDevice blocked for good inside the driver
/// (docs/hardware.md, runs 37-42). Lavapipe opens devices in forked children and is not listed;
/// drivers nobody has measured are not listed either, and fail (or not) in vkCreateDevice.
bool driver_refuses_forked_children(int32_t vk_driver_id) noexcept;

}  // namespace geyser
