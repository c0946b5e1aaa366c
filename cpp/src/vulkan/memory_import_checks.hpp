// Internal: the checks every memory import runs before the driver sees an fd, shared by
// Device::import_texture (texture.cpp) and Device::import_buffer (buffer.cpp).
#pragma once

#include <string>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "vulkan/external_memory_fd.hpp"
#include "vulkan/memory_requirements.hpp"

namespace geyser {

/// Whether `l` is a layout an exporter may leave a shared image in.
bool is_known_layout(VkImageLayout l);

/// The checks every import shares: resource kind, device identity, the device's support for the
/// handle type (`support`: DeviceInfo::image_memory or buffer_memory), a service for it, and the
/// fd (open, not a pipe or socket, then the service's check_fd). Returns the service to import
/// with. Throws InvalidHandleError, DeviceMismatchError or UnsupportedOperationError.
const FdMemoryService& check_common(Device& d, const MemoryHandle& h, ResourceKind expected,
                                    const ExternalHandleTypes& support);

/// Import of an opaque handle must repeat the exporter's allocationSize and memoryTypeIndex (the
/// spec's VkMemoryAllocateInfo import rules), and the driver does not check them; compare with
/// what this device requires for the identical resource. Appends each difference to `diff`.
void check_allocation(const Device& d, const MemoryHandle& h, const Requirements& req, std::string& diff);

}  // namespace geyser
