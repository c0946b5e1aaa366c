// Internal: the checks every semaphore and fence import runs before the driver sees an fd, shared
// by Device::import_semaphore (semaphore.cpp) and Device::import_fence (fence.cpp).
#pragma once

#include "geyser/device.hpp"
#include "geyser/sync.hpp"

namespace geyser {

inline constexpr uint32_t kOpaque = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;  // == fence's
inline constexpr uint32_t kSyncFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;    // == fence's

/// Throws InvalidHandleError unless `bit` is opaque_fd or sync_fd; `what` names the object.
void check_handle_type_bit(uint32_t bit, const char* what);

// The checks every sync import shares, done before the driver sees anything: NVIDIA's driver
// accepts a memory fd as a semaphore, a timeline fd as binary, and fd -1 (DRIVER_FACTS.md).
void check_sync_common(Device& d, const SyncHandle& h, SyncPrimitive expected);

}  // namespace geyser
