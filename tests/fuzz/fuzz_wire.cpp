// libFuzzer harness for the wire decoder (geyser/wire.hpp).
//
// The first input byte picks a target; the rest is that target's input:
//
//   selector & 0x0F  target (taken modulo kTargetCount, so seeds with a small number keep their
//                    meaning when targets are added at the end)
//   selector & 0x10  for the targets that take an fd: pass none (UniqueFd of -1) instead of a
//                    memfd duplicate
//
//   0 kFrame          decode_header on the whole frame; when the payload length matches the
//                     header, the payload goes to the codec of the header's type, with an fd when
//                     the header announces exactly one (as receive_handle demands); a
//                     kTimelineHandle payload goes to both codecs that travel under that type
//   1 kMemoryHandle   decode_memory_handle on the payload
//   2 kReader         a WireReader program: u8 op count, the op bytes, then the data they read
//   3-7               decode_hello, decode_sender_info, decode_sync_handle (0x10: no fd),
//                     decode_timeline_announce (0x10: no fd) and decode_frame_message: the
//                     named-sender codecs of geyser/sender_protocol.hpp and the sync-handle codec
//                     of wire.hpp (cpp/src/ipc/sender_protocol.cpp, wire_sync_handle.cpp)
//   8 kTimelineHandle decode_timeline_handle on the payload (0x10: no fd)
//   9 kCopyRing       decode_copy_ring on the payload (geyser/copy_ring.hpp, protocol 3)
//  10 kPeerAnswer     decode_peer_answer on the payload (protocol 4)
//
// A geyser::Error is an expected rejection. Anything else is a bug and ends the run through
// abort() with a message on stderr: another exception type, a decode that an independent model
// of the format disagrees with, a decoded value that does not survive re-encoding and decoding,
// or a leaked file descriptor. Crashes, ASan and UBSan reports are bugs by themselves.
//
// Round-trip property: every encoding in wire.hpp is canonical (fixed-width little-endian fields,
// booleans 0/1, exact length prefixes), so a payload that decodes must re-encode to the very same
// bytes, and decoding those must give a value equal field by field. A timeline announcement is a
// role byte in front of a timeline handle's payload: the two decoders must agree on the rest.

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "geyser/copy_ring.hpp"
#include "geyser/error.hpp"
#include "geyser/wire.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"

namespace {

using geyser::UniqueFd;

// ---- failure reporting ------------------------------------------------------------------------

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* format, ...) {
    std::fputs("fuzz_wire: BUG: ", stderr);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    std::fflush(stderr);
    std::abort();
}

// Runs `body`; a geyser::Error is a rejection (returns false), any other exception is a bug.
template <typename Body>
bool accepted(const char* what, Body&& body) {
    try {
        body();
        return true;
    } catch (const geyser::Error&) {
        return false;
    } catch (const std::exception& e) {
        fail("%s threw a non-geyser exception: %s", what, e.what());
    } catch (...) {
        fail("%s threw something that is not a std::exception", what);
    }
}

// ---- file descriptors -------------------------------------------------------------------------

// One memfd made at start-up; each decode that needs an fd is given an owned duplicate, the way
// receive_handle passes on the fd that arrived in SCM_RIGHTS.
int g_memfd = -1;
// Entries in /proc/self/fd after start-up, pipes left out; the count must never grow. Pipes are
// left out because the runtime opens two the first time it symbolizes a PC (libFuzzer's NEW_FUNC
// lines start llvm-symbolizer and talk to it over pipes). Nothing a decoder is given or could
// make is a pipe: the harness hands out memfd duplicates only.
long g_fd_baseline = -1;
constexpr unsigned long kFdCheckInterval = 1024;
unsigned long g_iterations = 0;

// Calls `visit(name, target)` for every entry of /proc/self/fd but the directory's own.
template <typename Visit>
void for_each_open_fd(Visit&& visit) {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) fail("cannot list /proc/self/fd: %s", std::strerror(errno));
    const int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == own) continue;
        char target[256] = {};
        const std::string link = std::string("/proc/self/fd/") + entry->d_name;
        if (::readlink(link.c_str(), target, sizeof(target) - 1) < 0) std::strcpy(target, "?");
        visit(entry->d_name, target);
    }
    ::closedir(dir);
}

long count_open_fds() {
    long n = 0;
    for_each_open_fd([&](const char*, const char* target) {
        if (std::strncmp(target, "pipe:", 5) != 0) ++n;
    });
    return n;
}

void check_fd_count() {
    const long now = count_open_fds();
    if (now > g_fd_baseline) {
        for_each_open_fd([](const char* name, const char* target) {
            std::fprintf(stderr, "fuzz_wire:   fd %s -> %s\n", name, target);
        });
        fail("file descriptor leak: /proc/self/fd held %ld entries (pipes left out) at start-up, %ld after %lu inputs",
             g_fd_baseline, now, g_iterations);
    }
}

// A fresh owned duplicate of the memfd, and its number, so that the caller can check afterwards
// that whoever took ownership closed it.
UniqueFd memfd_duplicate() {
    const int fd = ::fcntl(g_memfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) fail("fcntl(F_DUPFD_CLOEXEC) on the memfd: %s", std::strerror(errno));
    return UniqueFd(fd);
}

void expect_closed(int fd, const char* what) {
    if (fd >= 0 && ::fcntl(fd, F_GETFD) != -1) fail("%s: fd %d is still open after its owner went away", what, fd);
}

// ---- field-by-field comparison ----------------------------------------------------------------

template <typename T>
void expect_field(const char* codec, const char* field, const T& a, const T& b) {
    if (!(a == b)) fail("%s round trip changed field '%s'", codec, field);
}

void expect_equal(const geyser::FrameHeader& a, const geyser::FrameHeader& b) {
    expect_field("frame header", "type", a.type, b.type);
    expect_field("frame header", "payload_size", a.payload_size, b.payload_size);
    expect_field("frame header", "fd_count", a.fd_count, b.fd_count);
}

// Every field but the fd, whose number differs by construction.
void expect_equal(const geyser::MemoryHandle& a, const geyser::MemoryHandle& b) {
    const char* c = "memory_handle";
    expect_field(c, "kind", a.kind, b.kind);
    expect_field(c, "handle_type", a.handle_type, b.handle_type);
    expect_field(c, "size", a.size, b.size);
    expect_field(c, "memory_type_index", a.memory_type_index, b.memory_type_index);
    expect_field(c, "dedicated", a.dedicated, b.dedicated);
    expect_field(c, "device_uuid", a.device_uuid, b.device_uuid);
    expect_field(c, "driver_uuid", a.driver_uuid, b.driver_uuid);
    expect_field(c, "width", a.width, b.width);
    expect_field(c, "height", a.height, b.height);
    expect_field(c, "vk_format", a.vk_format, b.vk_format);
    expect_field(c, "vk_usage", a.vk_usage, b.vk_usage);
    expect_field(c, "vk_tiling", a.vk_tiling, b.vk_tiling);
    expect_field(c, "vk_create_flags", a.vk_create_flags, b.vk_create_flags);
    expect_field(c, "vk_layout", a.vk_layout, b.vk_layout);
    expect_field(c, "texture_format", a.texture_format, b.texture_format);
    expect_field(c, "texture_usage", a.texture_usage, b.texture_usage);
    expect_field(c, "buffer_size", a.buffer_size, b.buffer_size);
    expect_field(c, "buffer_usage", a.buffer_usage, b.buffer_usage);
}

void expect_same_bytes(const char* codec, const std::vector<uint8_t>& encoded, const uint8_t* data, size_t size) {
    if (encoded.size() != size || (size != 0 && std::memcmp(encoded.data(), data, size) != 0)) {
        fail("%s: a payload that decoded re-encodes to different bytes (%zu bytes in, %zu out)", codec, size,
             encoded.size());
    }
}

// ---- payload codecs ---------------------------------------------------------------------------

// `with_fd`: give the decoder an owned memfd duplicate, otherwise a UniqueFd of -1.
void fuzz_memory_handle(const uint8_t* data, size_t size, bool with_fd) {
    UniqueFd fd = with_fd ? memfd_duplicate() : UniqueFd();
    const int fd_number = fd.get();
    geyser::MemoryHandle h;
    const bool ok = accepted("decode_memory_handle",
                             [&] { h = geyser::decode_memory_handle(data, size, std::move(fd)); });
    if (!ok) {
        expect_closed(fd_number, "decode_memory_handle rejected a payload");
        return;
    }
    if (!with_fd) fail("decode_memory_handle accepted a payload without an fd");
    if (h.fd.get() != fd_number) fail("decode_memory_handle did not hand on the fd it was given");

    std::vector<uint8_t> encoded;
    if (!accepted("encode_memory_handle", [&] { encoded = geyser::encode_memory_handle(h); })) {
        fail("encode_memory_handle refused a handle that decode_memory_handle accepted");
    }
    expect_same_bytes("memory_handle", encoded, data, size);

    UniqueFd second_fd = memfd_duplicate();
    const int second_number = second_fd.get();
    geyser::MemoryHandle again;
    if (!accepted("decode_memory_handle (round trip)", [&] {
            again = geyser::decode_memory_handle(encoded.data(), encoded.size(), std::move(second_fd));
        })) {
        fail("decode_memory_handle rejected its own encoding of a payload it accepted");
    }
    expect_equal(h, again);
    if (again.fd.get() != second_number) fail("decode_memory_handle did not hand on the fd it was given (round trip)");

    h.close();
    again.close();
    expect_closed(fd_number, "MemoryHandle::close");
    expect_closed(second_number, "MemoryHandle::close");
}

// ---- named-sender codecs (geyser/sender_protocol.hpp) and the sync and timeline handles ----------------------------------------------------

// The shape shared by the codecs without an fd: decode; if accepted, re-encode to the same bytes
// and decode again to an equal value.
template <typename T, typename Decode, typename Encode, typename Equal>
void fuzz_codec(const char* codec, const uint8_t* data, size_t size, Decode decode, Encode encode, Equal equal) {
    T value;
    if (!accepted(codec, [&] { value = decode(data, size); })) return;
    std::vector<uint8_t> encoded;
    if (!accepted(codec, [&] { encoded = encode(value); })) fail("%s: the encoder refused a decoded value", codec);
    expect_same_bytes(codec, encoded, data, size);
    T again;
    if (!accepted(codec, [&] { again = decode(encoded.data(), encoded.size()); })) {
        fail("%s: the decoder rejected its own encoding of a value it accepted", codec);
    }
    equal(value, again);
}

void expect_equal(const geyser::Hello& a, const geyser::Hello& b) {
    expect_field("hello", "protocol", a.protocol, b.protocol);
    expect_field("hello", "pid", a.pid, b.pid);
    expect_field("hello", "subscribe", a.subscribe, b.subscribe);
    expect_field("hello", "client", a.client, b.client);
    expect_field("hello", "path", a.path, b.path);
    expect_field("hello", "device_uuid", a.device_uuid == b.device_uuid, true);
    // The decoder's promise: a UUID exactly when a peer copy is asked for.
    if ((a.path == geyser::SharePath::kPeerCopy) != (a.device_uuid != geyser::Uuid{})) {
        fail("hello: a decoded device UUID that does not match the path");
    }
}

void fuzz_peer_answer(const uint8_t* data, size_t size) {
    fuzz_codec<geyser::PeerAnswer>("peer_answer", data, size, geyser::decode_peer_answer, geyser::encode_peer_answer,
                                   [](const geyser::PeerAnswer& a, const geyser::PeerAnswer& b) {
                                       expect_field("peer_answer", "accepted", a.accepted, b.accepted);
                                       expect_field("peer_answer", "message", a.message, b.message);
                                       if (a.message.empty()) fail("peer_answer: decoded an empty message");
                                   });
}

void expect_equal(const geyser::CopyRing& a, const geyser::CopyRing& b) {
    expect_field("copy_ring", "slots", a.slots, b.slots);
    expect_field("copy_ring", "slot_size", a.slot_size, b.slot_size);
    expect_field("copy_ring", "planes", a.planes.size(), b.planes.size());
    for (size_t i = 0; i < a.planes.size(); ++i) {
        expect_field("copy_ring", "aspect", a.planes[i].aspect, b.planes[i].aspect);
        expect_field("copy_ring", "offset", a.planes[i].offset, b.planes[i].offset);
        expect_field("copy_ring", "size", a.planes[i].size, b.planes[i].size);
    }
    // The decoder's promise: the planes tile one slot exactly, so no plane lies outside the file.
    uint64_t end = 0;
    for (const auto& p : a.planes) {
        if (p.offset != end) fail("copy_ring: a decoded plane is not packed");
        end += p.size;
    }
    if (end != a.slot_size || a.slots == 0 || a.slots > 64) fail("copy_ring: decoded planes do not tile the slot");
}

void fuzz_copy_ring(const uint8_t* data, size_t size) {
    fuzz_codec<geyser::CopyRing>("copy_ring", data, size, geyser::decode_copy_ring, geyser::encode_copy_ring,
                                 [](const geyser::CopyRing& a, const geyser::CopyRing& b) { expect_equal(a, b); });
}

void expect_equal(const geyser::SenderInfo& a, const geyser::SenderInfo& b) {
    const char* c = "sender_info";
    expect_field(c, "protocol", a.protocol, b.protocol);
    expect_field(c, "name", a.name, b.name);
    expect_field(c, "producer_pid", a.producer_pid, b.producer_pid);
    expect_field(c, "ring_size", a.ring_size, b.ring_size);
    expect_field(c, "width", a.width, b.width);
    expect_field(c, "height", a.height, b.height);
    expect_field(c, "vk_format", a.vk_format, b.vk_format);
    expect_field(c, "texture_format", a.texture_format, b.texture_format);
    expect_field(c, "texture_usage", a.texture_usage, b.texture_usage);
    expect_field(c, "payload", static_cast<uint32_t>(a.payload), static_cast<uint32_t>(b.payload));
    expect_field(c, "layout", a.layout.describe(), b.layout.describe());
    expect_field(c, "sync_kind", a.sync_kind, b.sync_kind);
    expect_field(c, "mode", a.mode, b.mode);
    expect_field(c, "max_held", a.max_held, b.max_held);
    expect_field(c, "current_frame", a.current_frame, b.current_frame);
    expect_field(c, "subscribers", a.subscribers, b.subscribers);
    expect_field(c, "device_uuid", a.device_uuid, b.device_uuid);
    expect_field(c, "driver_uuid", a.driver_uuid, b.driver_uuid);
}

void expect_equal(const geyser::FrameMessage& a, const geyser::FrameMessage& b) {
    expect_field("frame", "number", a.number, b.number);
    expect_field("frame", "slot", a.slot, b.slot);
}

// Every field but the fd.
void expect_equal(const geyser::SyncHandle& a, const geyser::SyncHandle& b) {
    const char* c = "sync_handle";
    expect_field(c, "primitive", a.primitive, b.primitive);
    expect_field(c, "semaphore_type", a.semaphore_type, b.semaphore_type);
    expect_field(c, "handle_type", a.handle_type, b.handle_type);
    expect_field(c, "already_signaled", a.already_signaled, b.already_signaled);
    expect_field(c, "permanent", a.permanent, b.permanent);
    expect_field(c, "initial_value", a.initial_value, b.initial_value);
    expect_field(c, "device_uuid", a.device_uuid, b.device_uuid);
    expect_field(c, "driver_uuid", a.driver_uuid, b.driver_uuid);
}

void fuzz_hello(const uint8_t* data, size_t size) {
    fuzz_codec<geyser::Hello>("hello", data, size, geyser::decode_hello, geyser::encode_hello,
                              [](const geyser::Hello& a, const geyser::Hello& b) { expect_equal(a, b); });
}

void fuzz_sender_info(const uint8_t* data, size_t size) {
    fuzz_codec<geyser::SenderInfo>("sender_info", data, size, geyser::decode_sender_info, geyser::encode_sender_info,
                                   [](const geyser::SenderInfo& a, const geyser::SenderInfo& b) { expect_equal(a, b); });
}

void fuzz_frame_message(const uint8_t* data, size_t size) {
    fuzz_codec<geyser::FrameMessage>(
        "frame", data, size, geyser::decode_frame_message, geyser::encode_frame_message,
        [](const geyser::FrameMessage& a, const geyser::FrameMessage& b) { expect_equal(a, b); });
}

// An already-signalled sync FD is the one payload that travels without an fd; the round trip
// gives the decoder what the first decode proved acceptable.
void fuzz_sync_handle(const uint8_t* data, size_t size, bool with_fd) {
    UniqueFd fd = with_fd ? memfd_duplicate() : UniqueFd();
    const int fd_number = fd.get();
    geyser::SyncHandle h;
    if (!accepted("decode_sync_handle", [&] { h = geyser::decode_sync_handle(data, size, std::move(fd)); })) {
        expect_closed(fd_number, "decode_sync_handle rejected a payload");
        return;
    }
    if (h.fd.get() != fd_number) fail("decode_sync_handle did not hand on the fd it was given");
    std::vector<uint8_t> encoded;
    if (!accepted("encode_sync_handle", [&] { encoded = geyser::encode_sync_handle(h); })) {
        fail("encode_sync_handle refused a handle that decode_sync_handle accepted");
    }
    expect_same_bytes("sync_handle", encoded, data, size);
    UniqueFd second_fd = with_fd ? memfd_duplicate() : UniqueFd();
    const int second_number = second_fd.get();
    geyser::SyncHandle again;
    if (!accepted("decode_sync_handle (round trip)", [&] {
            again = geyser::decode_sync_handle(encoded.data(), encoded.size(), std::move(second_fd));
        })) {
        fail("decode_sync_handle rejected its own encoding of a payload it accepted");
    }
    expect_equal(h, again);
    h.close();
    again.close();
    expect_closed(fd_number, "SyncHandle::close");
    expect_closed(second_number, "SyncHandle::close");
}

// The fd ends up in semaphore.fd (kVulkan) or in fd (kPortable), never in both, and is closed on
// every error path. Returns whether the payload was accepted.
bool fuzz_timeline_handle(const uint8_t* data, size_t size, bool with_fd) {
    const char* c = "timeline_handle";
    UniqueFd fd = with_fd ? memfd_duplicate() : UniqueFd();
    const int fd_number = fd.get();
    geyser::TimelineHandle h;
    if (!accepted("decode_timeline_handle", [&] { h = geyser::decode_timeline_handle(data, size, std::move(fd)); })) {
        expect_closed(fd_number, "decode_timeline_handle rejected a payload");
        return false;
    }
    if (!with_fd) fail("decode_timeline_handle accepted a payload without an fd");
    const bool portable = h.kind == geyser::TimelineKind::kPortable;
    const int holder = portable ? h.fd.get() : h.semaphore.fd.get();
    if (holder != fd_number || (portable ? h.semaphore.fd.valid() : h.fd.valid()) || h.native_fd() != fd_number) {
        fail("decode_timeline_handle put fd %d in the wrong place for a %s timeline", fd_number,
             portable ? "portable" : "vulkan");
    }
    std::vector<uint8_t> encoded;
    if (!accepted("encode_timeline_handle", [&] { encoded = geyser::encode_timeline_handle(h); })) {
        fail("encode_timeline_handle refused a handle that decode_timeline_handle accepted");
    }
    expect_same_bytes(c, encoded, data, size);
    UniqueFd second_fd = memfd_duplicate();
    const int second_number = second_fd.get();
    geyser::TimelineHandle again;
    if (!accepted("decode_timeline_handle (round trip)", [&] {
            again = geyser::decode_timeline_handle(encoded.data(), encoded.size(), std::move(second_fd));
        })) {
        fail("decode_timeline_handle rejected its own encoding of a payload it accepted");
    }
    expect_field(c, "kind", h.kind, again.kind);
    if (!portable) expect_equal(h.semaphore, again.semaphore);
    if (again.native_fd() != second_number) fail("decode_timeline_handle did not hand on the fd it was given (round trip)");
    // (TimelineHandle::close lives with the Timeline, which this build leaves out.)
    h.semaphore.close();
    h.fd.reset();
    again.semaphore.close();
    again.fd.reset();
    expect_closed(fd_number, "TimelineHandle");
    expect_closed(second_number, "TimelineHandle");
    return true;
}

// The fd ends up in semaphore.fd (kVulkan) or in `portable_fd` (kPortable), never in both, and is
// closed on every error path. The announcement is a role byte (1 or 2) in front of a timeline
// handle: it must decode exactly when the rest decodes as one.
void fuzz_timeline_announce(const uint8_t* data, size_t size, bool with_fd) {
    const char* c = "timeline";
    UniqueFd fd = with_fd ? memfd_duplicate() : UniqueFd();
    const int fd_number = fd.get();
    UniqueFd portable_fd;
    geyser::TimelineAnnounce m;
    const bool ok = accepted("decode_timeline_announce",
                             [&] { m = geyser::decode_timeline_announce(data, size, std::move(fd), portable_fd); });
    const bool role_ok = size > 0 && (data[0] == 1 || data[0] == 2);
    const bool handle_ok = role_ok && fuzz_timeline_handle(data + 1, size - 1, with_fd);
    if (ok != handle_ok) {
        fail("decode_timeline_announce %s a payload whose role is %s and whose rest decode_timeline_handle %s",
             ok ? "accepted" : "rejected", role_ok ? "valid" : "invalid", handle_ok ? "accepts" : "rejects");
    }
    if (!ok) {
        if (portable_fd) fail("decode_timeline_announce set portable_fd and then rejected the payload");
        expect_closed(fd_number, "decode_timeline_announce rejected a payload");
        return;
    }
    if (!with_fd) fail("decode_timeline_announce accepted a payload without an fd");
    const bool portable = m.kind == geyser::TimelineKind::kPortable;
    const int holder = portable ? portable_fd.get() : m.semaphore.fd.get();
    if (holder != fd_number || (portable ? m.semaphore.fd.valid() : portable_fd.valid())) {
        fail("decode_timeline_announce put fd %d in the wrong place for a %s timeline", fd_number,
             portable ? "portable" : "vulkan");
    }
    std::vector<uint8_t> encoded;
    if (!accepted("encode_timeline_announce", [&] { encoded = geyser::encode_timeline_announce(m); })) {
        fail("encode_timeline_announce refused an announcement that decode_timeline_announce accepted");
    }
    expect_same_bytes(c, encoded, data, size);
    UniqueFd second_fd = memfd_duplicate();
    const int second_number = second_fd.get();
    UniqueFd second_portable;
    geyser::TimelineAnnounce again;
    if (!accepted("decode_timeline_announce (round trip)", [&] {
            again = geyser::decode_timeline_announce(encoded.data(), encoded.size(), std::move(second_fd),
                                                     second_portable);
        })) {
        fail("decode_timeline_announce rejected its own encoding of a payload it accepted");
    }
    expect_field(c, "role", m.role, again.role);
    expect_field(c, "kind", m.kind, again.kind);
    expect_equal(m.semaphore, again.semaphore);
    m.semaphore.close();
    again.semaphore.close();
    portable_fd.reset();
    second_portable.reset();
    expect_closed(fd_number, "TimelineAnnounce");
    expect_closed(second_number, "TimelineAnnounce");
}

// The payload of a frame whose header decoded and whose length matched: what the receiving side
// would hand to the codec of that message type. Types with no payload codec yet end here.
void fuzz_payload_of(uint16_t type, const uint8_t* payload, size_t size, uint16_t fd_count) {
    switch (static_cast<geyser::MessageType>(type)) {
        case geyser::MessageType::kMemoryHandle:
            fuzz_memory_handle(payload, size, fd_count == 1);
            return;
        case geyser::MessageType::kSyncHandle:
            // receive_handle passes on at most one fd; the decoder decides whether one belongs.
            if (fd_count <= 1) fuzz_sync_handle(payload, size, fd_count == 1);
            return;
        case geyser::MessageType::kTimelineHandle:
            // Both codecs that travel under this type: a plain handle and the sender's announcement.
            fuzz_timeline_handle(payload, size, fd_count == 1);
            fuzz_timeline_announce(payload, size, fd_count == 1);
            return;
        case geyser::MessageType::kHello:
            fuzz_hello(payload, size);
            return;
        case geyser::MessageType::kFrame:
            fuzz_frame_message(payload, size);
            return;
        default:
            break;
    }
    if (type == geyser::kSenderInfoMessage) fuzz_sender_info(payload, size);
    if (type == geyser::kCopyRingMessage && fd_count == 1) fuzz_copy_ring(payload, size);
    if (type == geyser::kPeerAnswerMessage && fd_count == 0) fuzz_peer_answer(payload, size);
}

// ---- frame header -----------------------------------------------------------------------------

void fuzz_frame(const uint8_t* data, size_t size) {
    geyser::FrameHeader h;
    if (!accepted("decode_header", [&] { h = geyser::decode_header(data, size); })) return;
    if (size < geyser::kFrameHeaderSize) fail("decode_header accepted a %zu-byte buffer", size);

    std::array<uint8_t, geyser::kFrameHeaderSize> encoded{};
    if (!accepted("encode_header", [&] { encoded = geyser::encode_header(h.type, h.payload_size, h.fd_count); })) {
        fail("encode_header refused a header that decode_header accepted");
    }
    if (std::memcmp(encoded.data(), data, geyser::kFrameHeaderSize) != 0) {
        fail("frame header: a header that decoded re-encodes to different bytes");
    }
    geyser::FrameHeader again;
    if (!accepted("decode_header (round trip)", [&] { again = geyser::decode_header(encoded.data(), encoded.size()); })) {
        fail("decode_header rejected its own encoding of a header it accepted");
    }
    expect_equal(h, again);
    if (geyser::message_type_name(h.type) == nullptr) fail("message_type_name(%u) returned null", h.type);

    const size_t payload_size = size - geyser::kFrameHeaderSize;
    if (payload_size == h.payload_size) {
        fuzz_payload_of(h.type, data + geyser::kFrameHeaderSize, payload_size, h.fd_count);
    }
}

// ---- WireReader primitives --------------------------------------------------------------------

// An independent statement of which byte sequences are UTF-8 (the Unicode Standard's table of
// well-formed byte sequences), to check the reader's shift-based validator against.
bool well_formed_utf8(const uint8_t* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t b = s[i];
        uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        size_t len = 0;
        if (b <= 0x7F) {
            len = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b == 0xE0) {
            len = 3, lo = 0xA0;
        } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
            len = 3;
        } else if (b == 0xED) {
            len = 3, hi = 0x9F;
        } else if (b == 0xF0) {
            len = 4, lo = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3) {
            len = 4;
        } else if (b == 0xF4) {
            len = 4, hi = 0x8F;
        } else {
            return false;
        }
        if (n - i < len) return false;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return false;
        for (size_t k = 2; k < len; ++k) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        }
        i += len;
    }
    return true;
}

enum class Op : uint8_t { kU8, kU16, kU32, kU64, kBoolean, kUuid, kBytes, kString, kFinish, kCount };

// max_size arguments for bytes/string, picked by the op byte's high nibble; 0 means the default.
constexpr size_t kLimits[16] = {0, 0, 1, 2, 3, 4, 7, 8, 16, 64, 255, 256, 4095, 4096, 4097, 65536};
constexpr size_t kMaxOps = 64;

// One successfully read value, kept to replay the same reads over the re-encoded bytes.
struct Read {
    Op op = Op::kU8;
    size_t limit = 0;
    uint64_t number = 0;
    geyser::Uuid uuid{};
    std::vector<uint8_t> bytes;
};

uint64_t le(const uint8_t* p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

// Reads one value of `op` from `r`. Returns false when the reader rejected it.
bool read_one(geyser::WireReader& r, Op op, size_t limit, Read& out) {
    out.op = op;
    out.limit = limit;
    return accepted("WireReader", [&] {
        switch (op) {
            case Op::kU8: out.number = r.u8("u8"); break;
            case Op::kU16: out.number = r.u16("u16"); break;
            case Op::kU32: out.number = r.u32("u32"); break;
            case Op::kU64: out.number = r.u64("u64"); break;
            case Op::kBoolean: out.number = r.boolean("boolean") ? 1 : 0; break;
            case Op::kUuid: out.uuid = r.uuid("uuid"); break;
            case Op::kBytes: out.bytes = limit ? r.bytes("bytes", limit) : r.bytes("bytes"); break;
            case Op::kString: {
                const std::string s = limit ? r.string("string", limit) : r.string("string");
                out.bytes.assign(s.begin(), s.end());
                break;
            }
            case Op::kFinish: r.finish(); break;
            case Op::kCount: break;
        }
    });
}

// What the reader must do for `op` at `pos` of [data, data+size): false if it must reject,
// otherwise the value in `want` and the new position in `pos`.
bool model_one(const uint8_t* data, size_t size, size_t& pos, Op op, size_t limit, Read& want) {
    const size_t left = size - pos;
    auto fixed = [&](size_t n) {
        if (left < n) return false;
        want.number = le(data + pos, n);
        pos += n;
        return true;
    };
    switch (op) {
        case Op::kU8: return fixed(1);
        case Op::kU16: return fixed(2);
        case Op::kU32: return fixed(4);
        case Op::kU64: return fixed(8);
        case Op::kBoolean: return left >= 1 && data[pos] <= 1 && fixed(1);
        case Op::kUuid:
            if (left < want.uuid.size()) return false;
            std::memcpy(want.uuid.data(), data + pos, want.uuid.size());
            pos += want.uuid.size();
            return true;
        case Op::kBytes:
        case Op::kString: {
            if (left < 4) return false;
            const uint64_t n = le(data + pos, 4);
            const size_t max = limit ? limit : (op == Op::kBytes ? geyser::kMaxPayloadSize : geyser::kMaxStringSize);
            if (n > max || n > left - 4) return false;
            const uint8_t* p = data + pos + 4;
            if (op == Op::kString && !well_formed_utf8(p, n)) return false;
            want.bytes.assign(p, p + n);
            pos += 4 + n;
            return true;
        }
        case Op::kFinish: return left == 0;
        case Op::kCount: break;
    }
    return false;
}

void expect_same_read(const Read& got, const Read& want, const char* when) {
    if (got.number != want.number || got.uuid != want.uuid || got.bytes != want.bytes) {
        fail("WireReader op %u %s: value differs from the model", static_cast<unsigned>(got.op), when);
    }
}

void write_one(geyser::WireWriter& w, const Read& v) {
    switch (v.op) {
        case Op::kU8: w.u8(static_cast<uint8_t>(v.number)); break;
        case Op::kU16: w.u16(static_cast<uint16_t>(v.number)); break;
        case Op::kU32: w.u32(static_cast<uint32_t>(v.number)); break;
        case Op::kU64: w.u64(v.number); break;
        case Op::kBoolean: w.boolean(v.number != 0); break;
        case Op::kUuid: w.uuid(v.uuid); break;
        case Op::kBytes: w.bytes(v.bytes); break;
        case Op::kString: {
            const std::string s(v.bytes.begin(), v.bytes.end());
            if (v.limit) {
                w.string(s, "string", v.limit);
            } else {
                w.string(s);
            }
            break;
        }
        case Op::kFinish:
        case Op::kCount: break;
    }
}

// Input: u8 op count (at most kMaxOps), that many op bytes (low nibble: Op, taken modulo kCount;
// high nibble: index into kLimits), then the data. Each read must succeed exactly when the model
// says so, return the model's value and advance offset() to the model's position. The reads that
// succeeded, written again with WireWriter, must give back the bytes they consumed, and reading
// those bytes with the same ops must give the same values.
void fuzz_reader(const uint8_t* input, size_t input_size) {
    if (input_size == 0) return;
    const size_t op_count = std::min<size_t>(input[0] % (kMaxOps + 1), input_size - 1);
    const uint8_t* ops = input + 1;
    const uint8_t* data = ops + op_count;
    const size_t size = input_size - 1 - op_count;

    geyser::WireReader r(data, size, "fuzz");
    size_t pos = 0;
    std::vector<Read> reads;
    for (size_t i = 0; i < op_count; ++i) {
        const auto op = static_cast<Op>((ops[i] & 0x0F) % static_cast<uint8_t>(Op::kCount));
        const size_t limit = kLimits[ops[i] >> 4];
        Read got, want;
        const bool ok = read_one(r, op, limit, got);
        const bool model_ok = model_one(data, size, pos, op, limit, want);
        if (ok != model_ok) {
            fail("WireReader op %u at offset %zu of %zu (limit %zu): reader %s, model %s", static_cast<unsigned>(op),
                 r.offset(), size, limit, ok ? "accepted" : "rejected", model_ok ? "accepts" : "rejects");
        }
        if (!ok) break;  // what a reader holds after a rejection is unspecified
        expect_same_read(got, want, "read");
        if (r.offset() != pos || r.remaining() != size - pos) {
            fail("WireReader op %u: offset %zu / remaining %zu, the model says %zu / %zu", static_cast<unsigned>(op),
                 r.offset(), r.remaining(), pos, size - pos);
        }
        reads.push_back(std::move(got));
    }

    geyser::WireWriter w;
    for (const Read& v : reads) {
        if (!accepted("WireWriter", [&] { write_one(w, v); })) {
            fail("WireWriter refused a value (op %u) that WireReader accepted", static_cast<unsigned>(v.op));
        }
    }
    expect_same_bytes("WireReader/WireWriter", w.data(), data, pos);

    const std::vector<uint8_t> encoded = w.take();
    geyser::WireReader again(encoded.data(), encoded.size(), "fuzz round trip");
    for (const Read& want : reads) {
        Read got;
        if (!read_one(again, want.op, want.limit, got)) {
            fail("WireReader rejected (op %u) what WireWriter wrote", static_cast<unsigned>(want.op));
        }
        expect_same_read(got, want, "round trip");
    }
    if (!accepted("WireReader::finish", [&] { again.finish(); })) fail("round trip left trailing bytes");
}

// ---- dispatch ---------------------------------------------------------------------------------

enum Target : uint8_t {
    kFrame,
    kMemoryHandle,
    kReader,
    kHello,
    kSenderInfo,
    kSyncHandle,
    kTimelineAnnounce,
    kFrameMessage,
    kTimelineHandle,
    kCopyRing,
    kPeerAnswer,
    kTargetCount
};
constexpr uint8_t kNoFdFlag = 0x10;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_memfd = ::memfd_create("geyser-fuzz-wire", MFD_CLOEXEC);
    if (g_memfd < 0) fail("memfd_create: %s", std::strerror(errno));
    if (::ftruncate(g_memfd, 4096) != 0) fail("ftruncate on the memfd: %s", std::strerror(errno));
    g_fd_baseline = count_open_fds();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ++g_iterations;
    if (size > 0) {
        const uint8_t selector = data[0];
        const uint8_t* rest = data + 1;
        const size_t rest_size = size - 1;
        switch (static_cast<Target>((selector & 0x0F) % kTargetCount)) {
            case kFrame: fuzz_frame(rest, rest_size); break;
            case kMemoryHandle: fuzz_memory_handle(rest, rest_size, !(selector & kNoFdFlag)); break;
            case kReader: fuzz_reader(rest, rest_size); break;
            case kHello: fuzz_hello(rest, rest_size); break;
            case kSenderInfo: fuzz_sender_info(rest, rest_size); break;
            case kSyncHandle: fuzz_sync_handle(rest, rest_size, !(selector & kNoFdFlag)); break;
            case kTimelineAnnounce: fuzz_timeline_announce(rest, rest_size, !(selector & kNoFdFlag)); break;
            case kFrameMessage: fuzz_frame_message(rest, rest_size); break;
            case kTimelineHandle: fuzz_timeline_handle(rest, rest_size, !(selector & kNoFdFlag)); break;
            case kCopyRing: fuzz_copy_ring(rest, rest_size); break;
            case kPeerAnswer: fuzz_peer_answer(rest, rest_size); break;
            case kTargetCount: break;
        }
    }
    // Also after the first input, so that running a single reproducer checks for leaks too.
    if (g_iterations == 1 || g_iterations % kFdCheckInterval == 0) check_fd_count();
    return 0;
}
