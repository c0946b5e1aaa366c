// Internal: exporting and importing VkDeviceMemory as OS handles. One implementation per handle
// type lives in its own file (external_memory_opaque_fd.cpp today); callers go through these.
#pragma once

#include <cstdint>

#include "geyser/device.hpp"
#include "geyser/unique_fd.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

/// What to allocate when importing: the caller has already checked the description.
struct MemoryImport {
    VkExternalMemoryHandleTypeFlagBits handle_type;
    int borrowed_fd;               // never closed or consumed by import_memory
    VkDeviceSize size;
    uint32_t memory_type_index;
    VkImage dedicated_image = VK_NULL_HANDLE;
    VkBuffer dedicated_buffer = VK_NULL_HANDLE;
    // No VkExportMemoryAllocateInfo is chained on imports: on NVIDIA 580 an import allocation
    // that also asks to be exportable silently gets fresh zeroed memory instead of the payload
    // (measured on the H100, docs/hardware.md). Imported memory is therefore not re-exported.
};

/// Screens an fd before any driver sees it: the handle type must be one this platform imports,
/// and the fd must be the kind of file `device` exports memory as. Throws InvalidHandleError.
void check_memory_fd(Device& device, int fd, VkExternalMemoryHandleTypeFlagBits handle_type);

/// A new OS handle for `memory`, owned by the caller.
UniqueFd export_memory(const Device& device, VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits handle_type);

/// Allocates memory that imports a duplicate of `request.borrowed_fd`. Throws InvalidHandleError
/// when the driver refuses the fd.
VkDeviceMemory import_memory(Device& device, const MemoryImport& request);

}  // namespace geyser
