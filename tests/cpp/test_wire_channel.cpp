// Tests for the wire format (wire.hpp) and the Unix-socket transport (channel.hpp): codec round
// trips, fd passing within a process and across fork(), and a catalogue of hostile peers that
// each must produce the specific error and leave no fd behind.
#include "geyser/channel.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/wire.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "geyser/error.hpp"
#include "geyser/unique_fd.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using geyser::AnyHandle;
using geyser::Channel;
using geyser::InvalidArgumentError;
using geyser::InvalidHandleError;
using geyser::Listener;
using geyser::MemoryHandle;
using geyser::Message;
using geyser::MessageType;
using geyser::OsError;
using geyser::PeerGoneError;
using geyser::ProtocolError;
using geyser::SemaphoreType;
using geyser::SyncHandle;
using geyser::SyncPrimitive;
using geyser::TimelineHandle;
using geyser::TimelineKind;
using geyser::TimeoutError;
using geyser::UniqueFd;
using geyser::WireReader;
using geyser::WireWriter;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::nanoseconds kMs = std::chrono::milliseconds(1);
constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);
constexpr uint16_t kMemoryHandleType = static_cast<uint16_t>(MessageType::kMemoryHandle);

// Byte offsets of fields in an encoded memory handle (see encode_memory_handle's layout).
constexpr size_t kOffKind = 0;
constexpr size_t kOffHandleType = 4;
constexpr size_t kOffSize = 8;
constexpr size_t kOffDedicated = 20;
constexpr size_t kOffDeviceUuid = 21;
constexpr size_t kOffWidth = 53;
constexpr size_t kOffVkFormat = 61;
constexpr size_t kOffVkTiling = 69;
constexpr size_t kOffTextureFormat = 81;
constexpr size_t kOffBufferSize = 89;
constexpr size_t kMemoryHandleSize = 101;

// Byte offsets of fields in an encoded sync handle (see encode_sync_handle's layout).
constexpr size_t kOffSyncPrimitive = 0;
constexpr size_t kOffSyncSemaphoreType = 4;
constexpr size_t kOffSyncHandleType = 8;
constexpr size_t kOffSyncAlreadySignaled = 12;
constexpr size_t kOffSyncPermanent = 13;
constexpr size_t kOffSyncInitialValue = 14;
constexpr size_t kOffSyncDeviceUuid = 22;
constexpr size_t kOffSyncDriverUuid = 38;
constexpr uint32_t kOpaqueFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
constexpr uint32_t kSyncFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;

int64_t elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

using geyser::testing_support::fd_count;

// Runs `body`, which must throw `E` whose message contains `needle`.
template <class E>
void expect_throw(const std::function<void()>& body, const std::string& needle) {
    try {
        body();
        ADD_FAILURE() << "expected an exception containing \"" << needle << "\", nothing was thrown";
    } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type; message: " << e.what();
    }
}

// A memfd holding `contents`.
UniqueFd memfd_with(const std::string& contents) {
    UniqueFd fd(::memfd_create("geyser-test", MFD_CLOEXEC));
    if (!fd) throw std::runtime_error("memfd_create failed");
    if (::write(fd.get(), contents.data(), contents.size()) != static_cast<ssize_t>(contents.size())) {
        throw std::runtime_error("write to memfd failed");
    }
    return fd;
}

std::string read_all(int fd, size_t size) {
    std::string out(size, '\0');
    const ssize_t n = ::pread(fd, out.data(), size, 0);
    if (n < 0) return "<pread failed>";
    out.resize(static_cast<size_t>(n));
    return out;
}

MemoryHandle texture_handle(UniqueFd fd) {
    MemoryHandle h;
    h.kind = geyser::ResourceKind::kTexture;
    h.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    h.fd = std::move(fd);
    h.size = 1 << 20;
    h.memory_type_index = 7;
    h.dedicated = true;
    for (size_t i = 0; i < h.device_uuid.size(); ++i) {
        h.device_uuid[i] = static_cast<uint8_t>(i + 1);
        h.driver_uuid[i] = static_cast<uint8_t>(0xF0 - i);
    }
    h.width = 640;
    h.height = 480;
    h.vk_format = VK_FORMAT_R8G8B8A8_UNORM;
    h.vk_usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_SAMPLED_BIT;
    h.vk_tiling = VK_IMAGE_TILING_OPTIMAL;
    h.vk_create_flags = 0;
    h.vk_layout = VK_IMAGE_LAYOUT_GENERAL;
    h.texture_format = geyser::TextureFormat::kRgba8Unorm;
    h.texture_usage = 0x11;
    return h;
}

MemoryHandle buffer_handle(UniqueFd fd) {
    MemoryHandle h;
    h.kind = geyser::ResourceKind::kBuffer;
    h.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
    h.fd = std::move(fd);
    h.size = 0x1'0001'0000ull;  // above 4 GiB: the u64s must survive
    h.buffer_size = 0xFFFF'FFFFull + 5;
    h.buffer_usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    return h;
}

void expect_same_description(const MemoryHandle& a, const MemoryHandle& b) {
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.handle_type, b.handle_type);
    EXPECT_EQ(a.size, b.size);
    EXPECT_EQ(a.memory_type_index, b.memory_type_index);
    EXPECT_EQ(a.dedicated, b.dedicated);
    EXPECT_EQ(a.device_uuid, b.device_uuid);
    EXPECT_EQ(a.driver_uuid, b.driver_uuid);
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    EXPECT_EQ(a.vk_format, b.vk_format);
    EXPECT_EQ(a.vk_usage, b.vk_usage);
    EXPECT_EQ(a.vk_tiling, b.vk_tiling);
    EXPECT_EQ(a.vk_create_flags, b.vk_create_flags);
    EXPECT_EQ(a.vk_layout, b.vk_layout);
    EXPECT_EQ(a.texture_format, b.texture_format);
    EXPECT_EQ(a.texture_usage, b.texture_usage);
    EXPECT_EQ(a.buffer_size, b.buffer_size);
    EXPECT_EQ(a.buffer_usage, b.buffer_usage);
}

// A timeline semaphore's handle as Device::export_semaphore makes one, owning `fd`.
SyncHandle timeline_semaphore_handle(UniqueFd fd) {
    SyncHandle h;
    h.primitive = SyncPrimitive::kSemaphore;
    h.semaphore_type = SemaphoreType::kTimeline;
    h.handle_type = kOpaqueFd;
    h.fd = std::move(fd);
    h.permanent = true;
    h.initial_value = 0x0102'0304'0506'0708ull;
    for (size_t i = 0; i < h.device_uuid.size(); ++i) {
        h.device_uuid[i] = static_cast<uint8_t>(0x10 + i);
        h.driver_uuid[i] = static_cast<uint8_t>(0xA0 + i);
    }
    return h;
}

// A binary semaphore's (or, with `fence`, a fence's) sync FD handle that the exporter found
// already signalled: no fd.
SyncHandle signalled_sync_fd_handle(bool fence) {
    SyncHandle h = timeline_semaphore_handle(UniqueFd());
    h.primitive = fence ? SyncPrimitive::kFence : SyncPrimitive::kSemaphore;
    h.semaphore_type = SemaphoreType::kBinary;
    h.handle_type = kSyncFd;
    h.already_signaled = true;
    h.permanent = false;
    h.initial_value = 0;
    return h;
}

void expect_same_description(const SyncHandle& a, const SyncHandle& b) {
    EXPECT_EQ(a.primitive, b.primitive);
    EXPECT_EQ(a.semaphore_type, b.semaphore_type);
    EXPECT_EQ(a.handle_type, b.handle_type);
    EXPECT_EQ(a.already_signaled, b.already_signaled);
    EXPECT_EQ(a.permanent, b.permanent);
    EXPECT_EQ(a.initial_value, b.initial_value);
    EXPECT_EQ(a.device_uuid, b.device_uuid);
    EXPECT_EQ(a.driver_uuid, b.driver_uuid);
}

TimelineHandle portable_timeline_handle(UniqueFd fd) {
    TimelineHandle h;
    h.kind = TimelineKind::kPortable;
    h.fd = std::move(fd);
    return h;
}

TimelineHandle vulkan_timeline_handle(UniqueFd fd) {
    TimelineHandle h;
    h.kind = TimelineKind::kVulkan;
    h.semaphore = timeline_semaphore_handle(std::move(fd));
    return h;
}

// Little-endian bytes written here by hand, independently of WireWriter.
void put_le(std::vector<uint8_t>& out, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put32_at(std::vector<uint8_t>& p, size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// A frame header built here byte by byte, independently of encode_header, so that the tests pin
// the wire layout rather than echo the implementation.
std::vector<uint8_t> raw_header(uint32_t magic, uint16_t version, uint16_t type, uint32_t length, uint16_t fds,
                                uint16_t flags = 0) {
    std::vector<uint8_t> h;
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<uint8_t>(magic >> (8 * i)));
    for (int i = 0; i < 2; ++i) h.push_back(static_cast<uint8_t>(version >> (8 * i)));
    for (int i = 0; i < 2; ++i) h.push_back(static_cast<uint8_t>(type >> (8 * i)));
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<uint8_t>(length >> (8 * i)));
    for (int i = 0; i < 2; ++i) h.push_back(static_cast<uint8_t>(fds >> (8 * i)));
    for (int i = 0; i < 2; ++i) h.push_back(static_cast<uint8_t>(flags >> (8 * i)));
    return h;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// What a hostile peer does: one sendmsg of arbitrary bytes and any number of fds.
void raw_send(int socket, const std::vector<uint8_t>& bytes, const std::vector<int>& fds) {
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * fds.size()) + sizeof(cmsghdr));
    if (!fds.empty()) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ASSERT_EQ(::sendmsg(socket, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size())) << std::strerror(errno);
}

// Parent and child of a fork(): the child reports through its exit status only, never through
// gtest (a child's failed assertion would be invisible).
int wait_child(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string unique_socket_path(const std::string& tag) {
    return geyser::runtime_dir() + "/test-" + tag + "-" + std::to_string(::getpid()) + ".sock";
}

// ---- wire format ----------------------------------------------------------------------------

TEST(Wire, FrameLayoutIsLittleEndianGysr) {
    const std::vector<uint8_t> frame = geyser::encode_frame(0x0207, {0xAA, 0xBB, 0xCC}, 3);
    const std::vector<uint8_t> expected = {'G', 'Y', 'S', 'R', 1, 0, 0x07, 0x02, 3, 0, 0, 0, 3, 0, 0, 0, 0xAA, 0xBB, 0xCC};
    EXPECT_EQ(frame, expected);
    EXPECT_EQ(geyser::kFrameHeaderSize, 16u);

    const geyser::FrameHeader h = geyser::decode_header(frame.data(), frame.size());
    EXPECT_EQ(h.type, 0x0207);
    EXPECT_EQ(h.payload_size, 3u);
    EXPECT_EQ(h.fd_count, 3);
}

TEST(Wire, EncodeRefusesOverLimits) {
    EXPECT_THROW(geyser::encode_frame(1, std::vector<uint8_t>(geyser::kMaxPayloadSize + 1), 0), InvalidArgumentError);
    EXPECT_THROW(geyser::encode_frame(1, {}, geyser::kMaxFdsPerMessage + 1), InvalidArgumentError);
    EXPECT_NO_THROW(geyser::encode_frame(1, std::vector<uint8_t>(geyser::kMaxPayloadSize), geyser::kMaxFdsPerMessage));
}

TEST(Wire, DecodeHeaderRejectsEachBadField) {
    auto decode = [](const std::vector<uint8_t>& h) { return [h] { geyser::decode_header(h.data(), h.size()); }; };
    const uint32_t magic = geyser::kWireMagic;
    expect_throw<ProtocolError>(decode(std::vector<uint8_t>(15, 0)), "truncated frame header: 15 bytes");
    expect_throw<ProtocolError>(decode(raw_header(0x52535948, 1, 1, 0, 0)), "bad frame magic");
    expect_throw<ProtocolError>(decode(raw_header(magic, 2, 1, 0, 0)),
                                "unsupported wire version 2 (this build speaks 1)");
    expect_throw<ProtocolError>(decode(raw_header(magic, 0, 1, 0, 0)), "unsupported wire version 0");
    expect_throw<ProtocolError>(decode(raw_header(magic, 1, 1, 65537, 0)), "65537");
    expect_throw<ProtocolError>(decode(raw_header(magic, 1, 1, 0, 17)), "17 file descriptors");
    expect_throw<ProtocolError>(decode(raw_header(magic, 1, 1, 0, 0, 0x8000)), "reserved header flags");
}

TEST(Wire, WriterReaderRoundTrip) {
    WireWriter w;
    w.u8(0xFE);
    w.u16(0xBEEF);
    w.u32(0xDEADBEEF);
    w.u64(0x0123456789ABCDEFull);
    w.boolean(true);
    w.string("héllo");
    w.bytes(std::vector<uint8_t>{1, 2, 3});
    geyser::Uuid u{};
    u[0] = 9;
    u[15] = 10;
    w.uuid(u);
    const std::vector<uint8_t> data = w.take();
    EXPECT_TRUE(w.data().empty());
    // u16 0xBEEF sits at offset 1, low byte first.
    EXPECT_EQ(data[1], 0xEF);
    EXPECT_EQ(data[2], 0xBE);

    WireReader r(data.data(), data.size(), "test");
    EXPECT_EQ(r.u8("a"), 0xFE);
    EXPECT_EQ(r.u16("b"), 0xBEEF);
    EXPECT_EQ(r.u32("c"), 0xDEADBEEFu);
    EXPECT_EQ(r.u64("d"), 0x0123456789ABCDEFull);
    EXPECT_TRUE(r.boolean("e"));
    EXPECT_EQ(r.string("f"), "héllo");
    EXPECT_EQ(r.bytes("g"), (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(r.uuid("h"), u);
    EXPECT_NO_THROW(r.finish());
}

TEST(Wire, ReaderIsStrict) {
    const std::vector<uint8_t> three = {1, 2, 3};
    expect_throw<ProtocolError>(
        [&] {
            WireReader r(three.data(), three.size(), "msg");
            r.u32("width");
        },
        "msg: field 'width' needs 4 bytes at offset 0, but only 3 remain");
    expect_throw<ProtocolError>(
        [&] {
            WireReader r(three.data(), three.size(), "msg");
            r.u16("a");
            r.finish();
        },
        "1 trailing bytes");
    expect_throw<ProtocolError>(
        [&] {
            const std::vector<uint8_t> two = {2};
            WireReader r(two.data(), two.size(), "msg");
            r.boolean("dedicated");
        },
        "field 'dedicated' is a boolean and must be 0 or 1, found 2");

    WireWriter long_string;
    long_string.string(std::string(100, 'x'));
    expect_throw<ProtocolError>(
        [&] {
            WireReader r(long_string.data().data(), long_string.data().size(), "msg");
            r.string("label", 99);
        },
        "field 'label' declares a string of 100 bytes; the limit is 99");

    // A length prefix that promises more than the buffer holds.
    WireWriter lying;
    lying.u32(1000);
    lying.u8('x');
    expect_throw<ProtocolError>(
        [&] {
            WireReader r(lying.data().data(), lying.data().size(), "msg");
            r.string("label");
        },
        "field 'label' needs 1000 bytes");

    // Overlong encoding of '/', and a lone surrogate: both rejected as Python would.
    for (const std::vector<uint8_t>& bad : {std::vector<uint8_t>{2, 0, 0, 0, 0xC0, 0xAF},
                                            std::vector<uint8_t>{3, 0, 0, 0, 0xED, 0xA0, 0x80}}) {
        expect_throw<ProtocolError>(
            [&] {
                WireReader r(bad.data(), bad.size(), "msg");
                r.string("name");
            },
            "not valid UTF-8");
    }
    WireWriter w;
    EXPECT_THROW(w.string(std::string("\xff")), InvalidArgumentError);
    EXPECT_THROW(w.string(std::string(geyser::kMaxStringSize + 1, 'a')), InvalidArgumentError);
}

TEST(Wire, MemoryHandleCodecRoundTrip) {
    for (bool texture : {true, false}) {
        UniqueFd fd = memfd_with("x");
        const int raw = fd.get();
        MemoryHandle sent = texture ? texture_handle(std::move(fd)) : buffer_handle(std::move(fd));
        const std::vector<uint8_t> payload = geyser::encode_memory_handle(sent);
        ASSERT_EQ(payload.size(), kMemoryHandleSize);
        EXPECT_EQ(payload[kOffKind], texture ? 1 : 2);

        MemoryHandle got = geyser::decode_memory_handle(payload.data(), payload.size(), sent.fd.duplicate());
        expect_same_description(sent, got);
        EXPECT_TRUE(got.fd.valid());
        EXPECT_NE(got.fd.get(), raw);
    }
}

TEST(Wire, EncodeMemoryHandleRefusesInvalidDescriptions) {
    MemoryHandle h = texture_handle(memfd_with("x"));
    h.width = 0;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_memory_handle(h); }, "'width'");
    MemoryHandle b = buffer_handle(memfd_with("x"));
    b.buffer_size = b.size + 1;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_memory_handle(b); }, "'buffer_size'");
    b = buffer_handle(memfd_with("x"));
    b.handle_type = static_cast<VkExternalMemoryHandleTypeFlagBits>(0x3);
    expect_throw<InvalidArgumentError>([&] { geyser::encode_memory_handle(b); }, "exactly one");
}

// Each case corrupts one field of a valid payload; decoding must name the field and close the fd.
TEST(Wire, DecodeMemoryHandleRejectsEachBadField) {
    struct Case {
        const char* name;
        std::function<void(std::vector<uint8_t>&)> corrupt;
        const char* needle;
    };
    auto put32 = [](std::vector<uint8_t>& p, size_t off, uint32_t v) {
        for (int i = 0; i < 4; ++i) p[off + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    const std::vector<Case> cases = {
        {"unknown kind", [&](auto& p) { put32(p, kOffKind, 3); }, "field 'kind'"},
        {"no handle type", [&](auto& p) { put32(p, kOffHandleType, 0); }, "exactly one"},
        {"two handle types", [&](auto& p) { put32(p, kOffHandleType, 0x201); }, "exactly one"},
        {"win32 handle type", [&](auto& p) { put32(p, kOffHandleType, 0x2); }, "not a file-descriptor handle type"},
        {"handle type above int32", [&](auto& p) { put32(p, kOffHandleType, 0x80000000u); }, "'handle_type'"},
        {"zero size", [&](auto& p) { std::fill(p.begin() + kOffSize, p.begin() + kOffSize + 8, 0); }, "'size'"},
        {"dedicated 2", [&](auto& p) { p[kOffDedicated] = 2; }, "'dedicated' is a boolean"},
        {"zero width", [&](auto& p) { put32(p, kOffWidth, 0); }, "'width'"},
        {"undefined format", [&](auto& p) { put32(p, kOffVkFormat, 0); }, "'vk_format'"},
        {"format above int32", [&](auto& p) { put32(p, kOffVkFormat, 0xFFFFFFFFu); }, "'vk_format'"},
        {"unknown tiling", [&](auto& p) { put32(p, kOffVkTiling, 5); }, "'vk_tiling'"},
        {"texture_format 22", [&](auto& p) { put32(p, kOffTextureFormat, 22); }, "'texture_format'"},
        {"trailing byte", [&](auto& p) { p.push_back(0); }, "1 trailing bytes"},
        {"short payload", [&](auto& p) { p.pop_back(); }, "'buffer_usage' needs 4 bytes"},
    };
    const MemoryHandle valid = texture_handle(memfd_with("x"));
    const std::vector<uint8_t> good = geyser::encode_memory_handle(valid);
    const size_t before = fd_count();
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<uint8_t> p = good;
        c.corrupt(p);
        expect_throw<ProtocolError>(
            [&] { geyser::decode_memory_handle(p.data(), p.size(), valid.fd.duplicate()); }, c.needle);
        EXPECT_EQ(fd_count(), before);
    }
    // A buffer description needs a buffer size within the allocation.
    std::vector<uint8_t> p = geyser::encode_memory_handle(buffer_handle(memfd_with("x")));
    std::fill(p.begin() + kOffBufferSize, p.begin() + kOffBufferSize + 8, 0);
    expect_throw<ProtocolError>([&] { geyser::decode_memory_handle(p.data(), p.size(), valid.fd.duplicate()); },
                                "'buffer_size'");
    expect_throw<ProtocolError>([&] { geyser::decode_memory_handle(good.data(), good.size(), UniqueFd()); },
                                "no file descriptor");
    EXPECT_EQ(fd_count(), before);
}

// ---- sync handle codec ----------------------------------------------------------------------

TEST(Wire, SyncHandleLayoutIsPinned) {
    const SyncHandle h = timeline_semaphore_handle(memfd_with("s"));
    std::vector<uint8_t> expected;
    put_le(expected, 1, 4);  // primitive: semaphore
    put_le(expected, 2, 4);  // semaphore_type: timeline
    put_le(expected, kOpaqueFd, 4);
    expected.push_back(0);  // already_signaled
    expected.push_back(1);  // permanent
    put_le(expected, h.initial_value, 8);
    expected.insert(expected.end(), h.device_uuid.begin(), h.device_uuid.end());
    expected.insert(expected.end(), h.driver_uuid.begin(), h.driver_uuid.end());
    ASSERT_EQ(expected.size(), geyser::kSyncHandlePayloadSize);
    EXPECT_EQ(geyser::encode_sync_handle(h), expected);
    EXPECT_EQ(expected[kOffSyncInitialValue], 0x08);
    EXPECT_EQ(expected[kOffSyncDeviceUuid], 0x10);
    EXPECT_EQ(expected[kOffSyncDriverUuid], 0xA0);
}

TEST(Wire, SyncHandleCodecRoundTrip) {
    const size_t before = fd_count();
    struct Case {
        const char* name;
        std::function<SyncHandle()> make;
    };
    const std::vector<Case> cases = {
        {"timeline semaphore", [] { return timeline_semaphore_handle(memfd_with("t")); }},
        {"binary semaphore, opaque fd",
         [] {
             SyncHandle h = timeline_semaphore_handle(memfd_with("b"));
             h.semaphore_type = SemaphoreType::kBinary;
             h.initial_value = 0;
             return h;
         }},
        {"binary semaphore, sync fd",
         [] {
             SyncHandle h = signalled_sync_fd_handle(false);
             h.already_signaled = false;
             h.fd = memfd_with("f");
             return h;
         }},
        {"fence, opaque fd",
         [] {
             SyncHandle h = timeline_semaphore_handle(memfd_with("f"));
             h.primitive = SyncPrimitive::kFence;
             h.semaphore_type = SemaphoreType::kBinary;
             h.initial_value = 0;
             return h;
         }},
        {"signalled semaphore sync fd", [] { return signalled_sync_fd_handle(false); }},
        {"signalled fence sync fd", [] { return signalled_sync_fd_handle(true); }},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const SyncHandle sent = c.make();
        const std::vector<uint8_t> payload = geyser::encode_sync_handle(sent);
        ASSERT_EQ(payload.size(), geyser::kSyncHandlePayloadSize);
        UniqueFd fd = sent.fd.valid() ? sent.fd.duplicate() : UniqueFd();
        const int raw = fd.get();
        const SyncHandle got = geyser::decode_sync_handle(payload.data(), payload.size(), std::move(fd));
        expect_same_description(sent, got);
        EXPECT_EQ(got.fd.get(), raw) << "the decoder hands on the fd it was given";
        EXPECT_EQ(geyser::encode_sync_handle(got), payload) << "the encoding is canonical";
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(Wire, EncodeSyncHandleRefusesInvalidDescriptions) {
    SyncHandle h = timeline_semaphore_handle(memfd_with("x"));
    h.primitive = static_cast<SyncPrimitive>(3);
    expect_throw<InvalidArgumentError>([&] { geyser::encode_sync_handle(h); }, "'primitive'");
    h = timeline_semaphore_handle(memfd_with("x"));
    h.handle_type = kSyncFd;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_sync_handle(h); }, "only as opaque_fd");
    h = timeline_semaphore_handle(memfd_with("x"));
    h.semaphore_type = SemaphoreType::kBinary;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_sync_handle(h); }, "'initial_value'");
    h = signalled_sync_fd_handle(false);
    h.handle_type = kOpaqueFd;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_sync_handle(h); }, "'already_signaled'");
}

// Each case corrupts one field of a valid payload; decoding must name the field and close the fd.
TEST(Wire, DecodeSyncHandleRejectsEachBadField) {
    struct Case {
        const char* name;
        std::function<void(std::vector<uint8_t>&)> corrupt;
        const char* needle;
    };
    const std::vector<Case> cases = {
        {"unknown primitive", [](auto& p) { put32_at(p, kOffSyncPrimitive, 3); }, "field 'primitive'"},
        {"primitive 0", [](auto& p) { put32_at(p, kOffSyncPrimitive, 0); }, "field 'primitive'"},
        {"unknown semaphore type", [](auto& p) { put32_at(p, kOffSyncSemaphoreType, 0); }, "field 'semaphore_type'"},
        {"a timeline fence",
         [](auto& p) {
             put32_at(p, kOffSyncPrimitive, 2);
             std::fill(p.begin() + kOffSyncInitialValue, p.begin() + kOffSyncInitialValue + 8, 0);
         },
         "a fence has no semaphore type"},
        {"win32 handle type", [](auto& p) { put32_at(p, kOffSyncHandleType, 0x2); }, "not opaque_fd (0x1) or sync_fd"},
        {"two handle types", [](auto& p) { put32_at(p, kOffSyncHandleType, 0x11); }, "field 'handle_type'"},
        {"timeline as sync fd", [](auto& p) { put32_at(p, kOffSyncHandleType, kSyncFd); }, "only as opaque_fd"},
        {"binary with a value", [](auto& p) { put32_at(p, kOffSyncSemaphoreType, 1); }, "field 'initial_value'"},
        {"already_signaled 2", [](auto& p) { p[kOffSyncAlreadySignaled] = 2; }, "'already_signaled' is a boolean"},
        {"permanent 2", [](auto& p) { p[kOffSyncPermanent] = 2; }, "'permanent' is a boolean"},
        {"signalled opaque fd", [](auto& p) { p[kOffSyncAlreadySignaled] = 1; }, "only a sync_fd can stand for"},
        {"trailing byte", [](auto& p) { p.push_back(0); }, "1 trailing bytes"},
        {"short payload", [](auto& p) { p.pop_back(); }, "'driver_uuid' needs 16 bytes"},
    };
    const SyncHandle valid = timeline_semaphore_handle(memfd_with("x"));
    const std::vector<uint8_t> good = geyser::encode_sync_handle(valid);
    const size_t before = fd_count();
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<uint8_t> p = good;
        c.corrupt(p);
        expect_throw<ProtocolError>([&] { geyser::decode_sync_handle(p.data(), p.size(), valid.fd.duplicate()); },
                                    c.needle);
        EXPECT_EQ(fd_count(), before);
    }
    // The fd must come exactly when the payload is not an already-signalled sync FD.
    expect_throw<ProtocolError>([&] { geyser::decode_sync_handle(good.data(), good.size(), UniqueFd()); },
                                "no file descriptor accompanied");
    const std::vector<uint8_t> signalled = geyser::encode_sync_handle(signalled_sync_fd_handle(false));
    expect_throw<ProtocolError>(
        [&] { geyser::decode_sync_handle(signalled.data(), signalled.size(), valid.fd.duplicate()); },
        "must not carry an fd");
    EXPECT_EQ(fd_count(), before);
}

// ---- timeline handle codec ------------------------------------------------------------------

TEST(Wire, TimelineHandleLayoutIsPinned) {
    EXPECT_EQ(geyser::encode_timeline_handle(portable_timeline_handle(memfd_with("p"))), std::vector<uint8_t>{1});
    const TimelineHandle v = vulkan_timeline_handle(memfd_with("v"));
    std::vector<uint8_t> expected{2};
    put_le(expected, geyser::kSyncHandlePayloadSize, 4);
    const std::vector<uint8_t> sem = geyser::encode_sync_handle(v.semaphore);
    expected.insert(expected.end(), sem.begin(), sem.end());
    EXPECT_EQ(geyser::encode_timeline_handle(v), expected);
    EXPECT_EQ(expected.size(), 59u);
}

TEST(Wire, TimelineHandleCodecRoundTrip) {
    const size_t before = fd_count();
    {
        const TimelineHandle p = portable_timeline_handle(memfd_with("p"));
        const std::vector<uint8_t> payload = geyser::encode_timeline_handle(p);
        UniqueFd fd = p.fd.duplicate();
        const int raw = fd.get();
        const TimelineHandle got = geyser::decode_timeline_handle(payload.data(), payload.size(), std::move(fd));
        EXPECT_EQ(got.kind, TimelineKind::kPortable);
        EXPECT_EQ(got.fd.get(), raw) << "a portable timeline's fd is its memfd";
        EXPECT_FALSE(got.semaphore.fd.valid());
        EXPECT_EQ(got.native_fd(), raw);
    }
    {
        const TimelineHandle v = vulkan_timeline_handle(memfd_with("v"));
        const std::vector<uint8_t> payload = geyser::encode_timeline_handle(v);
        UniqueFd fd = v.semaphore.fd.duplicate();
        const int raw = fd.get();
        const TimelineHandle got = geyser::decode_timeline_handle(payload.data(), payload.size(), std::move(fd));
        EXPECT_EQ(got.kind, TimelineKind::kVulkan);
        expect_same_description(v.semaphore, got.semaphore);
        EXPECT_EQ(got.semaphore.fd.get(), raw) << "a vulkan timeline's fd is its semaphore's";
        EXPECT_FALSE(got.fd.valid());
        EXPECT_EQ(geyser::encode_timeline_handle(got), payload);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(Wire, EncodeTimelineHandleRefusesInvalidDescriptions) {
    TimelineHandle h = portable_timeline_handle(memfd_with("x"));
    h.kind = static_cast<TimelineKind>(3);
    expect_throw<InvalidArgumentError>([&] { geyser::encode_timeline_handle(h); }, "unknown timeline kind 3");
    h = vulkan_timeline_handle(memfd_with("x"));
    h.semaphore.semaphore_type = SemaphoreType::kBinary;
    h.semaphore.initial_value = 0;
    expect_throw<InvalidArgumentError>([&] { geyser::encode_timeline_handle(h); }, "binary semaphore, not a timeline");
    h = vulkan_timeline_handle(memfd_with("x"));
    h.semaphore.handle_type = kSyncFd;  // the semaphore's own codec refuses it
    expect_throw<InvalidArgumentError>([&] { geyser::encode_timeline_handle(h); }, "only as opaque_fd");
}

TEST(Wire, DecodeTimelineHandleRejectsEachBadField) {
    const std::vector<uint8_t> vulkan = geyser::encode_timeline_handle(vulkan_timeline_handle(memfd_with("x")));
    auto with_semaphore = [](const std::function<void(SyncHandle&)>& change) {
        TimelineHandle h = vulkan_timeline_handle(UniqueFd());
        change(h.semaphore);
        std::vector<uint8_t> p{2};
        const std::vector<uint8_t> sem = geyser::encode_sync_handle(h.semaphore);
        put_le(p, sem.size(), 4);
        p.insert(p.end(), sem.begin(), sem.end());
        return p;
    };
    struct Case {
        const char* name;
        std::vector<uint8_t> payload;
        const char* needle;
    };
    std::vector<uint8_t> long_semaphore = vulkan;
    put32_at(long_semaphore, 1, 55);
    long_semaphore.push_back(0);
    std::vector<uint8_t> bad_nested = vulkan;
    put32_at(bad_nested, 5 + kOffSyncPrimitive, 7);
    const std::vector<Case> cases = {
        {"empty", {}, "field 'kind' needs 1 bytes"},
        {"kind 0", {0}, "unknown timeline kind 0"},
        {"kind 3", {3}, "unknown timeline kind 3"},
        {"portable with trailing byte", {1, 0}, "1 trailing bytes"},
        {"vulkan without its semaphore", {2}, "field 'semaphore' needs 4 bytes"},
        {"vulkan truncated", std::vector<uint8_t>(vulkan.begin(), vulkan.end() - 1), "field 'semaphore' needs 54 bytes"},
        {"vulkan trailing byte", [&] { auto p = vulkan; p.push_back(0); return p; }(), "1 trailing bytes"},
        {"semaphore over its size", long_semaphore, "the limit is 54"},
        {"semaphore field", bad_nested, "timeline_handle: field 'semaphore': sync_handle: field 'primitive'"},
        {"binary semaphore",
         with_semaphore([](SyncHandle& s) {
             s.semaphore_type = SemaphoreType::kBinary;
             s.initial_value = 0;
         }),
         "binary semaphore, not a timeline semaphore"},
        {"fence",
         with_semaphore([](SyncHandle& s) {
             s.primitive = SyncPrimitive::kFence;
             s.semaphore_type = SemaphoreType::kBinary;
             s.initial_value = 0;
         }),
         "fence, not a timeline semaphore"},
    };
    const UniqueFd source = memfd_with("x");
    const size_t before = fd_count();
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        expect_throw<ProtocolError>(
            [&] { geyser::decode_timeline_handle(c.payload.data(), c.payload.size(), source.duplicate()); }, c.needle);
        EXPECT_EQ(fd_count(), before);
    }
    for (const std::vector<uint8_t>& p : {std::vector<uint8_t>{1}, vulkan}) {
        expect_throw<ProtocolError>([&] { geyser::decode_timeline_handle(p.data(), p.size(), UniqueFd()); },
                                    "no file descriptor accompanied");
    }
    EXPECT_EQ(fd_count(), before);
}

// The named-sender protocol's timeline announcement is a role byte in front of this codec, so
// the protocol's bytes are what they were before the timeline handle had a codec of its own.
TEST(Wire, TimelineAnnounceIsARoleBeforeATimelineHandle) {
    for (bool vulkan : {false, true}) {
        SCOPED_TRACE(vulkan ? "vulkan" : "portable");
        geyser::TimelineAnnounce a;
        a.role = geyser::TimelineRole::kReleased;
        a.kind = vulkan ? TimelineKind::kVulkan : TimelineKind::kPortable;
        if (vulkan) a.semaphore = timeline_semaphore_handle(UniqueFd());
        const TimelineHandle h = vulkan ? vulkan_timeline_handle(UniqueFd()) : portable_timeline_handle(UniqueFd());
        std::vector<uint8_t> expected{2};
        const std::vector<uint8_t> timeline = geyser::encode_timeline_handle(h);
        expected.insert(expected.end(), timeline.begin(), timeline.end());
        const std::vector<uint8_t> payload = geyser::encode_timeline_announce(a);
        EXPECT_EQ(payload, expected);

        UniqueFd portable;
        UniqueFd fd = memfd_with("t");
        const int raw = fd.get();
        const geyser::TimelineAnnounce got =
            geyser::decode_timeline_announce(payload.data(), payload.size(), std::move(fd), portable);
        EXPECT_EQ(got.role, geyser::TimelineRole::kReleased);
        EXPECT_EQ(got.kind, a.kind);
        EXPECT_EQ(vulkan ? got.semaphore.fd.get() : portable.get(), raw);
    }
}

// ---- channels: happy paths ------------------------------------------------------------------

TEST(Channel, MemoryHandleRoundTripOverSocketpairWithRealFd) {
    const size_t before = fd_count();
    {
        auto [a, b] = Channel::pair();
        const std::string contents = "geyser says hello through a memfd";
        MemoryHandle sent = texture_handle(memfd_with(contents));
        geyser::send_handle(a, sent);
        EXPECT_TRUE(sent.fd.valid()) << "send_handle borrows the fd";

        MemoryHandle got = geyser::receive_handle<MemoryHandle>(b, kSecond);
        expect_same_description(sent, got);
        ASSERT_TRUE(got.fd.valid());
        EXPECT_NE(got.fd.get(), sent.fd.get());
        EXPECT_EQ(read_all(got.fd.get(), contents.size()), contents);
        EXPECT_EQ(::fcntl(got.fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "received fds are close-on-exec";

        // Both descriptors name one open file: a write through one is seen through the other.
        ASSERT_EQ(::pwrite(got.fd.get(), "G", 1, 0), 1);
        EXPECT_EQ(read_all(sent.fd.get(), 1), "G");
    }
    EXPECT_EQ(fd_count(), before);
}

// Every handle type through one channel, received as whichever arrives.
TEST(Channel, EveryHandleTypeRoundTripsAsAnyHandle) {
    const size_t before = fd_count();
    {
        auto [a, b] = Channel::pair();
        const MemoryHandle memory = texture_handle(memfd_with("memory"));
        const SyncHandle semaphore = timeline_semaphore_handle(memfd_with("semaphore"));
        const SyncHandle signalled = signalled_sync_fd_handle(true);
        const TimelineHandle portable = portable_timeline_handle(memfd_with("portable"));
        const TimelineHandle vulkan = vulkan_timeline_handle(memfd_with("vulkan"));
        geyser::send_handle(a, memory);
        geyser::send_handle(a, semaphore);
        geyser::send_handle(a, signalled);
        geyser::send_handle(a, portable);
        geyser::send_handle(a, vulkan);

        AnyHandle got = geyser::receive_handle(b, kSecond);
        ASSERT_TRUE(std::holds_alternative<MemoryHandle>(got));
        expect_same_description(memory, std::get<MemoryHandle>(got));
        EXPECT_EQ(read_all(std::get<MemoryHandle>(got).fd.get(), 6), "memory");

        got = geyser::receive_handle(b, kSecond);
        ASSERT_TRUE(std::holds_alternative<SyncHandle>(got));
        expect_same_description(semaphore, std::get<SyncHandle>(got));
        EXPECT_EQ(read_all(std::get<SyncHandle>(got).fd.get(), 9), "semaphore");

        got = geyser::receive_handle(b, kSecond);
        ASSERT_TRUE(std::holds_alternative<SyncHandle>(got));
        expect_same_description(signalled, std::get<SyncHandle>(got));
        EXPECT_FALSE(std::get<SyncHandle>(got).fd.valid()) << "an already-signalled sync FD travels without an fd";

        got = geyser::receive_handle(b, kSecond);
        ASSERT_TRUE(std::holds_alternative<TimelineHandle>(got));
        EXPECT_EQ(std::get<TimelineHandle>(got).kind, TimelineKind::kPortable);
        EXPECT_EQ(read_all(std::get<TimelineHandle>(got).fd.get(), 8), "portable");

        TimelineHandle v = geyser::receive_handle<TimelineHandle>(b, kSecond);
        EXPECT_EQ(v.kind, TimelineKind::kVulkan);
        expect_same_description(vulkan.semaphore, v.semaphore);
        EXPECT_EQ(read_all(v.native_fd(), 6), "vulkan");
        EXPECT_FALSE(v.fd.valid());
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(Channel, TypedReceiveRefusesAnotherHandleTypeAndClosesItsFd) {
    auto [a, b] = Channel::pair();
    const SyncHandle semaphore = timeline_semaphore_handle(memfd_with("s"));
    const TimelineHandle timeline = portable_timeline_handle(memfd_with("t"));
    const size_t before = fd_count();
    geyser::send_handle(a, semaphore);
    expect_throw<ProtocolError>([&] { geyser::receive_handle<MemoryHandle>(b, kSecond); },
                                "expected a memory_handle message (type 1), found type 2 (sync_handle)");
    geyser::send_handle(a, timeline);
    expect_throw<ProtocolError>([&] { geyser::receive_handle<SyncHandle>(b, kSecond); },
                                "expected a sync_handle message (type 2), found type 3 (timeline_handle)");
    a.send(static_cast<uint16_t>(MessageType::kFrame), {1}, {semaphore.fd.get()});
    expect_throw<ProtocolError>([&] { geyser::receive_handle(b, kSecond); },
                                "expected a handle message (memory_handle, sync_handle or timeline_handle), found "
                                "type 18 (frame)");
    EXPECT_EQ(fd_count(), before);
}

TEST(Channel, SendHandleRefusesHandlesWithoutTheirFd) {
    auto [a, b] = Channel::pair();
    SyncHandle no_fd = timeline_semaphore_handle(UniqueFd());
    expect_throw<InvalidHandleError>([&] { geyser::send_handle(a, no_fd); }, "without an fd");
    SyncHandle signalled_with_fd = signalled_sync_fd_handle(false);
    signalled_with_fd.fd = memfd_with("x");
    expect_throw<InvalidHandleError>([&] { geyser::send_handle(a, signalled_with_fd); }, "already-signalled");
    TimelineHandle closed = portable_timeline_handle(UniqueFd());
    expect_throw<InvalidHandleError>([&] { geyser::send_handle(a, closed); }, "without an fd");
    TimelineHandle misplaced = vulkan_timeline_handle(memfd_with("x"));
    misplaced.fd = memfd_with("y");
    expect_throw<InvalidHandleError>([&] { geyser::send_handle(a, misplaced); }, "where its kind keeps none");
    TimelineHandle binary = vulkan_timeline_handle(memfd_with("x"));
    binary.semaphore.semaphore_type = SemaphoreType::kBinary;
    binary.semaphore.initial_value = 0;
    expect_throw<InvalidArgumentError>([&] { geyser::send_handle(a, binary); }, "not a timeline semaphore");
    EXPECT_THROW(b.receive(std::chrono::nanoseconds(0)), TimeoutError) << "nothing reached the peer";
}

TEST(Channel, GenericMessagesKeepBoundariesAndFdOrder) {
    auto [a, b] = Channel::pair();
    UniqueFd one = memfd_with("one");
    UniqueFd two = memfd_with("two");
    a.send(static_cast<uint16_t>(MessageType::kHello), {}, {});
    a.send(static_cast<uint16_t>(MessageType::kFrame), {1, 2, 3}, {one.get(), two.get()});
    a.send(static_cast<uint16_t>(MessageType::kGoodbye), std::vector<uint8_t>(geyser::kMaxPayloadSize, 0x5A), {});

    Message m1 = b.receive(1s);
    EXPECT_EQ(m1.type, static_cast<uint16_t>(MessageType::kHello));
    EXPECT_TRUE(m1.payload.empty());
    EXPECT_TRUE(m1.fds.empty());
    Message m2 = b.receive(1s);
    EXPECT_EQ(m2.payload, (std::vector<uint8_t>{1, 2, 3}));
    ASSERT_EQ(m2.fds.size(), 2u);
    EXPECT_EQ(read_all(m2.fds[0].get(), 3), "one");
    EXPECT_EQ(read_all(m2.fds[1].get(), 3), "two");
    Message m3 = b.receive(std::chrono::nanoseconds(0));  // already queued: a zero timeout still returns it
    EXPECT_EQ(m3.payload.size(), geyser::kMaxPayloadSize);
}

TEST(Channel, PeerCredentialsOfSocketpair) {
    auto [a, b] = Channel::pair();
    const geyser::PeerCredentials c = a.peer_credentials();
    EXPECT_EQ(c.pid, ::getpid());
    EXPECT_EQ(c.uid, ::geteuid());
    EXPECT_EQ(c.gid, ::getegid());
}

TEST(Channel, AdoptTakesASocketpairEndAndRefusesOthers) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    Channel a = Channel::adopt(UniqueFd(sv[0]));
    Channel b = Channel::adopt(UniqueFd(sv[1]));
    EXPECT_EQ(::fcntl(a.native_handle(), F_GETFL) & O_NONBLOCK, 0);
    a.send(kMemoryHandleType + 100, {7}, {});
    EXPECT_EQ(b.receive(1s).payload, std::vector<uint8_t>{7});

    const size_t before = fd_count();
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd keep(sv[1]);
    expect_throw<InvalidHandleError>([&] { Channel::adopt(UniqueFd(sv[0])); }, "SOCK_SEQPACKET");
    expect_throw<InvalidHandleError>([&] { Channel::adopt(memfd_with("x")); }, "not a socket");
    keep.reset();
    EXPECT_EQ(fd_count(), before);
}

TEST(Channel, MovedFromChannelThrowsInvalidHandle) {
    auto [a, b] = Channel::pair();
    Channel moved = std::move(a);
    expect_throw<InvalidHandleError>([&] { a.receive(std::chrono::nanoseconds(0)); }, "closed");  // NOLINT(bugprone-use-after-move)
    expect_throw<InvalidHandleError>([&] { a.send(1, {}, {}); }, "closed");
    moved.close();
    EXPECT_FALSE(moved.is_open());
    EXPECT_THROW(moved.peer_credentials(), InvalidHandleError);
}

TEST(Channel, SendRefusesBadArguments) {
    auto [a, b] = Channel::pair();
    EXPECT_THROW(a.send(1, std::vector<uint8_t>(geyser::kMaxPayloadSize + 1), {}), InvalidArgumentError);
    UniqueFd fd = memfd_with("x");
    EXPECT_THROW(a.send(1, {}, std::vector<int>(geyser::kMaxFdsPerMessage + 1, fd.get())), InvalidArgumentError);
    EXPECT_THROW(a.send(1, {}, {-1}), InvalidHandleError);
    // An fd number that is not open in this process (the highest possible one).
    const int closed_fd = static_cast<int>(::sysconf(_SC_OPEN_MAX)) - 1;
    ASSERT_EQ(::fcntl(closed_fd, F_GETFD), -1);
    EXPECT_THROW(a.send(1, {}, {closed_fd}), InvalidHandleError);
    MemoryHandle no_fd = texture_handle(UniqueFd());
    EXPECT_THROW(geyser::send_handle(a, no_fd), InvalidHandleError);
    // Nothing reached the peer.
    EXPECT_THROW(b.receive(std::chrono::nanoseconds(0)), TimeoutError);
}

// ---- channels: time and peers going away ----------------------------------------------------

TEST(Channel, ReceiveTimesOutWithinSlack) {
    auto [a, b] = Channel::pair();
    const auto start = Clock::now();
    expect_throw<TimeoutError>([&] { b.receive(80ms); }, "within 80 ms");
    const int64_t ms = elapsed_ms(start);
    EXPECT_GE(ms, 80);
    EXPECT_LT(ms, 80 + 500);

    const auto start0 = Clock::now();
    EXPECT_THROW(b.receive(std::chrono::nanoseconds(0)), TimeoutError);
    EXPECT_LT(elapsed_ms(start0), 100);
}

TEST(Channel, PeerCloseIsPeerGoneAfterQueuedFrames) {
    auto [a, b] = Channel::pair();
    a.send(static_cast<uint16_t>(MessageType::kGoodbye), {42}, {});
    a.close();
    // Frames sent before the close are still delivered, then the end of the channel is reported.
    EXPECT_EQ(b.receive(1s).payload, std::vector<uint8_t>{42});
    const auto start = Clock::now();
    expect_throw<PeerGoneError>([&] { b.receive(5s); }, "peer closed the channel");
    EXPECT_LT(elapsed_ms(start), 1000) << "PeerGoneError must not wait for the timeout";
}

TEST(Channel, SendToClosedPeerIsPeerGoneNotSigpipe) {
    // In a child with SIGPIPE at its default action (the test runner may ignore it), so that a
    // SIGPIPE, which POSIX allows here, would show as a killed child rather than pass unseen.
    // (Linux 6.x raises none for SEQPACKET even without MSG_NOSIGNAL; other kernels may.)
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::signal(SIGPIPE, SIG_DFL);
        int code = 1;
        try {
            auto [a, b] = Channel::pair();
            b.close();
            a.send(1, {1}, {});
        } catch (const PeerGoneError&) {
            code = 0;
        } catch (...) {
            code = 2;
        }
        ::_exit(code);
    }
    EXPECT_EQ(wait_child(pid), 0) << "128 + " << SIGPIPE << " means SIGPIPE killed the sender";
}

TEST(Channel, PeerProcessDeathIsPeerGone) {
    auto [a, b] = Channel::pair();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        b.close();
        ::_exit(0);  // the child's copy of `a` dies with it
    }
    a.close();
    EXPECT_EQ(wait_child(pid), 0);
    EXPECT_THROW(b.receive(5s), PeerGoneError);
}

TEST(Channel, SendTimesOutWhenPeerStopsReading) {
    auto [a, b] = Channel::pair();
    const std::vector<uint8_t> big(geyser::kMaxPayloadSize, 1);
    bool timed_out = false;
    const auto start = Clock::now();
    for (int i = 0; i < 10000 && !timed_out; ++i) {
        try {
            a.send(1, big, {}, 20ms);
        } catch (const TimeoutError& e) {
            timed_out = true;
            EXPECT_NE(std::string(e.what()).find("within 20 ms"), std::string::npos) << e.what();
        }
    }
    EXPECT_TRUE(timed_out) << "the peer's queue never filled";
    EXPECT_LT(elapsed_ms(start), 5000);
    // Draining one frame makes room again.
    EXPECT_EQ(b.receive(1s).payload.size(), big.size());
}

// ---- the bad-peer catalogue -----------------------------------------------------------------

// Each hostile frame goes through raw sendmsg; the receiver must throw the named error, close
// every fd that came with the frame, and still receive the good frame that follows it.
class BadPeer : public ::testing::Test {
protected:
    enum class As { kMessage, kMemoryHandle, kAnyHandle };

    void expect_rejected(const std::vector<uint8_t>& bytes, size_t fds_sent, const std::string& needle,
                         As as = As::kMessage) {
        const size_t before = fd_count();
        {
            std::vector<UniqueFd> owned;
            std::vector<int> fds;
            for (size_t i = 0; i < fds_sent; ++i) {
                owned.push_back(memfd_with("hostile"));
                fds.push_back(owned.back().get());
            }
            raw_send(raw_.get(), bytes, fds);
        }  // our copies closed: any fd still open now is one the receiver leaked
        EXPECT_EQ(fd_count(), before) << "setup leaked";
        if (as == As::kMemoryHandle) {
            expect_throw<ProtocolError>([&] { geyser::receive_handle<MemoryHandle>(*channel_, kSecond); }, needle);
        } else if (as == As::kAnyHandle) {
            expect_throw<ProtocolError>([&] { geyser::receive_handle(*channel_, kSecond); }, needle);
        } else {
            expect_throw<ProtocolError>([&] { channel_->receive(1s); }, needle);
        }
        EXPECT_EQ(fd_count(), before) << "the receiver leaked fds of a rejected frame";

        // The bad frame was consumed whole; the channel carries on with the next one.
        raw_send(raw_.get(), geyser::encode_frame(5, {9}, 0), {});
        Message next = channel_->receive(1s);
        EXPECT_EQ(next.type, 5);
        EXPECT_EQ(next.payload, std::vector<uint8_t>{9});
    }

    std::vector<uint8_t> header(uint32_t length, uint16_t fds, uint16_t type = 1) {
        return raw_header(geyser::kWireMagic, geyser::kWireVersion, type, length, fds);
    }

    void SetUp() override {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        raw_.reset(sv[0]);
        channel_.emplace(Channel::adopt(UniqueFd(sv[1])));
    }

    UniqueFd raw_;
    std::optional<Channel> channel_;
};

TEST_F(BadPeer, TruncatedHeader) {
    std::vector<uint8_t> h = header(0, 0);
    h.resize(10);
    expect_rejected(h, 0, "truncated frame header: 10 bytes");
}

TEST_F(BadPeer, TruncatedHeaderWithFds) { expect_rejected({}, 2, "truncated frame header: 0 bytes"); }

TEST_F(BadPeer, EmptyDatagramIsNotEndOfChannel) { expect_rejected({}, 0, "empty message"); }

TEST_F(BadPeer, PayloadShorterThanDeclared) {
    expect_rejected(concat(header(10, 0), {1, 2, 3}), 0, "header declares a 10-byte payload, 3 bytes arrived");
}

TEST_F(BadPeer, PayloadLongerThanDeclared) {
    expect_rejected(concat(header(1, 0), {1, 2, 3}), 0, "header declares a 1-byte payload, 3 bytes arrived");
}

TEST_F(BadPeer, OversizedDeclaredLength) {
    expect_rejected(concat(header(0xFFFFFFFFu, 0), {1}), 0, "the limit is 65536");
}

TEST_F(BadPeer, OversizedDatagram) {
    // Larger than the biggest legal frame: the kernel truncates it (MSG_TRUNC).
    expect_rejected(concat(header(geyser::kMaxPayloadSize, 1), std::vector<uint8_t>(geyser::kMaxPayloadSize + 100)), 1,
                    "exceeds the largest frame");
}

TEST_F(BadPeer, WrongMagic) {
    std::vector<uint8_t> h = header(0, 0);
    h[0] = 'X';
    expect_rejected(h, 1, "bad frame magic");
}

TEST_F(BadPeer, WrongVersion) {
    expect_rejected(raw_header(geyser::kWireMagic, 2, 1, 0, 0), 0, "unsupported wire version 2 (this build speaks 1)");
}

TEST_F(BadPeer, NonZeroFlags) { expect_rejected(raw_header(geyser::kWireMagic, 1, 1, 0, 0, 1), 0, "reserved"); }

TEST_F(BadPeer, FdsAttachedWhereHeaderSaysNone) {
    expect_rejected(concat(header(1, 0), {0}), 3, "header declares 0 file descriptors, 3 arrived");
}

TEST_F(BadPeer, NoFdWhereOneIsRequired) {
    expect_rejected(concat(header(1, 1), {0}), 0, "header declares 1 file descriptors, 0 arrived");
}

TEST_F(BadPeer, HeaderDeclaresTooManyFds) {
    expect_rejected(header(0, geyser::kMaxFdsPerMessage + 1), geyser::kMaxFdsPerMessage, "the limit is 16");
}

TEST_F(BadPeer, TooManyFdsForTheReceiveBuffer) {
    // 20 fds where room is made for 16: the kernel installs 16 and sets MSG_CTRUNC.
    expect_rejected(header(0, 16), 20, "MSG_CTRUNC");
}

TEST_F(BadPeer, TrailingBytesInHandlePayload) {
    std::vector<uint8_t> payload = geyser::encode_memory_handle(texture_handle(memfd_with("x")));
    payload.push_back(0);
    expect_rejected(concat(header(static_cast<uint32_t>(payload.size()), 1), payload), 1, "1 trailing bytes", As::kMemoryHandle);
}

TEST_F(BadPeer, InvalidEnumValuesInHandlePayload) {
    const std::vector<uint8_t> good = geyser::encode_memory_handle(texture_handle(memfd_with("x")));
    struct Case {
        size_t offset;
        uint8_t value;
        const char* needle;
    };
    for (const Case& c : {Case{kOffKind, 9, "field 'kind'"}, Case{kOffHandleType, 3, "exactly one"},
                          Case{kOffTextureFormat, 22, "'texture_format'"}, Case{kOffDedicated, 2, "'dedicated'"}}) {
        SCOPED_TRACE(c.needle);
        std::vector<uint8_t> payload = good;
        payload[c.offset] = c.value;
        expect_rejected(concat(header(static_cast<uint32_t>(payload.size()), 1), payload), 1, c.needle,
                        As::kMemoryHandle);
    }
}

TEST_F(BadPeer, HandleMessageWithoutFdOrOfWrongType) {
    const std::vector<uint8_t> payload = geyser::encode_memory_handle(texture_handle(memfd_with("x")));
    const auto length = static_cast<uint32_t>(payload.size());
    expect_rejected(concat(header(length, 0), payload), 0, "exactly one file descriptor, found 0", As::kMemoryHandle);
    expect_rejected(concat(header(length, 2), payload), 2, "exactly one file descriptor, found 2", As::kMemoryHandle);
    expect_rejected(concat(header(length, 1, 2), payload), 1, "expected a memory_handle message", As::kMemoryHandle);
    // Received as any handle, a memory payload under another handle type is that type's to refuse.
    expect_rejected(concat(header(length, 1, 2), payload), 1, "sync_handle: ", As::kAnyHandle);
    expect_rejected(concat(header(length, 1, 3), payload), 1, "timeline_handle: ", As::kAnyHandle);
    expect_rejected(concat(header(length, 1, 4), payload), 1, "expected a handle message", As::kAnyHandle);
}

TEST_F(BadPeer, SyncAndTimelineMessagesWithTheWrongFds) {
    const std::vector<uint8_t> sync = geyser::encode_sync_handle(timeline_semaphore_handle(UniqueFd()));
    const std::vector<uint8_t> signalled = geyser::encode_sync_handle(signalled_sync_fd_handle(false));
    const std::vector<uint8_t> timeline = geyser::encode_timeline_handle(portable_timeline_handle(UniqueFd()));
    const auto type = [](MessageType t) { return static_cast<uint16_t>(t); };
    const auto frame = [&](const std::vector<uint8_t>& p, uint16_t fds, MessageType t) {
        return concat(header(static_cast<uint32_t>(p.size()), fds, type(t)), p);
    };
    expect_rejected(frame(sync, 0, MessageType::kSyncHandle), 0, "no file descriptor accompanied", As::kAnyHandle);
    expect_rejected(frame(sync, 2, MessageType::kSyncHandle), 2, "at most one file descriptor, found 2",
                    As::kAnyHandle);
    expect_rejected(frame(signalled, 1, MessageType::kSyncHandle), 1, "must not carry an fd", As::kAnyHandle);
    expect_rejected(frame(timeline, 0, MessageType::kTimelineHandle), 0, "exactly one file descriptor, found 0",
                    As::kAnyHandle);
    expect_rejected(frame(timeline, 3, MessageType::kTimelineHandle), 3, "exactly one file descriptor, found 3",
                    As::kAnyHandle);
    std::vector<uint8_t> bad_kind = timeline;
    bad_kind[0] = 9;
    expect_rejected(frame(bad_kind, 1, MessageType::kTimelineHandle), 1, "unknown timeline kind 9", As::kAnyHandle);
}

// ---- listeners, paths and the runtime directory ---------------------------------------------

TEST(RuntimeDir, IsPrivateDirectoryOwnedByUs) {
    const std::string dir = geyser::runtime_dir();
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir << " must be a real directory, not a symlink";
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(geyser::runtime_dir(), dir) << "stable across calls";
}

// Points XDG_RUNTIME_DIR at a fresh temporary directory for one test, then restores it.
class XdgRuntimeDir : public ::testing::Test {
protected:
    void SetUp() override {
        const char* old = std::getenv("XDG_RUNTIME_DIR");
        had_old_ = old != nullptr;
        if (had_old_) old_ = old;
        char tmpl[] = "/tmp/geyser-xdg-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        xdg_ = tmpl;
        ::setenv("XDG_RUNTIME_DIR", xdg_.c_str(), 1);
    }
    void TearDown() override {
        if (had_old_) {
            ::setenv("XDG_RUNTIME_DIR", old_.c_str(), 1);
        } else {
            ::unsetenv("XDG_RUNTIME_DIR");
        }
        const std::string sub = xdg_ + "/geyser";
        ::unlink(sub.c_str());  // when it is a symlink
        ::rmdir(sub.c_str());
        ::unlink((xdg_ + "/elsewhere").c_str());
        ::rmdir((xdg_ + "/elsewhere").c_str());
        ::rmdir(xdg_.c_str());
    }
    std::string xdg_;
    std::string old_;
    bool had_old_ = false;
};

TEST_F(XdgRuntimeDir, CreatesGeyserSubdirectoryWithMode0700EvenUnderHostileUmask) {
    const mode_t old_umask = ::umask(0277);
    const std::string dir = geyser::runtime_dir();
    ::umask(old_umask);
    EXPECT_EQ(dir, xdg_ + "/geyser");
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(XdgRuntimeDir, RefusesWrongModeAndSymlink) {
    const std::string dir = xdg_ + "/geyser";
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    expect_throw<OsError>([] { geyser::runtime_dir(); }, "has mode 0755, expected 0700 exactly");
    ASSERT_EQ(::rmdir(dir.c_str()), 0);

    const std::string elsewhere = xdg_ + "/elsewhere";
    ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
    ASSERT_EQ(::symlink(elsewhere.c_str(), dir.c_str()), 0);
    expect_throw<OsError>([] { geyser::runtime_dir(); }, "is a symlink or not a directory");
}

TEST_F(XdgRuntimeDir, AnXdgDirectoryOthersCanReachFallsBackToTmp) {
    // Another user who can write (or even search) it could swap our geyser/ for theirs.
    for (mode_t mode : {0777, 0750, 0701, 0711}) {
        ASSERT_EQ(::chmod(xdg_.c_str(), mode), 0);
        EXPECT_EQ(geyser::runtime_dir(), "/tmp/geyser-" + std::to_string(::geteuid())) << std::oct << mode;
    }
    ASSERT_EQ(::chmod(xdg_.c_str(), 0700), 0);
    EXPECT_EQ(geyser::runtime_dir(), xdg_ + "/geyser");
}

TEST(Channel, ConnectWithoutWaitingForAListenerFailsAtOnce) {
    const std::string path = unique_socket_path("nobody");
    const auto start = std::chrono::steady_clock::now();
    expect_throw<PeerGoneError>([&] { Channel::connect(path, 5s, /*wait_for_listener=*/false); },
                                "nothing listens at");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(XdgRuntimeDir, UnusableXdgFallsBackToTmp) {
    ::setenv("XDG_RUNTIME_DIR", "relative/path", 1);
    EXPECT_EQ(geyser::runtime_dir(), "/tmp/geyser-" + std::to_string(::geteuid()));
    ::setenv("XDG_RUNTIME_DIR", "/nonexistent-geyser-xdg", 1);
    EXPECT_EQ(geyser::runtime_dir(), "/tmp/geyser-" + std::to_string(::geteuid()));
}

TEST(Listener, AcceptConnectAndDestructorUnlinks) {
    const std::string path = unique_socket_path("basic");
    const size_t before = fd_count();
    {
        Listener listener = Listener::bind(path);
        EXPECT_EQ(listener.path(), path);
        Channel client = Channel::connect(path, 1s);
        Channel server = listener.accept(1s);
        EXPECT_EQ(server.peer_credentials().pid, ::getpid());
        client.send(3, {1, 2}, {});
        EXPECT_EQ(server.receive(1s).payload, (std::vector<uint8_t>{1, 2}));

        Listener moved = std::move(listener);
        struct stat st {};
        EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "moving a listener keeps the socket file";
    }
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(fd_count(), before);
}

TEST(Listener, AcceptAndConnectTimeOut) {
    const std::string path = unique_socket_path("timeout");
    {
        Listener listener = Listener::bind(path);
        const auto start = Clock::now();
        expect_throw<TimeoutError>([&] { listener.accept(60ms); }, "within 60 ms");
        EXPECT_GE(elapsed_ms(start), 60);
        EXPECT_LT(elapsed_ms(start), 60 + 500);
    }
    const auto start = Clock::now();
    expect_throw<TimeoutError>([&] { Channel::connect(path, 60ms); }, "No such file");
    EXPECT_GE(elapsed_ms(start), 60);
    EXPECT_LT(elapsed_ms(start), 60 + 500);
}

TEST(Listener, ConnectWaitsForALateListener) {
    const std::string path = unique_socket_path("late");
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int code = 0;
        try {
            ::usleep(100 * 1000);
            Listener listener = Listener::bind(path);
            Channel c = listener.accept(5s);
            c.send(1, {}, {});
            c.receive(5s);  // until the parent closes
        } catch (const PeerGoneError&) {
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    {
        Channel c = Channel::connect(path, 5s);
        EXPECT_EQ(c.receive(5s).type, 1);
    }
    EXPECT_EQ(wait_child(pid), 0);
}

TEST(Listener, StaleSocketFileIsReplaced) {
    const std::string path = unique_socket_path("stale");
    // A socket bound and then closed without unlink: what a crashed process leaves behind.
    {
        UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    }
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    ASSERT_TRUE(S_ISSOCK(st.st_mode));
    // (The replacement may get the same inode number back, so only connecting proves it is new.)
    expect_throw<TimeoutError>([&] { Channel::connect(path, std::chrono::nanoseconds(0)); }, "Connection refused");

    Listener listener = Listener::bind(path);
    Channel client = Channel::connect(path, 1s);
    EXPECT_NO_THROW(listener.accept(1s));
}

TEST(Listener, NameInUseIsRefusedAndLeftAlone) {
    const std::string path = unique_socket_path("inuse");
    Listener first = Listener::bind(path);
    expect_throw<OsError>([&] { Listener::bind(path); }, "is in use");
    // The first listener still owns the name and still works.
    Channel client = Channel::connect(path, 1s);
    Channel server = first.accept(1s);
    EXPECT_NO_THROW(server.peer_credentials());
}

TEST(Listener, ForkedChildDoesNotUnlinkTheParentsSocket) {
    const std::string path = unique_socket_path("forkcopy");
    Listener listener = Listener::bind(path);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        { Listener copy = std::move(listener); }  // runs the destructor in the child
        ::_exit(0);
    }
    ASSERT_EQ(wait_child(pid), 0);
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "the child's copy unlinked the parent's socket";
    Channel client = Channel::connect(path, 1s);
    EXPECT_NO_THROW(listener.accept(1s));
}

TEST(Listener, RefusesNonSocketFileAndBadPaths) {
    const std::string path = unique_socket_path("regular");
    {
        UniqueFd f(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
        ASSERT_TRUE(f.valid());
    }
    expect_throw<InvalidArgumentError>([&] { Listener::bind(path); }, "is not a socket");
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "the regular file must not be removed";
    ::unlink(path.c_str());

    const std::string too_long = geyser::runtime_dir() + "/" + std::string(120, 'x');
    expect_throw<InvalidArgumentError>([&] { Listener::bind(too_long); }, "at most 107");
    expect_throw<InvalidArgumentError>([&] { Channel::connect(too_long, std::chrono::nanoseconds(0)); }, "at most 107");
    expect_throw<InvalidArgumentError>([&] { Listener::bind(std::string("\0abstract", 9)); }, "abstract");
    EXPECT_THROW(Listener::bind(""), InvalidArgumentError);
}

// The child (producer) connects through the runtime directory and sends a memfd-backed handle;
// the parent (consumer) checks the bytes and the peer's pid, then acknowledges.
TEST(Listener, MemoryHandleAcrossForkedProcess) {
    const std::string path = unique_socket_path("fork");
    const std::string contents = "bytes written by the child process";
    Listener listener = Listener::bind(path);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int code = 0;
        try {
            Channel c = Channel::connect(path, 5s);
            MemoryHandle h = texture_handle(memfd_with(contents));
            geyser::send_handle(c, h);
            h.close();  // the parent's copy must outlive ours
            Message ack = c.receive(5s);
            code = ack.type == static_cast<uint16_t>(MessageType::kRelease) ? 0 : 2;
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    const size_t before = fd_count();
    {
        Channel server = listener.accept(5s);
        EXPECT_EQ(server.peer_credentials().pid, pid);
        MemoryHandle got = geyser::receive_handle<MemoryHandle>(server, 5 * kSecond);
        EXPECT_EQ(got.width, 640u);
        EXPECT_EQ(read_all(got.fd.get(), contents.size()), contents);
        server.send(static_cast<uint16_t>(MessageType::kRelease), {}, {});
        EXPECT_EQ(wait_child(pid), 0);
        // The child is gone, yet the memory it exported stays readable through our fd.
        EXPECT_EQ(read_all(got.fd.get(), contents.size()), contents);
    }
    EXPECT_EQ(fd_count(), before);
}

// Root only: a child that drops to uid 65534 (nobody) connects; accept must refuse it unless the
// listener allows other users. The socket lives in a world-searchable directory for this test,
// since the runtime directory (0700) would keep nobody out before accept() could.
TEST(Listener, PeerOfAnotherUserIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a peer as another uid (setuid(65534))";
    char tmpl[] = "/tmp/geyser-uid-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    ASSERT_EQ(::chmod(dir.c_str(), 0711), 0);

    for (bool allow : {false, true}) {
        SCOPED_TRACE(allow ? "allow_other_users" : "same user only");
        const std::string path = dir + "/s.sock";
        Listener listener = Listener::bind(path, allow);
        ASSERT_EQ(::chmod(path.c_str(), 0777), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int code = 0;
            try {
                if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
                Channel c = Channel::connect(path, 5s);
                // Refused: the server closes us at once. Allowed: it says hello.
                Message m = c.receive(5s);
                code = m.type == static_cast<uint16_t>(MessageType::kHello) ? 20 : 3;
            } catch (const PeerGoneError&) {
                code = 21;
            } catch (...) {
                code = 4;
            }
            ::_exit(code);
        }
        const size_t before = fd_count();
        if (allow) {
            Channel c = listener.accept(5s);
            EXPECT_EQ(c.peer_credentials().uid, 65534u);
            c.send(static_cast<uint16_t>(MessageType::kHello), {}, {});
            EXPECT_EQ(wait_child(pid), 20);
        } else {
            try {
                listener.accept(5s);
                ADD_FAILURE() << "a peer of uid 65534 was accepted";
            } catch (const OsError& e) {
                EXPECT_EQ(e.error_code(), EACCES);
                EXPECT_NE(std::string(e.what()).find("uid 65534"), std::string::npos) << e.what();
            }
            EXPECT_EQ(wait_child(pid), 21);
        }
        EXPECT_EQ(fd_count(), before);
    }
    ::rmdir(dir.c_str());
}

}  // namespace
