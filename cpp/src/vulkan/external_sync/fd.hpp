// Internal, POSIX builds: the semaphore and fence handle types that travel as file descriptors,
// and the factory that picks one by handle type (service.hpp describes the seam).
#pragma once

#include <string>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/unique_fd.hpp"
#include "vulkan/external_sync/service.hpp"

namespace geyser {

/// A semaphore and fence handle type whose OS handle is a file descriptor
/// (VK_KHR_external_semaphore_fd, VK_KHR_external_fence_fd). The fd calls are the same for every
/// such type, parametrised by handle_type(), permanent_import() and
/// may_be_signaled_without_handle(); what an implementation adds is check_fd().
class FdSyncService : public ExternalSyncService {
public:
    const char* device_extension(SyncPrimitive primitive) const noexcept override;

    /// Screens an open fd before any driver sees it, past the checks every fd gets (open, not a
    /// pipe or socket: sync_import_checks.cpp): it must be what `device` exports `primitive`
    /// payloads of this type as. Throws InvalidHandleError.
    virtual void check_fd(Device& device, SyncPrimitive primitive, int fd) const = 0;

    /// Exports the payload of `semaphore` (created exportable as this type): a new fd the caller
    /// owns, or an empty UniqueFd where the payload is already signalled and
    /// may_be_signaled_without_handle(); for any other type an fd of -1 is a VulkanError.
    UniqueFd export_semaphore(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore) const;
    /// The same for a fence (vkGetFenceFdKHR).
    UniqueFd export_fence(VkDevice device, const VolkDeviceTable& vk, VkFence fence) const;

    /// Imports into `semaphore` the payload behind `borrowed_fd`, which the caller has checked
    /// and keeps: a successful import takes ownership of the fd it is given, so it is given a
    /// duplicate ("vkImportSemaphoreFdKHR takes ownership"). The import is permanent or temporary
    /// as permanent_import() says. `borrowed_fd` -1 imports an already-signalled payload, for a
    /// type that may_be_signaled_without_handle(). Throws InvalidHandleError when the driver
    /// refuses it (fault point "vkImportSemaphoreFdKHR").
    void import_semaphore(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore, int borrowed_fd) const;
    /// The same for a fence (vkImportFenceFdKHR, fault point "vkImportFenceFdKHR").
    void import_fence(VkDevice device, const VolkDeviceTable& vk, VkFence fence, int borrowed_fd) const;
};

/// The service for `handle_type`, or null when this build has none for it. Thread-safe.
const FdSyncService* find_sync_service(uint32_t handle_type) noexcept;
/// The service for `handle_type`. Throws UnsupportedOperationError naming the type when this
/// build has none for it. Thread-safe.
const FdSyncService& sync_service(uint32_t handle_type);

/// The service Geyser makes shared semaphores and fences exportable as first: opaque FD.
const FdSyncService& default_sync_service() noexcept;

/// Every semaphore and fence service this build has, in the order the factory tries them.
const std::vector<const FdSyncService*>& sync_services();
/// The names of the services for which `pred` holds, joined by " or " ("opaque_fd or sync_fd").
template <typename Pred>
std::string sync_service_names(Pred&& pred) {
    std::string names;
    for (const FdSyncService* service : sync_services()) {
        if (pred(*service)) names += (names.empty() ? "" : " or ") + std::string(service->name());
    }
    return names;
}

/// One accessor per implementation, each defined in the implementation's own file.
const FdSyncService& opaque_fd_sync_service() noexcept;  // opaque_fd.cpp
const FdSyncService& sync_fd_sync_service() noexcept;    // sync_fd.cpp

}  // namespace geyser
