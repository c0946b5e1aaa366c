// Internal: the seam between Geyser's semaphores and fences and the OS handle their payload
// travels as, in the manner of ../external_memory/service.hpp.
//
// Everything about sharing a VkSemaphore or VkFence that depends on the external handle type lives
// behind ExternalSyncService, one implementation per handle type, each in its own file of this
// folder:
//   opaque_fd.cpp     OPAQUE_FD     (POSIX builds)
//   sync_fd.cpp       SYNC_FD       (POSIX builds; binary semaphores and fences)
//   opaque_win32.cpp  OPAQUE_WIN32  (Windows builds; semaphores)
// One service serves semaphores and fences of its type. Their Vulkan bits differ for some types
// (SYNC_FD is 0x10 for semaphores, 0x8 for fences), so a service has both; a SyncHandle of either
// primitive names its type by the semaphore's bit. The services of one OS handle family share a
// leaf interface: FdSyncService (fd.hpp) and Win32SyncService (win32.hpp), each with the factory
// sync_service(handle type) of its platform. Code that creates, exports or imports semaphores and
// fences asks the service for a handle's type and never tests a type itself.
//
// Services are stateless singletons: every member is const and thread-safe.
#pragma once

#include <cstdint>

#include "geyser/sync.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

/// One external handle type of semaphores and fences: the rules of its payloads (the part every
/// OS handle family shares; the leaf interfaces add export and import of the OS handle itself).
class ExternalSyncService {
public:
    virtual ~ExternalSyncService() = default;

    /// The type's VkExternalSemaphoreHandleTypeFlagBits bit, which also names the type in a
    /// SyncHandle of either primitive (SyncHandle::handle_type, Python's "opaque_fd"/"sync_fd").
    virtual uint32_t handle_type() const noexcept = 0;
    /// The type's VkExternalFenceHandleTypeFlagBits bit, for the Vulkan calls on fences.
    virtual uint32_t fence_handle_type() const noexcept = 0;
    /// The device extension the type needs for `primitive` (Device enables it where present).
    virtual const char* device_extension(SyncPrimitive primitive) const noexcept = 0;
    /// The type's name in messages and in Python: "opaque_fd", "sync_fd", ...
    const char* name() const noexcept;

    /// Whether Geyser imports this type permanently (the payload replaced for good) or
    /// temporarily (VK_*_IMPORT_TEMPORARY_BIT: until the next wait consumes it). The spec says
    /// which permanence each type supports (a copy-transference type such as sync FD allows only
    /// temporary imports); a handle asking for the other permanence is refused.
    virtual bool permanent_import() const noexcept = 0;
    /// Whether a timeline semaphore may be exported and imported as this type.
    virtual bool carries_timelines() const noexcept = 0;
    /// Whether an export may find the payload already signalled and hand out no OS handle for it
    /// (a sync FD of -1), and an import may therefore be given none.
    virtual bool may_be_signaled_without_handle() const noexcept = 0;

    /// Check...Support for semaphores: whether `physical` can both export and import semaphores
    /// of `type` as this type (vkGetPhysicalDeviceExternalSemaphoreProperties).
    bool supports_semaphores(VkPhysicalDevice physical, SemaphoreType type) const;
};

}  // namespace geyser
