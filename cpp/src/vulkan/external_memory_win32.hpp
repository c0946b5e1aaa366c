// Internal, Windows only: exporting and importing VkDeviceMemory and VkSemaphore payloads as NT
// handles (VK_EXTERNAL_*_HANDLE_TYPE_OPAQUE_WIN32_BIT). The counterpart of external_memory.hpp's
// opaque-fd implementation; its code is in external_memory_opaque_win32.cpp.
//
// These take a VkDevice and its volk dispatch table rather than a geyser::Device, because Device
// (device.cpp, memory.cpp, sync.cpp) is not yet built for Windows (docs/platforms.md). The device
// must have been created with VK_KHR_external_memory_win32 and VK_KHR_external_semaphore_win32
// enabled. Thread safety: as the underlying Vulkan calls (none needs external synchronisation).
#pragma once

#include <cstdint>

#include "geyser/unique_handle.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

/// The device extensions the Win32 handle types need.
extern const char* const kWin32ExternalDeviceExtensions[2];

/// What to allocate when importing memory. `borrowed_handle` stays the caller's: importing an NT
/// handle never consumes it.
struct MemoryImportWin32 {
    VkExternalMemoryHandleTypeFlagBits handle_type;
    NativeHandle borrowed_handle;
    VkDeviceSize size;
    uint32_t memory_type_index;
    VkImage dedicated_image = VK_NULL_HANDLE;
    VkBuffer dedicated_buffer = VK_NULL_HANDLE;
};

/// Throws UnsupportedOperationError unless `physical_device` can export and import OPAQUE_WIN32
/// buffers and binary semaphores (vkGetPhysicalDeviceExternal{Buffer,Semaphore}Properties, which
/// volk loads with the instance).
void check_win32_external_support(VkPhysicalDevice physical_device, VkBufferUsageFlags buffer_usage);

/// A new NT handle for `memory` (allocated with VkExportMemoryAllocateInfo naming `handle_type`),
/// owned by the caller through the returned UniqueHandle.
UniqueHandle export_memory_win32(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory,
                                 VkExternalMemoryHandleTypeFlagBits handle_type);

/// Allocates memory that imports the payload behind `request.borrowed_handle`. Throws
/// UnsupportedOperationError for a handle type other than OPAQUE_WIN32, InvalidHandleError for a
/// null handle or when the driver refuses it. The caller owns the returned memory.
VkDeviceMemory import_memory_win32(VkDevice device, const VolkDeviceTable& vk, const MemoryImportWin32& request);

/// A new NT handle for the payload of `semaphore` (created with VkExportSemaphoreCreateInfo naming
/// OPAQUE_WIN32), owned by the caller.
UniqueHandle export_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                    VkExternalSemaphoreHandleTypeFlagBits handle_type);

/// Imports the payload behind `borrowed_handle` into `semaphore` (permanently). The handle stays
/// the caller's. Throws as import_memory_win32 does.
void import_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                            VkExternalSemaphoreHandleTypeFlagBits handle_type, NativeHandle borrowed_handle);

}  // namespace geyser
