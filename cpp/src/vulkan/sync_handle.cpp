// SyncHandle, the description of an exported semaphore or fence and its fd, and the names of the
// sync vocabulary.
#include "geyser/sync.hpp"

namespace geyser {

const char* to_string(SyncPrimitive p) { return p == SyncPrimitive::kFence ? "fence" : "semaphore"; }
const char* to_string(SemaphoreType t) { return t == SemaphoreType::kTimeline ? "timeline" : "binary"; }

SyncHandle SyncHandle::duplicate() const {
    SyncHandle h;
    h.primitive = primitive;
    h.semaphore_type = semaphore_type;
    h.handle_type = handle_type;
    if (fd.valid()) h.fd = fd.duplicate();
    h.already_signaled = already_signaled;
    h.permanent = permanent;
    h.initial_value = initial_value;
    h.device_uuid = device_uuid;
    h.driver_uuid = driver_uuid;
    return h;
}

}  // namespace geyser
