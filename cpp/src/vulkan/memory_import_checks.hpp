// Internal: the checks every memory import runs before the driver sees an fd, shared by
// Device::import_texture (texture.cpp) and Device::import_buffer (buffer.cpp).
#pragma once

#include <string>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "vulkan/memory_requirements.hpp"

namespace geyser {

/// Whether `l` is a layout an exporter may leave a shared image in.
bool is_known_layout(VkImageLayout l);

// The checks every import shares: resource kind, device identity, handle type, fd kind.
void check_common(Device& d, const MemoryHandle& h, ResourceKind expected, const ExternalHandleTypes& support);

// Import of an opaque handle must repeat the exporter's allocationSize and memoryTypeIndex (the
// spec's VkMemoryAllocateInfo import rules), and the driver does not check them; compare with
// what this device requires for the identical resource.
void check_allocation(const Device& d, const MemoryHandle& h, const Requirements& req, std::string& diff);

}  // namespace geyser
