// Internal: what the driver requires of the memory behind an image or a buffer
// (vkGet*MemoryRequirements2 with VkMemoryDedicatedRequirements), asked when allocating and when
// checking an import alike.
#pragma once

#include "geyser/device.hpp"

namespace geyser {

/// What the driver requires of one image's or buffer's memory. Plain data.
struct Requirements {
    VkMemoryRequirements memory{};
    bool dedicated = false;  ///< A dedicated allocation is required or preferred.
    bool required_dedicated = false;
};

/// The requirements of `image` on `d`. Thread-safe.
Requirements image_requirements(const Device& d, VkImage image);
/// The requirements of `buffer` on `d`. Thread-safe.
Requirements buffer_requirements(const Device& d, VkBuffer buffer);

}  // namespace geyser
