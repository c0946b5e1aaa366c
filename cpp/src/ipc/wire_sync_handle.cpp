// The kSyncHandle payload codec: an exported semaphore or fence. It pairs a description with a
// POSIX file descriptor (the handle travels as SCM_RIGHTS), so it is built only where UniqueFd is
// (not on Windows).
#include <cstdio>
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {

constexpr uint32_t kOpaqueFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
constexpr uint32_t kSyncFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

// Both directions apply the same rules; only the error class differs (a bad argument on the way
// out, a bad peer on the way in). Returns an empty string when the description is acceptable.
std::string sync_handle_problem(const SyncHandle& h) {
    const auto primitive = static_cast<uint32_t>(h.primitive);
    if (primitive != static_cast<uint32_t>(SyncPrimitive::kSemaphore) &&
        primitive != static_cast<uint32_t>(SyncPrimitive::kFence)) {
        return "field 'primitive': unknown sync primitive " + std::to_string(primitive) +
               " (expected 1 = semaphore or 2 = fence)";
    }
    const auto type = static_cast<uint32_t>(h.semaphore_type);
    if (type != static_cast<uint32_t>(SemaphoreType::kBinary) && type != static_cast<uint32_t>(SemaphoreType::kTimeline)) {
        return "field 'semaphore_type': unknown semaphore type " + std::to_string(type) +
               " (expected 1 = binary or 2 = timeline)";
    }
    if (h.primitive == SyncPrimitive::kFence && h.semaphore_type != SemaphoreType::kBinary) {
        return "field 'semaphore_type': a fence has no semaphore type and carries 1 (binary), found " +
               std::to_string(type);
    }
    if (h.handle_type != kOpaqueFd && h.handle_type != kSyncFd) {
        return "field 'handle_type': " + hex(h.handle_type) + " is not opaque_fd (0x1) or sync_fd (0x10)";
    }
    const bool timeline = h.primitive == SyncPrimitive::kSemaphore && h.semaphore_type == SemaphoreType::kTimeline;
    // VUID-VkSemaphoreGetFdInfoKHR-handleType-03253: a handle type with copy transference (sync
    // FD) needs a binary semaphore, so no timeline semaphore ever travels as one.
    if (timeline && h.handle_type != kOpaqueFd) {
        return "field 'handle_type': a timeline semaphore travels only as opaque_fd (0x1), found " + hex(h.handle_type);
    }
    if (!timeline && h.initial_value != 0) {
        return "field 'initial_value': only a timeline semaphore has a value, but this " +
               std::string(h.primitive == SyncPrimitive::kFence ? "fence" : "binary semaphore") + " carries " +
               std::to_string(h.initial_value);
    }
    // vkGetSemaphoreFdKHR / vkGetFenceFdKHR return -1 ("already signalled") only for a sync FD.
    if (h.already_signaled && h.handle_type != kSyncFd) {
        return "field 'already_signaled': only a sync_fd can stand for an already-signalled payload, this is " +
               hex(h.handle_type);
    }
    return {};
}

}  // namespace

std::vector<uint8_t> encode_sync_handle(const SyncHandle& h) {
    const std::string problem = sync_handle_problem(h);
    if (!problem.empty()) throw InvalidArgumentError("cannot send this sync handle: " + problem);

    WireWriter w;
    w.u32(static_cast<uint32_t>(h.primitive));
    w.u32(static_cast<uint32_t>(h.semaphore_type));
    w.u32(h.handle_type);
    w.boolean(h.already_signaled);
    w.boolean(h.permanent);
    w.u64(h.initial_value);
    w.uuid(h.device_uuid);
    w.uuid(h.driver_uuid);
    return w.take();
}

SyncHandle decode_sync_handle(const uint8_t* data, size_t size, UniqueFd fd) {
    WireReader r(data, size, "sync_handle");
    SyncHandle h;
    // SyncPrimitive and SemaphoreType have a fixed uint32_t underlying type, so any value
    // converts; sync_handle_problem then rejects the unknown ones.
    h.primitive = static_cast<SyncPrimitive>(r.u32("primitive"));
    h.semaphore_type = static_cast<SemaphoreType>(r.u32("semaphore_type"));
    h.handle_type = r.u32("handle_type");
    h.already_signaled = r.boolean("already_signaled");
    h.permanent = r.boolean("permanent");
    h.initial_value = r.u64("initial_value");
    h.device_uuid = r.uuid("device_uuid");
    h.driver_uuid = r.uuid("driver_uuid");
    r.finish();

    const std::string problem = sync_handle_problem(h);
    if (!problem.empty()) throw ProtocolError("sync_handle: " + problem);
    // The "already signalled" sync FD is the one payload that travels without an fd.
    if (h.already_signaled == fd.valid()) {
        throw ProtocolError(h.already_signaled ? "sync_handle: an already-signalled payload must not carry an fd"
                                               : "sync_handle: no file descriptor accompanied the description");
    }
    h.fd = std::move(fd);
    return h;
}

}  // namespace geyser
