// The kTimelineHandle payload codec: an exported Timeline, portable or Vulkan. It pairs a
// description with a POSIX file descriptor (the handle travels as SCM_RIGHTS), so it is built
// only where UniqueFd is (not on Windows).
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {

std::string kind_problem(uint8_t kind) {
    if (kind == static_cast<uint8_t>(TimelineKind::kPortable) || kind == static_cast<uint8_t>(TimelineKind::kVulkan)) {
        return {};
    }
    return "field 'kind': unknown timeline kind " + std::to_string(kind) + " (expected 1 = portable or 2 = vulkan)";
}

// A Vulkan timeline's semaphore, once its own codec's rules hold, must be a timeline semaphore.
std::string semaphore_problem(const SyncHandle& s) {
    if (s.primitive == SyncPrimitive::kSemaphore && s.semaphore_type == SemaphoreType::kTimeline) return {};
    return std::string("field 'semaphore': describes a ") +
           (s.primitive == SyncPrimitive::kFence ? "fence" : "binary semaphore") + ", not a timeline semaphore";
}

}  // namespace

std::vector<uint8_t> encode_timeline_handle(TimelineKind kind, const SyncHandle& semaphore) {
    const auto tag = static_cast<uint8_t>(kind);
    std::string problem = kind_problem(tag);
    if (problem.empty() && kind == TimelineKind::kVulkan) problem = semaphore_problem(semaphore);
    if (!problem.empty()) throw InvalidArgumentError("cannot send this timeline handle: " + problem);

    WireWriter w;
    w.u8(tag);
    if (kind == TimelineKind::kVulkan) w.bytes(encode_sync_handle(semaphore), "semaphore");
    return w.take();
}

std::vector<uint8_t> encode_timeline_handle(const TimelineHandle& h) { return encode_timeline_handle(h.kind, h.semaphore); }

TimelineHandle decode_timeline_handle(const uint8_t* data, size_t size, UniqueFd fd) {
    if (!fd) throw ProtocolError("timeline_handle: no file descriptor accompanied the description");

    WireReader r(data, size, "timeline_handle");
    const uint8_t kind = r.u8("kind");
    const std::string problem = kind_problem(kind);
    if (!problem.empty()) throw ProtocolError("timeline_handle: " + problem);
    TimelineHandle h;
    h.kind = static_cast<TimelineKind>(kind);
    if (h.kind == TimelineKind::kPortable) {
        r.finish();
        h.fd = std::move(fd);
        return h;
    }
    const std::vector<uint8_t> semaphore = r.bytes("semaphore", kSyncHandlePayloadSize);
    r.finish();
    try {
        h.semaphore = decode_sync_handle(semaphore.data(), semaphore.size(), std::move(fd));
    } catch (const ProtocolError& e) {
        throw ProtocolError(std::string("timeline_handle: field 'semaphore': ") + e.what());
    }
    const std::string wrong = semaphore_problem(h.semaphore);
    if (!wrong.empty()) throw ProtocolError("timeline_handle: " + wrong);  // h closes the fd
    return h;
}

}  // namespace geyser
