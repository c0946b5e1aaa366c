// The SYNC_FD semaphore and fence service (a Linux sync_file): binary semaphores and fences only.
// Neither test machine's driver exports sync FDs (DRIVER_FACTS.md), so what runs there is the
// checks; the export and import calls are the shared fd calls of FdSyncService.
#include "vulkan/external_sync/fd.hpp"

namespace geyser {

namespace {

class SyncFdSyncService final : public FdSyncService {
public:
    uint32_t handle_type() const noexcept override { return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT; }
    uint32_t fence_handle_type() const noexcept override { return VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT; }
    // A sync FD has copy transference, so the spec allows only temporary imports of it (the
    // table of handle types VkImportSemaphoreFdInfoKHR and VkImportFenceFdInfoKHR support), and a
    // timeline semaphore must never be exported or imported as one.
    bool permanent_import() const noexcept override { return false; }
    bool carries_timelines() const noexcept override { return false; }
    // vkGetSemaphoreFdKHR / vkGetFenceFdKHR may return -1 for a payload that is already
    // signalled, and importing -1 gives a signalled payload.
    bool may_be_signaled_without_handle() const noexcept override { return true; }

    // A sync_file is an anonymous inode every driver's exports share, so past the checks every fd
    // gets there is nothing that tells one driver's from another's: the driver checks the rest.
    void check_fd(Device&, SyncPrimitive, int) const override {}
};

}  // namespace

const FdSyncService& sync_fd_sync_service() noexcept {
    static const SyncFdSyncService service;
    return service;
}

}  // namespace geyser
