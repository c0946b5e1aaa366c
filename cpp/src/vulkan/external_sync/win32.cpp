// Win32SyncService's Win32 calls, shared by every semaphore handle type that travels as an NT
// handle, and the Windows factory (win32.hpp).
#include <windows.h>

#include <string>

#include "geyser/error.hpp"
#include "geyser/types.hpp"
#include "text.hpp"
#include "vulkan/external_sync/win32.hpp"

namespace geyser {

void Win32SyncService::check_handle(NativeHandle handle) const {
    if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
        throw InvalidHandleError(std::string("expected an open NT handle for a ") + name() +
                                 " semaphore, found a null or INVALID_HANDLE_VALUE handle");
    }
}

Win32Export Win32SyncService::export_semaphore_handle(VkDevice device, const VolkDeviceTable& vk,
                                                      VkSemaphore semaphore) const {
    const Win32Export::Key key{Win32Export::handle_bits(device), Win32Export::handle_bits(semaphore), 2,
                               handle_type()};
    return Win32Export::export_once(key, "VkSemaphore", [&] {
        VkSemaphoreGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR};
        info.semaphore = semaphore;
        info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type());
        HANDLE handle = nullptr;
        // As for memory: an NT handle from vkGetSemaphoreWin32HandleKHR is the application's to close.
        vk_call("vkGetSemaphoreWin32HandleKHR",
                [&] { return vk.vkGetSemaphoreWin32HandleKHR(device, &info, &handle); });
        if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
            throw VulkanError(VK_ERROR_UNKNOWN, "vkGetSemaphoreWin32HandleKHR", "returned success without a handle");
        }
        return handle;
    });
}

void Win32SyncService::import_semaphore_handle(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                               NativeHandle borrowed) const {
    check_handle(borrowed);
    // Importing a semaphore payload from a Windows handle does not transfer the handle's ownership
    // either (VkImportSemaphoreWin32HandleInfoKHR): the caller keeps and closes it.
    VkImportSemaphoreWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
    info.semaphore = semaphore;
    info.flags = permanent_import() ? 0 : VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
    info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type());
    info.handle = borrowed;
    info.name = nullptr;
    const VkResult r = vk.vkImportSemaphoreWin32HandleKHR(device, &info);
    if (r == VK_ERROR_INVALID_EXTERNAL_HANDLE) {
        throw InvalidHandleError(std::string("the driver refused the NT handle for semaphore import as ") + name() +
                                 " (VK_ERROR_INVALID_EXTERNAL_HANDLE)");
    }
    check_vk(r, "vkImportSemaphoreWin32HandleKHR");
}

// ---------------------------------------------------------------------------------------------
// The factory

const std::vector<const Win32SyncService*>& sync_services() {
    // One line per handle type this build has; each service is defined in its own file, which
    // CMake builds on Windows. A new type adds its file, its accessor in win32.hpp
    // and its line here.
    static const std::vector<const Win32SyncService*> services{
        &opaque_win32_sync_service(),
    };
    return services;
}

const Win32SyncService& sync_service(uint32_t handle_type) {
    std::string built;
    for (const Win32SyncService* service : sync_services()) {
        if (service->handle_type() == handle_type) return *service;
        built += (built.empty() ? "" : ", ") + std::string(service->name());
    }
    // Refused by design, as for memory (external_memory/win32.cpp).
    if (handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
        throw UnsupportedOperationError(
            "external semaphore handle type opaque_win32_kmt is refused by design: KMT handles are global names "
            "that any process can open and hold no reference to the payload (they are not reference-counted NT "
            "handles); use " + built);
    }
    throw UnsupportedOperationError("Geyser has no semaphore service for external handle type " +
                                    std::string(external_handle_type_name(handle_type)) + " (" + hex32(handle_type) +
                                    ") on Windows; use " + built);
}

}  // namespace geyser
