// Internal: the one place that includes volk, and the one Vulkan result checker.
#pragma once

#include <volk.h>

#include <cstdint>

#include "geyser/error.hpp"

namespace geyser {

/// Throws VulkanError naming `call` unless `result` is VK_SUCCESS.
inline void check_vk(VkResult result, const char* call) {
    if (result != VK_SUCCESS) throw VulkanError(result, call);
}

/// Walks a Vulkan pNext chain: appends `next` behind `head`.
template <typename Head, typename Next>
void chain(Head& head, Next& next) {
    next.pNext = const_cast<void*>(head.pNext);
    head.pNext = &next;
}

}  // namespace geyser
