// Every blocking wait calls the installed interrupt check (interrupt.hpp) while it waits, ends
// with what the check throws, and leaves the object usable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "device_support.hpp"
#include "geyser/geyser.hpp"
#include "support.hpp"

using namespace geyser;

namespace {

constexpr std::chrono::seconds kLong{30};
std::atomic<bool> g_interrupt{false};
std::atomic<int> g_checks{0};

struct Interrupted {};

void check() {
    g_checks.fetch_add(1);
    if (g_interrupt.exchange(false)) throw Interrupted{};
}

/// Runs `wait` with the check installed, raises the flag after 100 ms from another thread, and
/// returns how long the wait went on after that.
std::chrono::milliseconds interrupted_after(const std::function<void()>& wait) {
    set_interrupt_check(&check);
    g_interrupt = false;
    std::chrono::steady_clock::time_point raised;
    std::thread raiser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        raised = std::chrono::steady_clock::now();
        g_interrupt = true;
    });
    bool interrupted = false;
    try {
        wait();
    } catch (const Interrupted&) {
        interrupted = true;
    }
    const auto ended = std::chrono::steady_clock::now();
    raiser.join();
    set_interrupt_check(nullptr);
    EXPECT_TRUE(interrupted) << "the wait ended without the check's exception";
    return std::chrono::duration_cast<std::chrono::milliseconds>(ended - raised);
}

std::string unique_name(const char* what) { return std::string("intr-") + what + "-" + std::to_string(::getpid()); }

TextureDescriptor small() {
    TextureDescriptor d;
    d.width = 8;
    d.height = 8;
    d.format = TextureFormat::kRgba8Unorm;
    return d;
}

// Generous against a loaded 2-core CI machine; the slice itself is 20 ms.
constexpr std::chrono::milliseconds kSlack{1000};

}  // namespace

TEST(Interrupt, ChannelReceiveSendAndConnect) {
    auto [a, b] = Channel::pair();
    EXPECT_LT(interrupted_after([&] { a.receive(kLong); }), kSlack);
    b.send(static_cast<uint16_t>(MessageType::kHello), {1, 2, 3}, {});
    EXPECT_EQ(a.receive(kLong).payload.size(), 3u) << "the channel is usable after the interruption";
    const std::string path = runtime_dir() + "/" + unique_name("nobody") + ".sock";
    EXPECT_LT(interrupted_after([&] { Channel::connect(path, kLong); }), kSlack);
    // A full queue: send waits for room.
    EXPECT_LT(interrupted_after([&] {
                  const std::vector<uint8_t> big(kMaxPayloadSize);
                  for (;;) b.send(static_cast<uint16_t>(MessageType::kHello), big, {}, kLong);
              }),
              kSlack);
}

TEST(Interrupt, NoCheckInstalledMeansOneSleep) {
    set_interrupt_check(nullptr);
    g_checks = 0;
    auto [a, b] = Channel::pair();
    EXPECT_THROW(a.receive(std::chrono::milliseconds(100)), TimeoutError);
    EXPECT_EQ(g_checks.load(), 0);
    set_interrupt_check(&check);
    {
        InterruptShield shield;
        EXPECT_THROW(a.receive(std::chrono::milliseconds(100)), TimeoutError);
    }
    EXPECT_EQ(g_checks.load(), 0) << "a shielded wait called the check";
    EXPECT_THROW(a.receive(std::chrono::milliseconds(100)), TimeoutError);
    EXPECT_GE(g_checks.load(), 2) << "a 100 ms wait is at least two slices";
    EXPECT_LE(g_checks.load(), 10) << "an idle wait must not spin";
    set_interrupt_check(nullptr);
}

TEST(Interrupt, TimelineSemaphoreFenceSenderAndSubscriberWaits) {
    DEVICE_OR_SKIP(dev);
    auto portable = dev->create_timeline(TimelineChoice::kPortable, 0);
    EXPECT_LT(interrupted_after([&] { portable->wait(1, kLong); }), kSlack);
    portable->signal(1);
    portable->wait(1, std::chrono::nanoseconds(0));
    auto sem = dev->create_semaphore(SemaphoreType::kTimeline, 0);
    EXPECT_LT(interrupted_after([&] { sem->wait(1, kLong); }), kSlack);
    auto fence = dev->create_fence(false);
    EXPECT_LT(interrupted_after([&] { fence->wait(kLong); }), kSlack);

    const std::string name = unique_name("sender");
    SenderOptions o;
    o.ring_size = 1;
    o.release_timeout = kLong;
    auto sender = Sender::create(dev, name, small(), o);
    EXPECT_LT(interrupted_after([&] { sender->wait_for_subscribers(1, kLong); }), kSlack);
    auto sub = Subscriber::connect(dev, name, kLong);
    EXPECT_LT(interrupted_after([&] { sub->next_frame(kLong); }), kSlack);
    const std::vector<uint8_t> px(8 * 8 * 4);
    sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
    Subscriber::Frame held = sub->next_frame(kLong);
    EXPECT_LT(interrupted_after([&] { sender->begin_frame(); }), kSlack);  // waits for `held`
    held.release();
    EXPECT_EQ(sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size()), 2u) << "usable after it";
    EXPECT_EQ(sub->next_frame(kLong).number(), 2u);
}
