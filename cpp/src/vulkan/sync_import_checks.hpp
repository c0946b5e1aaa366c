// Internal: the checks every semaphore and fence import runs before the driver sees an fd, shared
// by Device::import_semaphore (semaphore.cpp) and Device::import_fence (fence.cpp).
#pragma once

#include <cstdint>

#include "geyser/device.hpp"
#include "geyser/sync.hpp"
#include "vulkan/external_sync/fd.hpp"

namespace geyser {

/// The service for a semaphore's or fence's handle-type bit, as a handle describes it or an
/// export asks for it. Throws InvalidHandleError naming the bit and the types this build has
/// when it names none of them (a bit a handle carries is part of its description); `what` names
/// the object.
const FdSyncService& described_sync_service(uint32_t bit, const char* what);

/// The checks every sync import shares, done before the driver sees anything: NVIDIA's driver
/// accepts a memory fd as a semaphore, a timeline fd as binary, and fd -1 (DRIVER_FACTS.md). The
/// primitive, the device's UUIDs, the handle type (a service for it), the permanence and
/// already-signalled rules of that type, and the fd (open, not a pipe or socket, then the
/// service's check_fd). Returns the service to import with. Throws InvalidHandleError or
/// DeviceMismatchError.
const FdSyncService& check_sync_common(Device& d, const SyncHandle& h, SyncPrimitive expected);

}  // namespace geyser
