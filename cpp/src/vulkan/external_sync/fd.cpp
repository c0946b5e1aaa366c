// FdSyncService's fd calls, shared by every semaphore and fence handle type that travels as an
// fd, and the POSIX factory (fd.hpp).
#include "vulkan/external_sync/fd.hpp"

#include <string>

#include "posix/fd_kind.hpp"
#include "text.hpp"

namespace geyser {

const char* FdSyncService::device_extension(SyncPrimitive primitive) const noexcept {
    return primitive == SyncPrimitive::kFence ? VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME
                                              : VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME;
}

UniqueFd FdSyncService::export_semaphore(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore) const {
    VkSemaphoreGetFdInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR};
    info.semaphore = semaphore;
    info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type());
    int fd = -1;
    vk_call("vkGetSemaphoreFdKHR", [&] { return vk.vkGetSemaphoreFdKHR(device, &info, &fd); });
    // Only a type whose payloads may be signalled without a handle (sync FD) may return -1,
    // meaning "already signalled".
    if (fd < 0 && !may_be_signaled_without_handle()) {
        throw VulkanError(VK_ERROR_UNKNOWN, "vkGetSemaphoreFdKHR", "returned fd -1");
    }
    return UniqueFd(fd);
}

UniqueFd FdSyncService::export_fence(VkDevice device, const VolkDeviceTable& vk, VkFence fence) const {
    VkFenceGetFdInfoKHR info{VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR};
    info.fence = fence;
    info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(fence_handle_type());
    int fd = -1;
    vk_call("vkGetFenceFdKHR", [&] { return vk.vkGetFenceFdKHR(device, &info, &fd); });
    if (fd < 0 && !may_be_signaled_without_handle()) {
        throw VulkanError(VK_ERROR_UNKNOWN, "vkGetFenceFdKHR", "returned fd -1");
    }
    return UniqueFd(fd);
}

namespace {

void require_fd_unless_signaled(const FdSyncService& service, int borrowed_fd, const char* what) {
    if (borrowed_fd < 0 && !service.may_be_signaled_without_handle()) {
        throw InvalidHandleError(std::string("a ") + service.name() + " " + what + " import needs an fd");
    }
}

}  // namespace

void FdSyncService::import_semaphore(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                     int borrowed_fd) const {
    require_fd_unless_signaled(*this, borrowed_fd, "semaphore");
    VkImportSemaphoreFdInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR};
    info.semaphore = semaphore;
    info.flags = permanent_import() ? 0 : VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
    info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type());
    if (borrowed_fd < 0) {
        // An already-signalled payload: fd -1 is a valid sync FD, and there is nothing to own.
        info.fd = -1;
        vk_call("vkImportSemaphoreFdKHR", [&] { return vk.vkImportSemaphoreFdKHR(device, &info); });
        return;
    }
    // vkImportSemaphoreFdKHR takes ownership of the fd on success, so import a duplicate.
    import_duplicate(borrowed_fd, "vkImportSemaphoreFdKHR", [&](int fd) {
        info.fd = fd;
        return fault::injected("vkImportSemaphoreFdKHR") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                          : vk.vkImportSemaphoreFdKHR(device, &info);
    });
}

void FdSyncService::import_fence(VkDevice device, const VolkDeviceTable& vk, VkFence fence, int borrowed_fd) const {
    require_fd_unless_signaled(*this, borrowed_fd, "fence");
    VkImportFenceFdInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR};
    info.fence = fence;
    info.flags = permanent_import() ? 0 : VK_FENCE_IMPORT_TEMPORARY_BIT;
    info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(fence_handle_type());
    if (borrowed_fd < 0) {
        info.fd = -1;
        vk_call("vkImportFenceFdKHR", [&] { return vk.vkImportFenceFdKHR(device, &info); });
        return;
    }
    // vkImportFenceFdKHR takes ownership of the fd on success, so import a duplicate.
    import_duplicate(borrowed_fd, "vkImportFenceFdKHR", [&](int fd) {
        info.fd = fd;
        return fault::injected("vkImportFenceFdKHR") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                      : vk.vkImportFenceFdKHR(device, &info);
    });
}

// ---------------------------------------------------------------------------------------------
// The factory

const std::vector<const FdSyncService*>& sync_services() {
    // One line per handle type this build has; each service is defined in its own file, which
    // CMake builds where the type exists. A new type adds its file, its accessor in
    // fd.hpp and its line here.
    static const std::vector<const FdSyncService*> services{
        &opaque_fd_sync_service(),
        &sync_fd_sync_service(),
    };
    return services;
}

const FdSyncService& default_sync_service() noexcept { return opaque_fd_sync_service(); }

const FdSyncService* find_sync_service(uint32_t handle_type) noexcept {
    for (const FdSyncService* service : sync_services()) {
        if (service->handle_type() == handle_type) return service;
    }
    return nullptr;
}

const FdSyncService& sync_service(uint32_t handle_type) {
    if (const FdSyncService* service = find_sync_service(handle_type)) return *service;
    throw UnsupportedOperationError("Geyser has no semaphore or fence service for external handle type " +
                                    std::string(external_handle_type_name(handle_type)) + " (" + hex32(handle_type) +
                                    ") on this platform; it shares them as " +
                                    sync_service_names([](const FdSyncService&) { return true; }));
}

}  // namespace geyser
