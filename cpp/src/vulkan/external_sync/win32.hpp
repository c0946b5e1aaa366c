// Internal, Windows builds: the semaphore handle types that travel as NT handles, and the factory
// that picks one by handle type (service.hpp describes the seam). Geyser shares no fences
// on Windows yet, so these services have no fence calls.
//
// As the memory services (external_memory/win32.hpp), they take a VkDevice and its volk table,
// since Device is not built for Windows yet; the device must have been created with the service's
// device_extension(SyncPrimitive::kSemaphore) enabled.
#pragma once

#include <vector>

#include "geyser/unique_handle.hpp"
#include "vulkan/external_sync/service.hpp"
#include "vulkan/win32_export.hpp"

namespace geyser {

/// A semaphore handle type whose OS handle is an NT handle (VK_KHR_external_semaphore_win32).
/// Importing one never transfers the handle's ownership (VkImportSemaphoreWin32HandleInfoKHR):
/// the caller keeps and closes it.
class Win32SyncService : public ExternalSyncService {
public:
    /// Screens a borrowed handle before any driver sees it: InvalidHandleError for a null handle
    /// or INVALID_HANDLE_VALUE.
    virtual void check_handle(NativeHandle handle) const;

    /// The one export of `semaphore`'s payload (created exportable as this type) as an NT handle:
    /// vkGetSemaphoreWin32HandleKHR, called once per semaphore and type (Win32Export), throwing as
    /// Win32MemoryService::export_handle does.
    Win32Export export_semaphore_handle(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore) const;

    /// Imports the payload behind `borrowed` (check_handle first) into `semaphore`, permanently or
    /// temporarily as permanent_import() says; the handle stays the caller's. Throws
    /// InvalidHandleError when the driver refuses it.
    void import_semaphore_handle(VkDevice device, const VolkDeviceTable& vk, VkSemaphore semaphore,
                                 NativeHandle borrowed) const;
};

/// The service for `handle_type` (a VkExternalSemaphoreHandleTypeFlagBits bit). Throws
/// UnsupportedOperationError naming the type when this build has none for it; OPAQUE_WIN32_KMT is
/// refused by design, as for memory. Thread-safe.
const Win32SyncService& sync_service(uint32_t handle_type);

/// Every semaphore service this build has, in the order the factory tries them.
const std::vector<const Win32SyncService*>& sync_services();

/// One accessor per implementation, each defined in the implementation's own file.
const Win32SyncService& opaque_win32_sync_service() noexcept;  // opaque_win32.cpp

}  // namespace geyser
