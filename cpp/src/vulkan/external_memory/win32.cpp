// Win32MemoryService's Win32 calls, shared by every memory handle type that travels as an NT
// handle, and the Windows factory (win32.hpp).
#include <windows.h>

#include <string>

#include "geyser/error.hpp"
#include "geyser/types.hpp"
#include "text.hpp"
#include "vulkan/external_memory/win32.hpp"

namespace geyser {

void Win32MemoryService::check_handle(NativeHandle handle) const {
    if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
        throw InvalidHandleError(std::string("expected an open NT handle for ") + name() +
                                 " memory, found a null or INVALID_HANDLE_VALUE handle");
    }
}

Win32Export Win32MemoryService::export_handle(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory) const {
    const Win32Export::Key key{Win32Export::handle_bits(device), Win32Export::handle_bits(memory), 1,
                               static_cast<uint32_t>(handle_type())};
    return Win32Export::export_once(key, "VkDeviceMemory", [&] {
        VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR};
        info.memory = memory;
        info.handleType = handle_type();
        HANDLE handle = nullptr;
        // For NT handle types the returned handle belongs to the application, holds its own
        // reference to the payload, and must be closed with CloseHandle: Win32Export does that.
        vk_call("vkGetMemoryWin32HandleKHR", [&] { return vk.vkGetMemoryWin32HandleKHR(device, &info, &handle); });
        if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
            throw VulkanError(VK_ERROR_UNKNOWN, "vkGetMemoryWin32HandleKHR", "returned success without a handle");
        }
        return handle;
    });
}

VkDeviceMemory Win32MemoryService::import_handle(VkDevice device, const VolkDeviceTable& vk, NativeHandle borrowed,
                                                 const MemoryAllocation& allocation) const {
    check_handle(borrowed);
    // Unlike an opaque fd, importing a Windows handle never transfers its ownership to the driver
    // (VkImportMemoryWin32HandleInfoKHR): no duplicate is needed and the caller still closes it.
    VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
    import.handleType = handle_type();
    import.handle = borrowed;
    import.name = nullptr;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = allocation.size;
    mai.memoryTypeIndex = allocation.memory_type_index;
    chain(mai, import);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    chain_dedicated(mai, dedicated, allocation);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    const VkResult r = vk.vkAllocateMemory(device, &mai, nullptr, &memory);
    if (r == VK_ERROR_INVALID_EXTERNAL_HANDLE) {
        throw InvalidHandleError(std::string("the driver refused the NT handle for memory import as ") + name() +
                                 " (VK_ERROR_INVALID_EXTERNAL_HANDLE)");
    }
    check_vk(r, "vkAllocateMemory(import)");
    return memory;
}

// ---------------------------------------------------------------------------------------------
// The factory

const std::vector<const Win32MemoryService*>& memory_services() {
    // One line per handle type this build has; each service is defined in its own file, which
    // CMake builds on Windows. A new type adds its file, its accessor in win32.hpp
    // and its line here.
    static const std::vector<const Win32MemoryService*> services{
        &opaque_win32_memory_service(),
    };
    return services;
}

const Win32MemoryService& default_memory_service() noexcept { return opaque_win32_memory_service(); }

const Win32MemoryService& memory_service(VkExternalMemoryHandleTypeFlagBits handle_type) {
    std::string built;
    for (const Win32MemoryService* service : memory_services()) {
        if (service->handle_type() == handle_type) return *service;
        built += (built.empty() ? "" : ", ") + std::string(service->name());
    }
    // Refused by design, not for want of code: a KMT handle is a global name that any process can
    // open, and it holds no reference to the payload (it is not a reference-counted NT handle that
    // CloseHandle releases), so it can neither be given to one process only nor keep the memory
    // alive.
    if (handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
        throw UnsupportedOperationError(
            "external memory handle type opaque_win32_kmt is refused by design: KMT handles are global names that "
            "any process can open and hold no reference to the payload (they are not reference-counted NT "
            "handles); use " + built);
    }
    throw UnsupportedOperationError("Geyser has no memory service for external handle type " +
                                    std::string(external_handle_type_name(handle_type)) + " (" + hex32(handle_type) +
                                    ") on Windows; use " + built);
}

}  // namespace geyser
