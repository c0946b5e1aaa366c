// Internal: the checks every memory import runs before the driver sees an fd, in the order
// Device::import_texture (texture.cpp) and Device::import_buffer (buffer.cpp) run them: what the
// handle describes (kind, UUIDs, handle type, image or buffer parameters), then, once the image or
// buffer is created, the allocation (size, memory type, dedication) against what this device
// requires for it. Drivers check none of this (DRIVER_FACTS.md). All thread-safe.
#pragma once

#include <string>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "vulkan/external_memory/fd.hpp"
#include "vulkan/memory_requirements.hpp"

namespace geyser {

/// The checks every import shares: resource kind, device identity, the device's support for the
/// handle type (`support`: DeviceInfo::image_memory or buffer_memory), a service for it, and the
/// fd (open, not a pipe or socket, then the service's check_fd). Returns the service to import
/// with. Throws InvalidHandleError, DeviceMismatchError or UnsupportedOperationError.
const FdMemoryService& check_common(Device& d, const MemoryHandle& h, ResourceKind expected,
                                    const ExternalHandleTypes& support);

/// Textures: the portable tag first, which decides how the other side reads the bytes, while no
/// driver can tell: a non-zero texture_format must be in the table and list vk_format
/// (format_tag_mismatch). A handle of another kind passes (check_common refuses it next).
void check_texture_tag(const MemoryHandle& h);
/// Textures, after check_common: the image parameters (usage bits Geyser's textures have, extent,
/// tiling, create flags, a shareable layout) and, through the driver, that the device can import
/// such an image as `service`'s type, within its maximum extent; every difference in one
/// InvalidHandleError. Returns what the driver reported for that image and type.
HandleTypeSupport check_image_description(const Device& d, const MemoryHandle& h, const ExternalMemoryService& service);
/// Textures, once the image is created: the handle's size, memory type and dedication against what
/// this device requires for it (`req`) and what the type requires (`caps.dedicated_only`); the
/// exporter's allocationSize and memoryTypeIndex must be repeated (the spec's VkMemoryAllocateInfo
/// import rules) and the driver does not check them. Every difference in one InvalidHandleError.
void check_image_allocation(const Device& d, const MemoryHandle& h, const Requirements& req,
                            const HandleTypeSupport& caps);

/// Buffers, after check_common: the usage bits Geyser's buffers have (both TRANSFER bits, no
/// others than it creates buffers with) and a size within the allocation. InvalidHandleError.
void check_buffer_description(const MemoryHandle& h);
/// Buffers, once the buffer is created: size, memory type and dedication as for
/// check_image_allocation. InvalidHandleError.
void check_buffer_allocation(const Device& d, const MemoryHandle& h, const Requirements& req);

/// The end of an import (and of any allocation): frees `memory` (if any), after restoring the
/// driver's header in `file` where a peer rewrote it since the import, since the driver frees by
/// it (Device::keep_memory_file_for_free; `file` is empty where it does not). Never throws.
void release_memory(Device& d, VkDeviceMemory memory, UniqueFd& file, VkDeviceSize allocation_size) noexcept;

}  // namespace geyser
