// Internal: the per-VkFormat driver query behind Device::format_support and the texture import
// checks. Free of volk so that tests can call it directly (tests/cpp/test_formats.cpp).
#pragma once

#include <string>

#include <vulkan/vulkan_core.h>

#include "geyser/device.hpp"

namespace geyser {

/// Asks `device`'s driver whether a 2D optimal-tiling image of `format` with `usage` can have
/// external memory of `handle_type` (vkGetPhysicalDeviceImageFormatProperties2). Returns false
/// with `reason` set when it cannot be created at all; otherwise fills `out` (which may still say
/// neither exportable nor importable). Formats the core cannot copy (format_aspects) are answered
/// false without asking the driver, which takes only valid VkFormat values
/// (VUID-VkPhysicalDeviceImageFormatInfo2-format-parameter) while a handle's format comes from
/// another process. Does not check the fork guard: callers do. Thread-safe.
bool query_image_format(const Device& device, VkFormat format, VkImageUsageFlags usage,
                        VkExternalMemoryHandleTypeFlagBits handle_type, HandleTypeSupport& out, std::string& reason);

}  // namespace geyser
