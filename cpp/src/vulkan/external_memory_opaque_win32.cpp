#include <windows.h>

#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>

#include "geyser/error.hpp"
#include "vulkan/external_memory_win32.hpp"

namespace geyser {

const char* const kWin32ExternalDeviceExtensions[2] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME,
                                                       VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME};

namespace {

// external_handle_type_name() lives in device.cpp, which Windows does not build yet.
std::string handle_type_text(uint32_t bit) {
    if (bit == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) return "opaque_win32_kmt";
    if (bit == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) return "opaque_fd";
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%x", bit);
    return buf;
}

// Only the NT-handle type. OPAQUE_WIN32_KMT handles are refused by design, not for want of code:
// a KMT handle is a global name that any process can open, and it holds no reference to the
// payload (it is not a reference-counted NT handle that CloseHandle releases), so it can neither
// be given to one process only nor keep the memory alive.
void require_opaque_win32(uint32_t handle_type, uint32_t expected, const char* what) {
    if (handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
        static_assert(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT ==
                          static_cast<uint32_t>(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT),
                      "memory and semaphore KMT bits agree");
        throw UnsupportedOperationError(std::string("external ") + what +
                                        " handle type opaque_win32_kmt is refused by design: KMT handles are "
                                        "global names that any process can open and hold no reference to the "
                                        "payload (they are not reference-counted NT handles); use opaque_win32");
    }
    if (handle_type != expected) {
        throw UnsupportedOperationError(std::string("external ") + what + " handle type " +
                                        handle_type_text(handle_type) + " is not supported on Windows; use opaque_win32");
    }
}

// The one-export registry (external_memory_win32.hpp): the objects that have a live Win32Export.
std::mutex g_exports_mutex;
std::set<Win32Export::Key>& exports() {
    static std::set<Win32Export::Key> keys;
    return keys;
}

template <typename VkHandle>
uint64_t handle_bits(VkHandle h) {
    if constexpr (std::is_pointer<VkHandle>::value) {
        return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(h));
    } else {
        return static_cast<uint64_t>(h);
    }
}

// Registers `key` or throws InvalidArgumentError if it already has a live export.
void register_export(const Win32Export::Key& key, const char* what) {
    std::lock_guard<std::mutex> lock(g_exports_mutex);
    if (!exports().insert(key).second) {
        throw InvalidArgumentError(std::string("this ") + what +
                                   " was already exported as opaque_win32, and Vulkan allows one export of an NT "
                                   "handle per object and handle type: duplicate() the existing Win32Export");
    }
}

void unregister_export(const Win32Export::Key& key) noexcept {
    std::lock_guard<std::mutex> lock(g_exports_mutex);
    exports().erase(key);
}

void require_handle(NativeHandle h, const char* what) {
    if (h == nullptr || h == INVALID_HANDLE_VALUE) {
        throw InvalidHandleError(std::string("expected an open NT handle for ") + what +
                                 ", found a null or INVALID_HANDLE_VALUE handle");
    }
}

}  // namespace

void check_win32_external_support(VkPhysicalDevice physical_device, VkBufferUsageFlags buffer_usage) {
    VkPhysicalDeviceExternalBufferInfo buffer_info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
    buffer_info.usage = buffer_usage;
    buffer_info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
    VkExternalBufferProperties buffer_props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
    vkGetPhysicalDeviceExternalBufferProperties(physical_device, &buffer_info, &buffer_props);
    const VkExternalMemoryFeatureFlags memory_features = buffer_props.externalMemoryProperties.externalMemoryFeatures;
    const VkExternalMemoryFeatureFlags needed_memory =
        VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT;
    if ((memory_features & needed_memory) != needed_memory) {
        throw UnsupportedOperationError("this device cannot export and import buffer memory as opaque_win32 handles");
    }

    VkPhysicalDeviceExternalSemaphoreInfo semaphore_info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO};
    semaphore_info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
    VkExternalSemaphoreProperties semaphore_props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
    vkGetPhysicalDeviceExternalSemaphoreProperties(physical_device, &semaphore_info, &semaphore_props);
    const VkExternalSemaphoreFeatureFlags needed_semaphore =
        VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
    if ((semaphore_props.externalSemaphoreFeatures & needed_semaphore) != needed_semaphore) {
        throw UnsupportedOperationError("this device cannot export and import semaphores as opaque_win32 handles");
    }
}

// ---- Win32Export ----------------------------------------------------------------------------

bool Win32Export::Key::operator<(const Key& o) const noexcept {
    if (device != o.device) return device < o.device;
    if (object != o.object) return object < o.object;
    if (kind != o.kind) return kind < o.kind;
    return handle_type < o.handle_type;
}

Win32Export::Win32Export(Win32Export&& other) noexcept
    : handle_(std::move(other.handle_)), key_(other.key_), registered_(std::exchange(other.registered_, false)) {}

Win32Export& Win32Export::operator=(Win32Export&& other) noexcept {
    if (this != &other) {
        unregister();
        handle_ = std::move(other.handle_);
        key_ = other.key_;
        registered_ = std::exchange(other.registered_, false);
    }
    return *this;
}

Win32Export::~Win32Export() { unregister(); }

void Win32Export::unregister() noexcept {
    if (registered_) unregister_export(key_);
    registered_ = false;
}

Win32Export export_memory_win32(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory,
                                VkExternalMemoryHandleTypeFlagBits handle_type) {
    require_opaque_win32(handle_type, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, "memory");
    const Win32Export::Key key{handle_bits(device), handle_bits(memory), 1, static_cast<uint32_t>(handle_type)};
    register_export(key, "VkDeviceMemory");
    try {
        VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR};
        info.memory = memory;
        info.handleType = handle_type;
        HANDLE handle = nullptr;
        // For NT handle types the returned handle belongs to the application, holds its own
        // reference to the payload, and must be closed with CloseHandle: Win32Export does that.
        vk_call("vkGetMemoryWin32HandleKHR", [&] { return vk.vkGetMemoryWin32HandleKHR(device, &info, &handle); });
        if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
            throw VulkanError(VK_ERROR_UNKNOWN, "vkGetMemoryWin32HandleKHR", "returned success without a handle");
        }
        return Win32Export(UniqueHandle(handle), key);
    } catch (...) {
        unregister_export(key);  // a failed call made no export
        throw;
    }
}

VkDeviceMemory import_memory_win32(VkDevice device, const VolkDeviceTable& vk, const MemoryImportWin32& request) {
    require_opaque_win32(request.handle_type, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, "memory");
    require_handle(request.borrowed_handle, "memory");
    // Unlike an opaque fd, importing a Windows handle never transfers its ownership to the driver
    // (VkImportMemoryWin32HandleInfoKHR): no duplicate is needed and the caller still closes it.
    // vkGetMemoryWin32HandlePropertiesKHR cannot vet the memory type first: it must not be called
    // with an opaque handle type, so the description's checks happen before this call.
    VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
    import.handleType = request.handle_type;
    import.handle = request.borrowed_handle;
    import.name = nullptr;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = request.size;
    mai.memoryTypeIndex = request.memory_type_index;
    chain(mai, import);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    if (request.dedicated_image != VK_NULL_HANDLE || request.dedicated_buffer != VK_NULL_HANDLE) {
        dedicated.image = request.dedicated_image;
        dedicated.buffer = request.dedicated_buffer;
        chain(mai, dedicated);
    }
    VkDeviceMemory memory = VK_NULL_HANDLE;
    const VkResult r = vk.vkAllocateMemory(device, &mai, nullptr, &memory);
    if (r == VK_ERROR_INVALID_EXTERNAL_HANDLE) {
        throw InvalidHandleError("the driver refused the NT handle for memory import (VK_ERROR_INVALID_EXTERNAL_HANDLE)");
    }
    check_vk(r, "vkAllocateMemory(import opaque_win32)");
    return memory;
}

Win32Export export_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                   VkExternalSemaphoreHandleTypeFlagBits handle_type) {
    require_opaque_win32(handle_type, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT, "semaphore");
    const Win32Export::Key key{handle_bits(device), handle_bits(semaphore), 2, static_cast<uint32_t>(handle_type)};
    register_export(key, "VkSemaphore");
    try {
        VkSemaphoreGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR};
        info.semaphore = semaphore;
        info.handleType = handle_type;
        HANDLE handle = nullptr;
        // As for memory: an NT handle from vkGetSemaphoreWin32HandleKHR is the application's to close.
        vk_call("vkGetSemaphoreWin32HandleKHR",
                [&] { return vk.vkGetSemaphoreWin32HandleKHR(device, &info, &handle); });
        if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
            throw VulkanError(VK_ERROR_UNKNOWN, "vkGetSemaphoreWin32HandleKHR", "returned success without a handle");
        }
        return Win32Export(UniqueHandle(handle), key);
    } catch (...) {
        unregister_export(key);
        throw;
    }
}

void import_semaphore_win32(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                            VkExternalSemaphoreHandleTypeFlagBits handle_type, NativeHandle borrowed_handle) {
    require_opaque_win32(handle_type, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT, "semaphore");
    require_handle(borrowed_handle, "semaphore");
    // Importing a semaphore payload from a Windows handle does not transfer the handle's ownership
    // either (VkImportSemaphoreWin32HandleInfoKHR): the caller keeps and closes it.
    VkImportSemaphoreWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
    info.semaphore = semaphore;
    info.flags = 0;  // permanent import
    info.handleType = handle_type;
    info.handle = borrowed_handle;
    info.name = nullptr;
    const VkResult r = vk.vkImportSemaphoreWin32HandleKHR(device, &info);
    if (r == VK_ERROR_INVALID_EXTERNAL_HANDLE) {
        throw InvalidHandleError("the driver refused the NT handle for semaphore import (VK_ERROR_INVALID_EXTERNAL_HANDLE)");
    }
    check_vk(r, "vkImportSemaphoreWin32HandleKHR");
}

}  // namespace geyser
