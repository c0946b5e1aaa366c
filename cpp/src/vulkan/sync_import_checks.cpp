#include "vulkan/sync_import_checks.hpp"

#include <string>

#include "geyser/error.hpp"
#include "posix/fd_kind.hpp"

namespace geyser {

void check_handle_type_bit(uint32_t bit, const char* what) {
    if (bit != kOpaque && bit != kSyncFd) {
        throw InvalidHandleError(std::string(what) + " handle type " + std::to_string(bit) +
                                 " is not opaque_fd or sync_fd");
    }
}

void check_sync_common(Device& d, const SyncHandle& h, SyncPrimitive expected) {
    if (h.primitive != expected) {
        throw InvalidHandleError(std::string("handle describes a ") + to_string(h.primitive) + ", not a " +
                                 to_string(expected));
    }
    d.check_same_device(h.device_uuid, h.driver_uuid);
    check_handle_type_bit(h.handle_type, to_string(expected));
    // Opaque FDs are imported permanently; sync FDs only temporarily (the spec's rules for
    // VkImportSemaphoreFdInfoKHR / VkImportFenceFdInfoKHR flags).
    if (h.handle_type == kOpaque && !h.permanent) {
        throw InvalidHandleError("opaque_fd payloads are imported permanently, but the handle asks for a temporary import");
    }
    if (h.handle_type == kSyncFd && h.permanent) {
        throw InvalidHandleError("sync_fd payloads can only be imported temporarily, but the handle asks for permanence");
    }
    if (h.already_signaled) {
        if (h.handle_type != kSyncFd) {
            throw InvalidHandleError("only a sync_fd can stand for an already-signalled payload");
        }
        if (h.fd.valid()) throw InvalidHandleError("an already-signalled sync_fd handle must not carry an fd");
        return;
    }
    if (!h.fd.valid()) throw InvalidHandleError("handle carries no fd (closed?)");
    const FdKind kind = FdKind::of(h.fd.get(), to_string(expected));
    if (kind.never_a_payload()) {
        throw InvalidHandleError("fd " + std::to_string(h.fd.get()) + " is " + kind.describe() + ", not a Vulkan " +
                                 to_string(expected) + " handle");
    }
    if (h.handle_type == kOpaque) {
        d.check_opaque_fd(h.fd.get(), expected == SyncPrimitive::kFence ? Device::FdFamily::kFence
                                                                          : Device::FdFamily::kSemaphore);
    }
}

}  // namespace geyser
