#include "vulkan/sync_import_checks.hpp"

#include <string>

#include "geyser/error.hpp"
#include "posix/fd_kind.hpp"

namespace geyser {

const FdSyncService& described_sync_service(uint32_t bit, const char* what) {
    if (const FdSyncService* service = find_sync_service(bit)) return *service;
    throw InvalidHandleError(std::string(what) + " handle type " + std::to_string(bit) + " is not " +
                             sync_service_names([](const FdSyncService&) { return true; }));
}

const FdSyncService& check_sync_common(Device& d, const SyncHandle& h, SyncPrimitive expected) {
    if (h.primitive != expected) {
        throw InvalidHandleError(std::string("handle describes a ") + to_string(h.primitive) + ", not a " +
                                 to_string(expected));
    }
    d.check_same_device(h.device_uuid, h.driver_uuid);
    const FdSyncService& service = described_sync_service(h.handle_type, to_string(expected));
    // The permanence the spec allows for the type (ExternalSyncService::permanent_import).
    if (service.permanent_import() && !h.permanent) {
        throw InvalidHandleError(std::string(service.name()) +
                                 " payloads are imported permanently, but the handle asks for a temporary import");
    }
    if (!service.permanent_import() && h.permanent) {
        throw InvalidHandleError(std::string(service.name()) +
                                 " payloads can only be imported temporarily, but the handle asks for permanence");
    }
    if (h.already_signaled) {
        if (!service.may_be_signaled_without_handle()) {
            throw InvalidHandleError("only a " +
                                     sync_service_names([](const FdSyncService& s) {
                                         return s.may_be_signaled_without_handle();
                                     }) +
                                     " can stand for an already-signalled payload; " + service.name() +
                                     " handles always carry an fd");
        }
        if (h.fd.valid()) {
            throw InvalidHandleError(std::string("an already-signalled ") + service.name() +
                                     " handle must not carry an fd");
        }
        return service;
    }
    if (!h.fd.valid()) throw InvalidHandleError("handle carries no fd (closed?)");
    const FdKind kind = FdKind::of(h.fd.get(), to_string(expected));
    if (kind.never_a_payload()) {
        throw InvalidHandleError("fd " + std::to_string(h.fd.get()) + " is " + kind.describe() + ", not a Vulkan " +
                                 to_string(expected) + " handle");
    }
    service.check_fd(d, expected, h.fd.get());
    return service;
}

}  // namespace geyser
