// geyser::Timeline of both kinds, their export and import (another process too), SubmitSync
// ordering Geyser's copies by them, and a texture's frame timeline.
//
// Lavapipe (CI) has timeline semaphores but cannot export them: there a Vulkan timeline is tested
// locally (Device::create_timeline) and the exported one skips with the device's report.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "geyser/geyser.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/timeline.hpp"
#include "device_support.hpp"
#include "support.hpp"
#include "validation_listener.hpp"

using namespace std::chrono_literals;

namespace {

using geyser::Device;
using geyser::SubmitSync;
using geyser::Timeline;
using geyser::TimelineChoice;
using geyser::TimelineHandle;
using geyser::TimelineKind;
using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;
using geyser::testing_support::wait_child;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::nanoseconds kMs = std::chrono::milliseconds(1);
constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);
constexpr auto kColor = VK_IMAGE_ASPECT_COLOR_BIT;

bool exports_timelines(const Device& d) {
    return (d.info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) != 0;
}

std::string no_export_reason(const Device& d) {
    return "'" + d.info().name + "' cannot export timeline semaphores as opaque FD (lavapipe has no "
           "VK_KHR_external_semaphore_fd)";
}

std::vector<uint8_t> ramp(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + seed);
    return v;
}

std::vector<uint8_t> download(geyser::Texture& t, const SubmitSync& sync = {}) {
    std::vector<uint8_t> out(t.host_size(kColor));
    t.download(kColor, out.data(), out.size(), sync);
    return out;
}

SubmitSync ordered(std::vector<geyser::SyncPoint> wait, std::vector<geyser::SyncPoint> signal) {
    SubmitSync s;
    s.wait = std::move(wait);
    s.signal = std::move(signal);
    return s;
}

int64_t ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The host-side contract every kind shares: signal (equal a no-op, lower refused), value, wait.
void check_host_use(Timeline& t) {
    EXPECT_EQ(t.value(), 4u);
    t.signal(4);  // equal: a no-op
    EXPECT_EQ(t.value(), 4u);
    t.signal(9);
    EXPECT_EQ(t.value(), 9u);
    t.wait(9, 0ns);
    t.wait(3, 0ns);
    try {
        t.signal(8);
        ADD_FAILURE() << "a lower value was accepted";
    } catch (const geyser::InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("must not decrease: current 9, asked 8"), std::string::npos) << e.what();
    }
    EXPECT_EQ(t.value(), 9u) << "a refused signal changed the value";
    const auto start = Clock::now();
    EXPECT_THROW(t.wait(10, 100 * kMs), geyser::TimeoutError);
    EXPECT_GE(ms_since(start), 100);
    EXPECT_LT(ms_since(start), 2000);
}

}  // namespace

// -- one process ----------------------------------------------------------------------------------

TEST(Timeline, PortableHostUse) {
    DEVICE_OR_SKIP(dev);
    auto t = dev->create_shared_timeline(TimelineChoice::kPortable, 4);
    EXPECT_EQ(t->kind(), TimelineKind::kPortable);
    EXPECT_NE(t->portable(), nullptr);
    EXPECT_EQ(t->semaphore(), nullptr);
    EXPECT_FALSE(t->imported());
    EXPECT_EQ(t->device(), dev);
    check_host_use(*t);
    EXPECT_FALSE(t->abandoned());
    t->mark_abandoned();
    EXPECT_TRUE(t->abandoned());
    EXPECT_THROW(t->wait(10, 5 * kSecond), geyser::PeerGoneError);
    t->wait(9, 0ns);  // a value reached before still counts
}

TEST(Timeline, LocalVulkanHostUse) {
    DEVICE_OR_SKIP(dev);
    if (!dev->info().timeline_semaphores) GTEST_SKIP() << "'" << dev->info().name << "' has no timeline semaphores";
    auto t = dev->create_timeline(TimelineChoice::kVulkan, 4);
    EXPECT_EQ(t->kind(), TimelineKind::kVulkan);
    ASSERT_NE(t->semaphore(), nullptr);
    EXPECT_EQ(t->semaphore()->type(), geyser::SemaphoreType::kTimeline);
    EXPECT_FALSE(t->semaphore()->exportable());
    EXPECT_EQ(t->portable(), nullptr);
    check_host_use(*t);
    t->mark_abandoned();  // no such state for a Vulkan timeline
    EXPECT_FALSE(t->abandoned());
    t->signal(10);
    EXPECT_EQ(t->value(), 10u);
    try {
        dev->export_timeline(*t);
        ADD_FAILURE() << "a local timeline was exported";
    } catch (const geyser::UnsupportedOperationError& e) {
        EXPECT_NE(std::string(e.what()).find("create_shared_timeline"), std::string::npos) << e.what();
    }
}

TEST(Timeline, ChoicesFollowTheDevice) {
    DEVICE_OR_SKIP(dev);
    EXPECT_EQ(dev->create_shared_timeline()->kind(),
              exports_timelines(*dev) ? TimelineKind::kVulkan : TimelineKind::kPortable);
    EXPECT_EQ(dev->create_timeline()->kind(),
              dev->info().timeline_semaphores ? TimelineKind::kVulkan : TimelineKind::kPortable);
    EXPECT_EQ(dev->create_timeline(TimelineChoice::kPortable)->kind(), TimelineKind::kPortable);
    EXPECT_THROW(dev->create_shared_timeline(static_cast<TimelineChoice>(9)), geyser::InvalidArgumentError);
    EXPECT_THROW(dev->create_timeline(static_cast<TimelineChoice>(9)), geyser::InvalidArgumentError);
    EXPECT_STREQ(geyser::to_string(TimelineKind::kPortable), "portable");
    EXPECT_STREQ(geyser::to_string(TimelineKind::kVulkan), "vulkan");
}

TEST(Timeline, SharedVulkanExportImport) {
    DEVICE_OR_SKIP(dev);
    if (!exports_timelines(*dev)) {
        EXPECT_THROW(dev->create_shared_timeline(TimelineChoice::kVulkan), geyser::UnsupportedOperationError);
        GTEST_SKIP() << no_export_reason(*dev) << "; checked that create_shared_timeline(kVulkan) refuses";
    }
    auto other = Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    auto t = dev->create_shared_timeline(TimelineChoice::kVulkan, 4);
    check_host_use(*t);
    TimelineHandle h = dev->export_timeline(*t);
    EXPECT_EQ(h.kind, TimelineKind::kVulkan);
    EXPECT_GE(h.native_fd(), 0);
    EXPECT_EQ(h.native_fd(), h.semaphore.fd.get());
    EXPECT_FALSE(h.fd.valid());
    auto u = other->import_timeline(h);
    EXPECT_TRUE(h.semaphore.fd.valid()) << "import must not consume the caller's fd";
    EXPECT_TRUE(u->imported());
    EXPECT_EQ(u->value(), 9u);
    t->signal(11);
    u->wait(11, kSecond);
    u->signal(12);
    t->wait(12, kSecond);
    EXPECT_THROW(u->signal(3), geyser::InvalidArgumentError);
    EXPECT_THROW(other->export_timeline(*t), geyser::DeviceMismatchError);
}

TEST(Timeline, PortableExportImportShareTheCounter) {
    DEVICE_OR_SKIP(dev);
    auto other = Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    const size_t before = fd_count();
    {
        auto t = dev->create_shared_timeline(TimelineChoice::kPortable, 2);
        TimelineHandle h = dev->export_timeline(*t);
        EXPECT_EQ(h.kind, TimelineKind::kPortable);
        EXPECT_EQ(h.native_fd(), h.fd.get());
        EXPECT_FALSE(h.semaphore.fd.valid());
        auto u = other->import_timeline(h);
        EXPECT_TRUE(h.fd.valid()) << "import must not consume the caller's fd";
        EXPECT_TRUE(u->imported());
        EXPECT_EQ(u->value(), 2u);
        t->signal(5);
        u->wait(5, 0ns);
        u->signal(7);
        EXPECT_EQ(t->value(), 7u);
        EXPECT_THROW(other->export_timeline(*t), geyser::DeviceMismatchError);

        TimelineHandle d = h.duplicate();
        EXPECT_NE(d.native_fd(), h.native_fd());
        h.close();
        EXPECT_EQ(h.native_fd(), -1);
        auto w = dev->import_timeline(d);
        u->mark_abandoned();
        EXPECT_TRUE(w->abandoned());
        EXPECT_THROW(w->wait(8, 5 * kSecond), geyser::PeerGoneError);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(Timeline, BadHandlesAreRefusedWithoutLeakingFds) {
    DEVICE_OR_SKIP(dev);
    auto good = dev->create_shared_timeline(TimelineChoice::kPortable);
    const TimelineHandle ok = dev->export_timeline(*good);
    dev->import_timeline(ok);  // whatever a first import opens for good
    auto semaphore_description = [&](geyser::SyncPrimitive primitive, geyser::SemaphoreType type) {
        geyser::SyncHandle s;
        s.primitive = primitive;
        s.semaphore_type = type;
        s.device_uuid = dev->info().device_uuid;
        s.driver_uuid = dev->info().driver_uuid;
        return s;
    };
    auto timeline_semaphore = [&] {
        return semaphore_description(geyser::SyncPrimitive::kSemaphore, geyser::SemaphoreType::kTimeline);
    };
    auto pipe_end = [] {
        int p[2];
        EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
        ::close(p[1]);
        return geyser::UniqueFd(p[0]);
    };
    struct Case {
        const char* name;
        std::function<TimelineHandle()> make;
    };
    const std::vector<Case> cases = {
        {"portable, no fd", [] { return TimelineHandle{}; }},
        {"portable, a pipe",
         [&] {
             TimelineHandle h;
             h.fd = pipe_end();
             return h;
         }},
        {"portable, /dev/null",
         [] {
             TimelineHandle h;
             h.fd.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
             return h;
         }},
        {"portable, a memfd that is no timeline",
         [] {
             TimelineHandle h;
             h.fd.reset(::memfd_create("not-a-timeline", MFD_CLOEXEC));
             EXPECT_EQ(::ftruncate(h.fd.get(), 4096), 0);
             return h;
         }},
        {"portable, its fd where a semaphore's goes",
         [&] {
             TimelineHandle h;
             h.semaphore.fd = ok.fd.duplicate();
             return h;
         }},
        {"unknown kind",
         [&] {
             TimelineHandle h;
             h.kind = static_cast<TimelineKind>(7);
             h.fd = ok.fd.duplicate();
             return h;
         }},
        {"vulkan, a portable timeline's fd beside it",
         [&] {
             TimelineHandle h;
             h.kind = TimelineKind::kVulkan;
             h.semaphore = timeline_semaphore();
             h.fd = ok.fd.duplicate();
             return h;
         }},
        {"vulkan, describing a binary semaphore",
         [&] {
             TimelineHandle h;
             h.kind = TimelineKind::kVulkan;
             h.semaphore = semaphore_description(geyser::SyncPrimitive::kSemaphore, geyser::SemaphoreType::kBinary);
             h.semaphore.fd = ok.fd.duplicate();
             return h;
         }},
        {"vulkan, describing a fence",
         [&] {
             TimelineHandle h;
             h.kind = TimelineKind::kVulkan;
             h.semaphore = semaphore_description(geyser::SyncPrimitive::kFence, geyser::SemaphoreType::kTimeline);
             h.semaphore.fd = ok.fd.duplicate();
             return h;
         }},
        {"vulkan, no fd",
         [&] {
             TimelineHandle h;
             h.kind = TimelineKind::kVulkan;
             h.semaphore = timeline_semaphore();
             return h;
         }},
        {"vulkan, a pipe",
         [&] {
             TimelineHandle h;
             h.kind = TimelineKind::kVulkan;
             h.semaphore = timeline_semaphore();
             h.semaphore.fd = pipe_end();
             return h;
         }},
    };
    for (const Case& c : cases) {
        const size_t before = fd_count();
        {
            TimelineHandle h = c.make();
            const int fd = h.native_fd();
            const int other_fd = h.kind == TimelineKind::kVulkan ? h.fd.get() : h.semaphore.fd.get();
            EXPECT_THROW(dev->import_timeline(h), geyser::InvalidHandleError) << c.name;
            if (fd >= 0) EXPECT_GE(::fcntl(fd, F_GETFD), 0) << c.name << ": the handle keeps its fd";
            if (other_fd >= 0) EXPECT_GE(::fcntl(other_fd, F_GETFD), 0) << c.name << ": the handle keeps its fd";
        }
        EXPECT_EQ(fd_count(), before) << c.name;
    }
    EXPECT_EQ(dev->import_timeline(ok)->value(), 0u) << "the good handle still imports";
}

// -- across processes -----------------------------------------------------------------------------

namespace {

std::string hex(const std::vector<uint8_t>& bytes) {
    std::string s;
    char b[3];
    for (uint8_t v : bytes) {
        std::snprintf(b, sizeof b, "%02x", v);
        s += b;
    }
    return s;
}

// timeline_peer started with fork+exec, with the handle's fd inherited (close-on-exec is cleared
// in the child only). The destructor kills and reaps a peer still running.
class Peer {
public:
    Peer(const Device& dev, const TimelineHandle& h, uint64_t rounds) {
        const int fd = h.native_fd();
        args_ = {GEYSER_TIMELINE_PEER, geyser::uuid_to_hex(dev.info().device_uuid), geyser::to_string(h.kind),
                 std::to_string(fd),
                 h.kind == TimelineKind::kVulkan ? hex(geyser::encode_sync_handle(h.semaphore)) : "-",
                 std::to_string(rounds)};
        std::vector<char*> argv;
        for (auto& a : args_) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::fcntl(fd, F_SETFD, 0);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;
    ~Peer() {
        if (pid_ > 0) wait_child(pid_, std::chrono::seconds(0));
    }
    /// The peer's exit code (-1: killed after `limit`, or died of a signal).
    int exit_code(std::chrono::seconds limit) {
        const int code = wait_child(pid_, limit);
        pid_ = -1;
        return code;
    }

private:
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

// The parent signals the odd values and waits for the peer's even ones; every wake-up must come
// exactly at the peer's signal.
void ping_pong(Device& dev, Timeline& t, uint64_t rounds) {
    TimelineHandle h = dev.export_timeline(t);
    Peer peer(dev, h, rounds);
    h.close();
    for (uint64_t i = 0; i < rounds; ++i) {
        t.signal(2 * i + 1);
        t.wait(2 * i + 2, 10 * kSecond);
        ASSERT_EQ(t.value(), 2 * i + 2) << "round " << i << ": woken before the peer signalled";
    }
    EXPECT_EQ(peer.exit_code(std::chrono::seconds(30)), 0) << "the peer failed (its stderr says why)";
}

}  // namespace

TEST(TimelineProcess, PortablePingPongThousandRounds) {
    DEVICE_OR_SKIP(dev);
    auto t = dev->create_shared_timeline(TimelineChoice::kPortable);
    ping_pong(*dev, *t, 1000);
}

TEST(TimelineProcess, VulkanPingPongThousandRounds) {
    DEVICE_OR_SKIP(dev);
    if (!exports_timelines(*dev)) GTEST_SKIP() << no_export_reason(*dev);
    auto t = dev->create_shared_timeline(TimelineChoice::kVulkan);
    ping_pong(*dev, *t, 1000);
}

TEST(TimelineProcess, PeerThatExitsAtOnceLeavesTheWaiterToItsTimeout) {
    DEVICE_OR_SKIP(dev);
    auto t = dev->create_shared_timeline();
    {
        TimelineHandle h = dev->export_timeline(*t);
        Peer peer(*dev, h, 0);  // imports, then exits without signalling
        EXPECT_EQ(peer.exit_code(std::chrono::seconds(30)), 0);
    }
    const auto start = Clock::now();
    EXPECT_THROW(t->wait(1, 200 * kMs), geyser::TimeoutError);
    EXPECT_GE(ms_since(start), 200);
    t->signal(1);  // still usable
    EXPECT_EQ(t->value(), 1u);
}

// -- SubmitSync -----------------------------------------------------------------------------------

TEST(SubmitSync, PortableTimelineOrdersAnUploadFromTheHost) {
    DEVICE_OR_SKIP(dev);
    auto t = dev->create_shared_timeline(TimelineChoice::kPortable);
    auto tex = dev->create_shareable_texture(rgba8(16, 8));
    const size_t n = tex->host_size(kColor);
    const auto first = ramp(n, 1);
    const auto second = ramp(n, 2);
    tex->upload(kColor, first.data(), n);

    const SubmitSync sync = ordered({{t.get(), 1}}, {{t.get(), 2}});
    std::exception_ptr failed;
    std::thread uploader([&] {
        try {
            tex->upload(kColor, second.data(), n, sync);
        } catch (...) {
            failed = std::current_exception();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // The upload waits on the host for 1 without holding the texture: it can be read meanwhile,
    // and still holds what it held.
    EXPECT_EQ(download(*tex), first) << "the upload ran before its wait was signalled";
    EXPECT_EQ(t->value(), 0u);
    t->signal(1);
    uploader.join();
    ASSERT_FALSE(failed) << "the upload failed";
    EXPECT_EQ(t->value(), 2u) << "signalled on the host once the upload had completed";
    EXPECT_EQ(download(*tex, ordered({{t.get(), 2}}, {{t.get(), 3}})), second);
    EXPECT_EQ(t->value(), 3u);

    // Buffers and copies take the same points.
    auto buf = dev->create_shareable_buffer(n);
    buf->write(second.data(), n, 0, ordered({{t.get(), 3}}, {{t.get(), 4}}));
    auto copy = dev->create_shareable_texture(rgba8(16, 8));
    dev->copy_buffer_to_texture(*buf, *copy, kColor, 0, ordered({{t.get(), 4}}, {{t.get(), 5}}));
    auto copy2 = dev->create_shareable_texture(rgba8(16, 8));
    dev->copy_texture(*copy, *copy2, ordered({{t.get(), 5}}, {{t.get(), 6}}));
    std::vector<uint8_t> back(n);
    buf->read(back.data(), n, 0, ordered({{t.get(), 6}}, {{t.get(), 7}}));
    EXPECT_EQ(back, second);
    EXPECT_EQ(download(*copy2), second);
    EXPECT_EQ(t->value(), 7u);
}

TEST(SubmitSync, HostWaitsAreBoundedAndSubmitNothing) {
    DEVICE_OR_SKIP(dev);
    auto waited = dev->create_shared_timeline(TimelineChoice::kPortable);
    auto signalled = dev->create_shared_timeline(TimelineChoice::kPortable);
    auto tex = dev->create_shareable_texture(rgba8(8, 8));
    const size_t n = tex->host_size(kColor);
    const auto first = ramp(n, 3);
    const auto second = ramp(n, 4);
    tex->upload(kColor, first.data(), n);
    SubmitSync sync = ordered({{waited.get(), 5}}, {{signalled.get(), 1}});
    sync.host_wait_timeout = 150 * kMs;
    const auto start = Clock::now();
    EXPECT_THROW(tex->upload(kColor, second.data(), n, sync), geyser::TimeoutError);
    EXPECT_GE(ms_since(start), 150);
    EXPECT_LT(ms_since(start), 3000);
    EXPECT_EQ(download(*tex), first) << "a copy whose wait timed out ran";
    EXPECT_EQ(signalled->value(), 0u);
    auto buf = dev->create_shareable_buffer(64);
    std::vector<uint8_t> bytes(64, 9);
    EXPECT_THROW(buf->write(bytes.data(), bytes.size(), 0, sync), geyser::TimeoutError);
    // Two waits share the bound.
    auto also = dev->create_shared_timeline(TimelineChoice::kPortable);
    sync.wait.push_back({also.get(), 1});
    const auto both = Clock::now();
    EXPECT_THROW(tex->upload(kColor, second.data(), n, sync), geyser::TimeoutError);
    EXPECT_LT(ms_since(both), 3000);
    // An abandoned timeline ends the wait at once.
    waited->mark_abandoned();
    sync.host_wait_timeout = 10 * kSecond;
    const auto abandoned = Clock::now();
    EXPECT_THROW(tex->upload(kColor, second.data(), n, sync), geyser::PeerGoneError);
    EXPECT_LT(ms_since(abandoned), 2000);
    EXPECT_EQ(signalled->value(), 0u);
}

TEST(SubmitSync, VulkanTimelineOrdersCopiesOnTheGpu) {
    DEVICE_OR_SKIP(dev);
    if (!dev->info().timeline_semaphores) GTEST_SKIP() << "'" << dev->info().name << "' has no timeline semaphores";
    auto v = dev->create_timeline(TimelineChoice::kVulkan);
    auto a = dev->create_shareable_texture(rgba8(19, 7));
    auto b = dev->create_shareable_texture(rgba8(19, 7));
    const size_t n = a->host_size(kColor);
    const auto data = ramp(n, 5);
    a->upload(kColor, data.data(), n, ordered({}, {{v.get(), 1}}));
    EXPECT_EQ(v->value(), 1u);
    dev->copy_texture(*a, *b, ordered({{v.get(), 1}}, {{v.get(), 2}}));
    EXPECT_EQ(download(*b, ordered({{v.get(), 2}}, {{v.get(), 3}})), data);
    EXPECT_EQ(v->value(), 3u);

    // The GPU waits for a value the host signals after the submission.
    std::vector<uint8_t> back;
    std::exception_ptr failed;
    std::thread reader([&] {
        try {
            back = download(*b, ordered({{v.get(), 4}}, {{v.get(), 5}}));
        } catch (...) {
            failed = std::current_exception();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(v->value(), 3u) << "the download signalled before its wait was satisfied";
    v->signal(4);
    reader.join();
    ASSERT_FALSE(failed) << "the download failed";
    EXPECT_EQ(back, data);
    EXPECT_EQ(v->value(), 5u);

    // Both kinds in one submission: a portable wait on the host, a Vulkan signal on the GPU.
    auto p = dev->create_shared_timeline(TimelineChoice::kPortable, 1);
    a->upload(kColor, data.data(), n, ordered({{p.get(), 1}, {v.get(), 5}}, {{v.get(), 6}, {p.get(), 2}}));
    EXPECT_EQ(v->value(), 6u);
    EXPECT_EQ(p->value(), 2u);
}

TEST(SubmitSync, SignalsAreCheckedBeforeAnythingRuns) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(8, 4));
    const size_t n = tex->host_size(kColor);
    const auto first = ramp(n, 6);
    const auto second = ramp(n, 7);
    tex->upload(kColor, first.data(), n);
    std::vector<std::shared_ptr<Timeline>> timelines = {dev->create_shared_timeline(TimelineChoice::kPortable, 5)};
    if (dev->info().timeline_semaphores) timelines.push_back(dev->create_timeline(TimelineChoice::kVulkan, 5));
    for (const auto& t : timelines) {
        const char* kind = geyser::to_string(t->kind());
        EXPECT_THROW(tex->upload(kColor, second.data(), n, ordered({}, {{t.get(), 4}})), geyser::InvalidArgumentError)
            << kind;
        EXPECT_EQ(download(*tex), first) << kind << ": a copy that would lower a timeline ran";
        EXPECT_EQ(t->value(), 5u) << kind;
        // Equal: nothing to signal, as Timeline::signal.
        tex->upload(kColor, first.data(), n, ordered({}, {{t.get(), 5}}));
        EXPECT_EQ(t->value(), 5u) << kind;
    }
    if (dev->info().timeline_semaphores) {
        // A raw timeline semaphore follows Vulkan: a GPU signal must raise it.
        auto s = dev->create_semaphore(geyser::SemaphoreType::kTimeline, 5);
        EXPECT_THROW(tex->upload(kColor, second.data(), n, ordered({}, {{s.get(), 5}})), geyser::InvalidArgumentError);
        EXPECT_EQ(download(*tex), first);
        tex->upload(kColor, second.data(), n, ordered({}, {{s.get(), 6}}));
        EXPECT_EQ(s->value(), 6u);
    }
    SubmitSync nothing;
    nothing.wait.push_back(geyser::SyncPoint(static_cast<geyser::Semaphore*>(nullptr)));
    EXPECT_THROW(tex->upload(kColor, first.data(), n, nothing), geyser::InvalidArgumentError);
    // A portable timeline is a host object: any Device's will do. A Vulkan one must be the
    // submitting Device's.
    auto other = Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    auto foreign = other->create_shared_timeline(TimelineChoice::kPortable);
    tex->upload(kColor, first.data(), n, ordered({}, {{foreign.get(), 1}}));
    EXPECT_EQ(foreign->value(), 1u);
    if (dev->info().timeline_semaphores) {
        auto foreign_vk = other->create_timeline(TimelineChoice::kVulkan);
        EXPECT_THROW(tex->upload(kColor, first.data(), n, ordered({{foreign_vk.get(), 0}}, {})),
                     geyser::DeviceMismatchError);
    }
    // A zero-byte buffer copy submits nothing, so it takes no points.
    auto buf = dev->create_shareable_buffer(16);
    EXPECT_THROW(buf->write(first.data(), 0, 0, ordered({}, {{timelines[0].get(), 6}})), geyser::InvalidArgumentError);
}

// -- a texture's frame timeline -----------------------------------------------------------------

TEST(TextureTimeline, SignalTextureReadyAndWaitForTexture) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(4, 4));
    EXPECT_EQ(tex->timeline(), nullptr);
    try {
        dev->wait_for_texture(*tex, 1, 0ns);
        ADD_FAILURE() << "waited on a texture without a timeline";
    } catch (const geyser::UnsupportedOperationError& e) {
        EXPECT_NE(std::string(e.what()).find("this texture has no timeline"), std::string::npos) << e.what();
    }
    // The first signal creates a shared timeline; two at once create one.
    std::thread other_signal([&] { dev->signal_texture_ready(*tex, 1); });
    dev->signal_texture_ready(*tex, 1);
    other_signal.join();
    std::shared_ptr<Timeline> t = tex->timeline();
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->kind(), dev->create_shared_timeline()->kind());
    EXPECT_EQ(t->value(), 1u);
    dev->wait_for_texture(*tex, 1, 0ns);
    EXPECT_THROW(dev->wait_for_texture(*tex, 2, 20 * kMs), geyser::TimeoutError);
    EXPECT_THROW(dev->signal_texture_ready(*tex, 0), geyser::InvalidArgumentError);
    dev->signal_texture_ready(*tex, 2);
    EXPECT_EQ(tex->timeline(), t);

    // Imported with its timeline, on another Device: the same frames.
    auto other = Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    geyser::MemoryHandle h = dev->export_texture(*tex);
    auto imported = other->import_texture(h, other->import_timeline(dev->export_timeline(*t)));
    other->wait_for_texture(*imported, 2, 0ns);
    dev->signal_texture_ready(*tex, 3);
    other->wait_for_texture(*imported, 3, kSecond);
    EXPECT_THROW(other->signal_texture_ready(*tex, 4), geyser::DeviceMismatchError);
    EXPECT_THROW(other->wait_for_texture(*tex, 1, 0ns), geyser::DeviceMismatchError);
    imported->set_timeline(nullptr);
    EXPECT_THROW(other->wait_for_texture(*imported, 1, 0ns), geyser::UnsupportedOperationError);

    // release_texture_handle closes the fd; a buffer's handle is refused and keeps its fd.
    auto buf = dev->create_shareable_buffer(64);
    geyser::MemoryHandle bh = dev->export_buffer(*buf);
    EXPECT_THROW(dev->release_texture_handle(bh), geyser::InvalidHandleError);
    EXPECT_TRUE(bh.fd.valid());
    EXPECT_THROW(dev->release_buffer_handle(h), geyser::InvalidHandleError);
    EXPECT_TRUE(h.fd.valid());
    const size_t before = fd_count();
    dev->release_texture_handle(h);
    dev->release_buffer_handle(bh);
    EXPECT_FALSE(h.fd.valid());
    EXPECT_FALSE(bh.fd.valid());
    EXPECT_EQ(fd_count(), before - 2);
}
