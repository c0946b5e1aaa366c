// Internal: the one place that includes volk, and the one Vulkan result checker.
#pragma once

#include <volk.h>

#include <cstdint>

#include "fault.hpp"
#include "geyser/error.hpp"

namespace geyser {

/// Throws VulkanError naming `call` unless `result` is VK_SUCCESS.
inline void check_vk(VkResult result, const char* call) {
    if (result != VK_SUCCESS) throw VulkanError(result, call);
}

/// Runs a Vulkan call that can fail and throws VulkanError naming it if it does. A call armed by
/// fault injection is not made at all: it "returns" VK_ERROR_OUT_OF_DEVICE_MEMORY.
template <typename Call>
void vk_call(const char* name, Call&& call) {
    const VkResult r = fault::injected(name) ? VK_ERROR_OUT_OF_DEVICE_MEMORY : call();
    check_vk(r, name);
}

/// Walks a Vulkan pNext chain: appends `next` behind `head`.
template <typename Head, typename Next>
void chain(Head& head, Next& next) {
    next.pNext = const_cast<void*>(head.pNext);
    head.pNext = &next;
}

}  // namespace geyser
