// The OPAQUE_WIN32 semaphore service (VK_KHR_external_semaphore_win32): NT handles, the Windows
// counterpart of opaque FDs. Its export and import are the shared NT-handle calls of
// Win32SyncService; none of it has run against a Windows Vulkan driver (docs/platforms.md).
#include "vulkan/external_sync/win32.hpp"

namespace geyser {

namespace {

class OpaqueWin32SyncService final : public Win32SyncService {
public:
    uint32_t handle_type() const noexcept override { return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT; }
    uint32_t fence_handle_type() const noexcept override { return VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT; }
    const char* device_extension(SyncPrimitive primitive) const noexcept override {
        return primitive == SyncPrimitive::kFence ? VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME
                                                  : VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME;
    }
    // Like an opaque FD: reference transference, imported permanently, binary and timeline
    // semaphores alike, always a handle.
    bool permanent_import() const noexcept override { return true; }
    bool carries_timelines() const noexcept override { return true; }
    bool may_be_signaled_without_handle() const noexcept override { return false; }
};

}  // namespace

const Win32SyncService& opaque_win32_sync_service() noexcept {
    static const OpaqueWin32SyncService service;
    return service;
}

}  // namespace geyser
