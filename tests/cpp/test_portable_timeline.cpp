// Tests for geyser::PortableTimeline: single process, threads, fork()ed peers, and bad fds.
#include "geyser/portable_timeline.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "geyser/error.hpp"
#include "geyser/unique_fd.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using geyser::InvalidArgumentError;
using geyser::InvalidHandleError;
using geyser::PeerGoneError;
using geyser::PortableTimeline;
using geyser::TimeoutError;
using geyser::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::nanoseconds kMs = std::chrono::milliseconds(1);
constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);

int64_t elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

using geyser::testing_support::fd_count;

// Lines of /proc/self/maps that map some memfd: catches a leaked mapping of a timeline page.
int count_memfd_mappings() {
    std::ifstream maps("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(maps, line);) {
        if (line.find("/memfd:") != std::string::npos) ++n;
    }
    return n;
}

// The first 32 bytes of a real timeline page, to forge look-alikes.
std::array<unsigned char, 32> real_header() {
    std::array<unsigned char, 32> bytes{};
    auto t = PortableTimeline::create(7);
    UniqueFd fd = t.export_fd();
    EXPECT_EQ(::pread(fd.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    return bytes;
}

UniqueFd make_memfd(unsigned flags, off_t size, int seals, const void* bytes, size_t n) {
    UniqueFd fd(::memfd_create("geyser-test-bad", MFD_CLOEXEC | flags));
    EXPECT_TRUE(fd.valid()) << std::strerror(errno);
    EXPECT_EQ(::ftruncate(fd.get(), size), 0);
    if (n > 0) { EXPECT_EQ(::pwrite(fd.get(), bytes, n, 0), static_cast<ssize_t>(n)); }
    if (seals != 0) { EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS, seals), 0) << std::strerror(errno); }
    return fd;
}

// A forked child that runs `body` and exits with its return code (100 on an exception). The
// destructor SIGKILLs and reaps a child still running, so a failed assertion cannot leave it
// behind. Children must not use gtest assertions: they report through the exit code.
class Child {
public:
    explicit Child(const std::function<int()>& body) {
        pid_ = ::fork();
        if (pid_ == 0) {
            int code = 100;
            try {
                code = body();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child: %s\n", e.what());
            }
            ::_exit(code);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            reap();
        }
    }
    pid_t pid() const { return pid_; }
    // Waits for the child and returns its wait status.
    int reap() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }
    // Waits for the child and returns its exit code, or -signal if it was killed.
    int exit_code() {
        const int status = reap();
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return WIFSIGNALED(status) ? -WTERMSIG(status) : -1000;
    }

private:
    pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------------------------
// One process.

TEST(PortableTimeline, CreateSignalValue) {
    auto t = PortableTimeline::create();
    EXPECT_EQ(t.value(), 0u);
    EXPECT_FALSE(t.abandoned());
    t.signal(3);
    EXPECT_EQ(t.value(), 3u);
    t.signal(std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(t.value(), std::numeric_limits<uint64_t>::max());

    auto u = PortableTimeline::create(42);
    EXPECT_EQ(u.value(), 42u);
    EXPECT_TRUE(u.try_wait(42));
    EXPECT_FALSE(u.try_wait(43));
}

TEST(PortableTimeline, RefusesToDecrease) {
    auto t = PortableTimeline::create(5);
    try {
        t.signal(3);
        FAIL() << "signal(3) after 5 did not throw";
    } catch (const InvalidArgumentError& e) {
        EXPECT_STREQ(e.what(), "timeline value must not decrease: current 5, asked 3");
    }
    EXPECT_EQ(t.value(), 5u);
    EXPECT_NO_THROW(t.signal(5));  // equal is allowed
    EXPECT_EQ(t.value(), 5u);
}

TEST(PortableTimeline, ExportImportShareTheCounter) {
    auto a = PortableTimeline::create(1);
    UniqueFd fd = a.export_fd();
    auto b = PortableTimeline::import_fd(fd.get());
    EXPECT_TRUE(fd.valid());
    EXPECT_GE(::fcntl(fd.get(), F_GETFD), 0) << "import_fd must not take the caller's fd";
    EXPECT_EQ(b.value(), 1u);
    a.signal(10);
    EXPECT_EQ(b.value(), 10u);
    b.signal(11);
    EXPECT_EQ(a.value(), 11u);
    b.mark_abandoned();
    EXPECT_TRUE(a.abandoned());
}

TEST(PortableTimeline, PollWithZeroTimeout) {
    auto t = PortableTimeline::create(1);
    EXPECT_NO_THROW(t.wait(1, std::chrono::nanoseconds(0)));
    const auto start = Clock::now();
    try {
        t.wait(2, std::chrono::nanoseconds(0));
        FAIL() << "wait(2, 0) on a timeline at 1 did not throw";
    } catch (const TimeoutError& e) {
        EXPECT_STREQ(e.what(), "timed out after 0 ms waiting for timeline value 2 (current 1)");
    }
    EXPECT_LT(elapsed_ms(start), 50);
}

TEST(PortableTimeline, WaitTimesOutWithinSlack) {
    auto t = PortableTimeline::create(4);
    constexpr int64_t kTimeoutMs = 250;
    const auto start = Clock::now();
    try {
        t.wait(5, kTimeoutMs * kMs);
        FAIL() << "wait did not time out";
    } catch (const TimeoutError& e) {
        EXPECT_STREQ(e.what(), "timed out after 250 ms waiting for timeline value 5 (current 4)");
    }
    const int64_t ms = elapsed_ms(start);
    EXPECT_GE(ms, kTimeoutMs);
    EXPECT_LT(ms, kTimeoutMs + 500);
}

TEST(PortableTimeline, WaitWakesOnSignalFromAnotherThread) {
    auto t = PortableTimeline::create();
    const auto start = Clock::now();
    std::thread signaller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        t.signal(1);
    });
    EXPECT_NO_THROW(t.wait(1, 5s));
    signaller.join();
    EXPECT_GE(elapsed_ms(start), 45);
    EXPECT_LT(elapsed_ms(start), 2000);
}

TEST(PortableTimeline, HugeTimeoutDoesNotOverflowTheDeadline) {
    auto t = PortableTimeline::create();
    std::thread signaller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        t.signal(1);
    });
    EXPECT_NO_THROW(t.wait(1, std::chrono::nanoseconds::max()));
    signaller.join();
}

TEST(PortableTimeline, ConcurrentSignallersNeverMoveBackwards) {
    auto t = PortableTimeline::create();
    constexpr int kThreads = 4;
    constexpr uint64_t kSignals = 1000000;
    // Tickets keep the signallers' values close together, so a load-check-store race (instead of
    // compare-and-swap) would often let a smaller value land after a larger one.
    std::atomic<uint64_t> ticket{0};
    std::atomic<int> ready{0};
    std::atomic<bool> done{false};
    std::atomic<uint64_t> backwards{0};
    std::atomic<uint64_t> refused{0};
    std::thread monitor([&] {
        uint64_t last = 0;
        while (!done.load()) {
            const uint64_t v = t.value();
            if (v < last) backwards.fetch_add(1);
            last = v;
        }
    });
    std::vector<std::thread> signallers;
    for (int k = 0; k < kThreads; ++k) {
        signallers.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) {
                // Start together, or the first thread may finish before the last one starts.
            }
            for (uint64_t v = ticket.fetch_add(1) + 1; v <= kSignals; v = ticket.fetch_add(1) + 1) {
                try {
                    t.signal(v);
                    if (t.value() < v) backwards.fetch_add(1);
                } catch (const InvalidArgumentError&) {
                    // Another thread got further; refusing is the contract.
                    refused.fetch_add(1);
                    if (t.value() < v) backwards.fetch_add(1);
                }
            }
        });
    }
    for (auto& s : signallers) s.join();
    done.store(true);
    monitor.join();
    std::printf("[          ] %llu signals from %d threads, %llu refused as decreasing\n",
                static_cast<unsigned long long>(kSignals), kThreads,
                static_cast<unsigned long long>(refused.load()));
    EXPECT_EQ(backwards.load(), 0u);
    EXPECT_EQ(t.value(), kSignals);
}

TEST(PortableTimeline, AbandonedFailsOnlyUnreachedValues) {
    auto t = PortableTimeline::create();
    t.signal(5);
    t.mark_abandoned();
    EXPECT_TRUE(t.abandoned());
    EXPECT_NO_THROW(t.wait(5, std::chrono::nanoseconds(0)));
    EXPECT_NO_THROW(t.wait(3, 1s));
    EXPECT_FALSE(t.try_wait(6));
    const auto start = Clock::now();
    EXPECT_THROW(t.wait(6, 10s), PeerGoneError);
    EXPECT_LT(elapsed_ms(start), 100);
}

TEST(PortableTimeline, MovedFromHoldsNothing) {
    const int mappings = count_memfd_mappings();
    auto a = PortableTimeline::create(9);
    PortableTimeline b = std::move(a);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(b.valid());
    EXPECT_EQ(b.value(), 9u);
    EXPECT_THROW(a.value(), InvalidHandleError);
    EXPECT_THROW(a.signal(10), InvalidHandleError);
    EXPECT_THROW(a.wait(1, std::chrono::nanoseconds(0)), InvalidHandleError);
    EXPECT_THROW((void)a.export_fd(), InvalidHandleError);

    // Assigning over a live timeline unmaps and closes the old one at once.
    const size_t fds = fd_count();
    b = PortableTimeline::create(1);
    EXPECT_EQ(b.value(), 1u);
    EXPECT_EQ(fd_count(), fds);
    EXPECT_EQ(count_memfd_mappings(), mappings + 1);
}

TEST(PortableTimeline, ThousandCreateExportImportCyclesLeakNothing) {
    const size_t fds = fd_count();
    const int mappings = count_memfd_mappings();
    const auto start = Clock::now();
    for (uint64_t i = 0; i < 1000; ++i) {
        auto t = PortableTimeline::create(i);
        UniqueFd fd = t.export_fd();
        auto imported = PortableTimeline::import_fd(fd.get());
        imported.signal(i + 1);
        ASSERT_EQ(t.value(), i + 1);
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    std::printf("[          ] 1000 create/export/import/close cycles: %lld us (%.1f us each)\n",
                static_cast<long long>(us), static_cast<double>(us) / 1000.0);
    EXPECT_EQ(fd_count(), fds);
    EXPECT_EQ(count_memfd_mappings(), mappings);
}

// ---------------------------------------------------------------------------------------------
// Two processes. The children inherit the exported fds across fork() and import them by number.

TEST(PortableTimelineProcess, PingPongThousandRoundTrips) {
    constexpr uint64_t kRounds = 1000;
    auto ping = PortableTimeline::create();
    auto pong = PortableTimeline::create();
    UniqueFd ping_fd = ping.export_fd();
    UniqueFd pong_fd = pong.export_fd();
    // Plain (non-atomic) shared memory, ordered only by the timeline: checks release/acquire.
    void* mem = ::mmap(nullptr, kRounds * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* payload = static_cast<uint64_t*>(mem);

    Child child([&] {
        auto in = PortableTimeline::import_fd(ping_fd.get());
        auto out = PortableTimeline::import_fd(pong_fd.get());
        for (uint64_t i = 1; i <= kRounds; ++i) {
            in.wait(i, 5s);
            if (in.value() != i) return 2;
            if (payload[i - 1] != i * 3) return 3;
            payload[i - 1] = i * 7;
            out.signal(i);
        }
        return 0;
    });
    ASSERT_GT(child.pid(), 0);

    const auto start = Clock::now();
    for (uint64_t i = 1; i <= kRounds; ++i) {
        payload[i - 1] = i * 3;
        ping.signal(i);
        ASSERT_NO_THROW(pong.wait(i, 5s)) << "round " << i;
        ASSERT_EQ(pong.value(), i);
        ASSERT_EQ(payload[i - 1], i * 7) << "round " << i;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    std::printf("[          ] %llu cross-process round trips: %lld us total, %.2f us per round trip\n",
                static_cast<unsigned long long>(kRounds), static_cast<long long>(us),
                static_cast<double>(us) / static_cast<double>(kRounds));
    // wait() re-checks the value when its timeout expires, so a lost wake-up shows up only as a
    // 5 s stall, never as a failure: bound the total time instead.
    EXPECT_LT(us, 3000000) << "a wake-up was lost (or the machine is badly overloaded)";
    EXPECT_EQ(child.exit_code(), 0);
    ::munmap(mem, kRounds * sizeof(uint64_t));
}

TEST(PortableTimelineProcess, ChildKilledWhileParentWaitsGivesTimeout) {
    auto to_parent = PortableTimeline::create();
    auto to_child = PortableTimeline::create();
    UniqueFd to_parent_fd = to_parent.export_fd();
    UniqueFd to_child_fd = to_child.export_fd();

    Child child([&] {
        auto out = PortableTimeline::import_fd(to_parent_fd.get());
        auto in = PortableTimeline::import_fd(to_child_fd.get());
        out.signal(1);
        in.wait(1, 30s);  // asleep here (registered as a waiter) when it is killed
        out.signal(2);
        return 0;
    });
    ASSERT_GT(child.pid(), 0);
    ASSERT_NO_THROW(to_parent.wait(1, 5s));

    const pid_t pid = child.pid();
    std::thread killer([pid] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        ::kill(pid, SIGKILL);
    });
    constexpr int64_t kTimeoutMs = 400;
    const auto start = Clock::now();
    EXPECT_THROW(to_parent.wait(2, kTimeoutMs * kMs), TimeoutError);
    const int64_t ms = elapsed_ms(start);
    killer.join();
    EXPECT_GE(ms, kTimeoutMs);
    EXPECT_LT(ms, kTimeoutMs + 500);
    EXPECT_EQ(child.exit_code(), -SIGKILL);

    // The dead child's waiter registration is left behind; signal and wait must not mind.
    EXPECT_NO_THROW(to_child.signal(1));
    EXPECT_NO_THROW(to_child.wait(1, std::chrono::nanoseconds(0)));
    EXPECT_EQ(to_parent.value(), 1u);
}

TEST(PortableTimelineProcess, AbandonedInChildFailsParentWaitFast) {
    auto t = PortableTimeline::create();
    UniqueFd fd = t.export_fd();
    Child child([&] {
        auto mine = PortableTimeline::import_fd(fd.get());
        ::usleep(100 * 1000);
        mine.mark_abandoned();
        return 0;
    });
    ASSERT_GT(child.pid(), 0);
    const auto start = Clock::now();
    try {
        t.wait(1, 10s);
        FAIL() << "wait on an abandoned timeline returned";
    } catch (const PeerGoneError& e) {
        EXPECT_NE(std::string(e.what()).find("abandoned"), std::string::npos) << e.what();
    }
    EXPECT_LT(elapsed_ms(start), 2000);
    EXPECT_TRUE(t.abandoned());
    EXPECT_EQ(child.exit_code(), 0);
}

TEST(PortableTimelineProcess, AbandonedInParentFailsChildWaitFast) {
    auto t = PortableTimeline::create();
    UniqueFd fd = t.export_fd();
    Child child([&] {
        auto mine = PortableTimeline::import_fd(fd.get());
        const auto start = Clock::now();
        try {
            mine.wait(1, 10s);
            return 2;
        } catch (const PeerGoneError&) {
            return elapsed_ms(start) < 2000 ? 0 : 3;
        }
    });
    ASSERT_GT(child.pid(), 0);
    ::usleep(100 * 1000);
    t.mark_abandoned();
    EXPECT_EQ(child.exit_code(), 0);
}

// ---------------------------------------------------------------------------------------------
// Bad fds: one body, one small maker per kind of fd.

struct BadFd {
    UniqueFd owner;  // what the test holds open (empty for the closed-number cases)
    int number = -1;
};

struct BadFdCase {
    const char* name;
    std::function<BadFd()> make;
    const char* message;  // a substring the InvalidHandleError must contain
};

BadFd owned(UniqueFd fd) {
    BadFd bad;
    bad.number = fd.get();
    bad.owner = std::move(fd);
    return bad;
}

std::vector<BadFdCase> bad_fd_cases() {
    return {
        {"Negative", [] { return BadFd{}; }, "expected an open file descriptor"},
        {"ClosedNumber",
         [] {
             BadFd bad;
             bad.number = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
             ::close(bad.number);
             return bad;
         },
         "is not open"},
        {"Pipe",
         [] {
             int fds[2] = {-1, -1};
             EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
             ::close(fds[1]);
             return owned(UniqueFd(fds[0]));
         },
         "found a pipe"},
        {"DevNull", [] { return owned(UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC))); },
         "found a character device"},
        {"RegularFileInTmp",
         [] {
             char path[] = "/tmp/geyser-timeline-test-XXXXXX";
             UniqueFd fd(::mkostemp(path, O_CLOEXEC));
             EXPECT_TRUE(fd.valid());
             ::unlink(path);
             const auto header = real_header();  // looks right: only the missing seal gives it away
             EXPECT_EQ(::pwrite(fd.get(), header.data(), header.size(), 0), 32);
             EXPECT_EQ(::ftruncate(fd.get(), 4096), 0);
             return owned(std::move(fd));
         },
         "seal"},
        {"MemfdWithoutHeader",
         [] { return owned(make_memfd(MFD_ALLOW_SEALING, 4096, F_SEAL_SHRINK | F_SEAL_GROW, nullptr, 0)); },
         "expected magic 0x4c545947"},
        {"UnsealedMemfdWithValidHeader",
         [] {
             const auto header = real_header();
             return owned(make_memfd(0, 4096, 0, header.data(), header.size()));
         },
         "not sealed against shrinking"},
        {"SealableButUnsealedMemfdWithValidHeader",
         [] {
             const auto header = real_header();
             return owned(make_memfd(MFD_ALLOW_SEALING, 4096, 0, header.data(), header.size()));
         },
         "not sealed against shrinking"},
        {"WrongLayoutVersion",
         [] {
             auto header = real_header();
             header[4] = 99;  // version is the little-endian u32 at offset 4
             return owned(make_memfd(MFD_ALLOW_SEALING, 4096, F_SEAL_SHRINK, header.data(), header.size()));
         },
         "expected timeline layout version 1, found 99"},
        {"TooSmall",
         [] {
             const auto header = real_header();
             return owned(make_memfd(MFD_ALLOW_SEALING, 8, F_SEAL_SHRINK, header.data(), 8));
         },
         "expected at least 32 bytes, found 8"},
        {"SealedAgainstWriting",
         [] {
             const auto header = real_header();
             return owned(make_memfd(MFD_ALLOW_SEALING, 4096, F_SEAL_SHRINK | F_SEAL_WRITE, header.data(),
                                     header.size()));
         },
         "sealed against writing"},
        {"ReadOnlyReopenOfARealTimeline",
         [] {
             auto t = PortableTimeline::create();
             UniqueFd rw = t.export_fd();
             const std::string path = "/proc/self/fd/" + std::to_string(rw.get());
             return owned(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
         },
         "read-only"},
    };
}

class BadFdTest : public ::testing::TestWithParam<BadFdCase> {};

TEST_P(BadFdTest, ThrowsInvalidHandleAndLeaksNothing) {
    BadFd bad = GetParam().make();
    if (bad.owner.valid()) { ASSERT_GE(::fcntl(bad.number, F_GETFD), 0); }
    const size_t fds = fd_count();
    const int mappings = count_memfd_mappings();
    try {
        (void)PortableTimeline::import_fd(bad.number);
        FAIL() << "import_fd accepted a " << GetParam().name << " fd";
    } catch (const InvalidHandleError& e) {
        EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos)
            << "message: " << e.what() << "\nexpected it to contain: " << GetParam().message;
        std::printf("[          ] %s: %s\n", GetParam().name, e.what());
    }
    EXPECT_EQ(fd_count(), fds);
    EXPECT_EQ(count_memfd_mappings(), mappings);
    if (bad.owner.valid()) { EXPECT_GE(::fcntl(bad.number, F_GETFD), 0) << "the caller's fd was closed"; }
}

INSTANTIATE_TEST_SUITE_P(PortableTimeline, BadFdTest, ::testing::ValuesIn(bad_fd_cases()),
                         [](const ::testing::TestParamInfo<BadFdCase>& info) { return std::string(info.param.name); });

}  // namespace
