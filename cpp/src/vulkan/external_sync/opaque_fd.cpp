// The OPAQUE_FD semaphore and fence service (VK_KHR_external_semaphore_fd,
// VK_KHR_external_fence_fd): the handle type Geyser shares its semaphores, fences and Vulkan
// timelines as on POSIX.
#include "vulkan/external_sync/fd.hpp"

namespace geyser {

namespace {

class OpaqueFdSyncService final : public FdSyncService {
public:
    uint32_t handle_type() const noexcept override { return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT; }
    uint32_t fence_handle_type() const noexcept override { return VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT; }
    // An opaque FD has reference transference: the spec allows a temporary or a permanent import
    // of it, and Geyser imports permanently, so the imported object shares the payload for good
    // (what a shared semaphore, fence or timeline is). For binary and timeline semaphores alike,
    // and always an fd.
    bool permanent_import() const noexcept override { return true; }
    bool carries_timelines() const noexcept override { return true; }
    bool may_be_signaled_without_handle() const noexcept override { return false; }

    // NVIDIA's driver imports a memory fd as a semaphore and a semaphore's as a fence unchecked
    // (DRIVER_FACTS.md); what can be checked is that the fd is the same kind of file as those this
    // device exports for the primitive.
    void check_fd(Device& device, SyncPrimitive primitive, int fd) const override {
        device.check_opaque_fd(fd, primitive == SyncPrimitive::kFence ? Device::FdFamily::kFence
                                                                      : Device::FdFamily::kSemaphore);
    }
};

}  // namespace

const FdSyncService& opaque_fd_sync_service() noexcept {
    static const OpaqueFdSyncService service;
    return service;
}

}  // namespace geyser
