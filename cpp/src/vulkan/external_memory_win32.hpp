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
#include <utility>

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

/// The one NT handle Vulkan hands out for one object and handle type.
///
/// The rule (VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663 and
/// VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01128): for an NT handle type such as
/// OPAQUE_WIN32, vkGetMemoryWin32HandleKHR / vkGetSemaphoreWin32HandleKHR may be called at most
/// once for each object and handle type. So an object is exported once, into a Win32Export that
/// the object's owner keeps beside it for the object's whole life, and every further use takes a
/// duplicate() (or lends get() to PipeChannel::send, which duplicates into the peer itself).
///
/// export_memory_win32 and export_semaphore_win32 enforce the rule while the Win32Export lives:
/// a second export of the same object and handle type throws InvalidArgumentError. Destroy the
/// Win32Export only together with the object (after vkFreeMemory / vkDestroySemaphore, or just
/// before): an export after the Win32Export is gone cannot be told from one of a new object that
/// reused the handle value, so it is not caught.
///
/// Move-only; the destructor closes the handle (CloseHandle: the payload lives on while any
/// duplicate or import holds it). Thread-safety: const members may be called from any thread;
/// moving or destroying must not overlap other calls.
class Win32Export {
public:
    Win32Export(Win32Export&& other) noexcept;
    Win32Export& operator=(Win32Export&& other) noexcept;
    Win32Export(const Win32Export&) = delete;
    Win32Export& operator=(const Win32Export&) = delete;
    ~Win32Export();

    /// The exported handle, borrowed: valid while this object lives. Never CloseHandle it.
    NativeHandle get() const noexcept { return handle_.get(); }
    /// A new owner of a duplicate of the exported handle (DuplicateHandle, same access): give this
    /// to whoever needs a handle of their own. Throws Win32Error.
    UniqueHandle duplicate() const { return handle_.duplicate(); }

    /// Which object and handle type an export belongs to (for the one-export registry).
    struct Key {
        uint64_t device = 0;
        uint64_t object = 0;
        uint32_t kind = 0;  // 1: VkDeviceMemory, 2: VkSemaphore
        uint32_t handle_type = 0;
        bool operator<(const Key& o) const noexcept;
    };
    /// Used by the export functions: takes the handle Vulkan returned for `key`, which the caller
    /// has registered.
    Win32Export(UniqueHandle handle, const Key& key) noexcept : handle_(std::move(handle)), key_(key), registered_(true) {}

private:
    void unregister() noexcept;

    UniqueHandle handle_;
    Key key_;
    bool registered_ = false;
};

/// Exports `memory` (allocated with VkExportMemoryAllocateInfo naming `handle_type`): the one
/// vkGetMemoryWin32HandleKHR call for this memory and handle type. The caller owns the returned
/// Win32Export. Throws UnsupportedOperationError for a handle type other than OPAQUE_WIN32,
/// InvalidArgumentError when this memory already has a live Win32Export for that type.
Win32Export export_memory_win32(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory,
                                VkExternalMemoryHandleTypeFlagBits handle_type);

/// Allocates memory that imports the payload behind `request.borrowed_handle`. Throws
/// UnsupportedOperationError for a handle type other than OPAQUE_WIN32, InvalidHandleError for a
/// null handle or when the driver refuses it. The caller owns the returned memory.
VkDeviceMemory import_memory_win32(VkDevice device, const VolkDeviceTable& vk, const MemoryImportWin32& request);

/// Exports the payload of `semaphore` (created with VkExportSemaphoreCreateInfo naming
/// OPAQUE_WIN32): the one vkGetSemaphoreWin32HandleKHR call for this semaphore and handle type, as
/// export_memory_win32 is for memory, and throwing as it does.
Win32Export export_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                   VkExternalSemaphoreHandleTypeFlagBits handle_type);

/// Imports the payload behind `borrowed_handle` into `semaphore` (permanently). The handle stays
/// the caller's. Throws as import_memory_win32 does.
void import_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                            VkExternalSemaphoreHandleTypeFlagBits handle_type, NativeHandle borrowed_handle);

}  // namespace geyser
