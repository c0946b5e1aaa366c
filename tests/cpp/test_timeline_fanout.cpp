// TimelineFanout (cpp/src/sync/timeline_fanout.hpp): one frame's ready signal to many timelines
// at once. Vulkan timelines here are local ones (lavapipe cannot export them, but it runs their
// queue submissions); portable ones are what CI's senders use.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "geyser/geyser.hpp"
#include "sync/timeline_fanout.hpp"
#include "vulkan/vk.hpp"
#include "device_support.hpp"
#include "sender_support.hpp"
#include "validation_listener.hpp"

namespace geyser {
namespace {

using namespace std::chrono_literals;
using Kind = TimelineFanout::Failure::Kind;
using testing_support::frame_bytes;
using testing_support::rgba8_descriptor;
using testing_support::unique_name;

std::vector<std::shared_ptr<Timeline>> make(Device& dev, TimelineChoice choice, size_t n) {
    std::vector<std::shared_ptr<Timeline>> out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(choice == TimelineChoice::kPortable ? dev.create_shared_timeline(choice, 0)
                                                          : dev.create_timeline(choice, 0));
    }
    return out;
}

std::vector<Timeline*> raw(const std::vector<std::shared_ptr<Timeline>>& t) {
    std::vector<Timeline*> out;
    for (const auto& p : t) out.push_back(p.get());
    return out;
}

bool vulkan_timelines(const Device& dev) { return dev.info().timeline_semaphores; }

// The producer's own GPU work, as a user records it: a submission on the device's queue that
// waits on `gate` and then signals `ready` to `value` (what a render's submission does).
void submit_gated_signal(Device& dev, Timeline& gate, uint64_t gate_value, Timeline& ready, uint64_t value) {
    const VkSemaphore wait = gate.semaphore()->vk_semaphore();
    const VkSemaphore signal = ready.semaphore()->vk_semaphore();
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkTimelineSemaphoreSubmitInfo ti{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ti.waitSemaphoreValueCount = 1;
    ti.pWaitSemaphoreValues = &gate_value;
    ti.signalSemaphoreValueCount = 1;
    ti.pSignalSemaphoreValues = &value;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = &ti;
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &wait;
    si.pWaitDstStageMask = &stage;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &signal;
    std::lock_guard<std::mutex> q(dev.queue_mutex());
    ASSERT_EQ(dev.vk().vkQueueSubmit(dev.vk_queue(), 1, &si, VK_NULL_HANDLE), VK_SUCCESS);
}

TEST(TimelineFanout, PortableTargetsAreSignalledInOnePassAndEachFailureIsItsOwn) {
    DEVICE_OR_SKIP(dev);
    TimelineFanout fanout(dev);
    auto ready = dev->create_shared_timeline(TimelineChoice::kPortable, 0);
    auto targets = make(*dev, TimelineChoice::kPortable, 16);
    std::vector<Timeline*> t = raw(targets);

    // The ready timeline must be there first: a portable target is signalled on the host.
    EXPECT_THROW(fanout.signal(t, 1, *ready), InvalidArgumentError);
    for (const auto& p : targets) EXPECT_EQ(p->value(), 0u) << "a refused call signals nothing";

    ready->signal(1);
    EXPECT_TRUE(fanout.signal(t, 1, *ready).empty());
    for (const auto& p : targets) EXPECT_EQ(p->value(), 1u);
    EXPECT_EQ(fanout.submissions(), 0u) << "portable timelines need no queue submission";

    // What subscribers may do to their own: push it ahead, mark it abandoned.
    targets[3]->signal(100);
    targets[7]->mark_abandoned();
    ready->signal(2);
    const auto& failed = fanout.signal(t, 2, *ready);
    ASSERT_EQ(failed.size(), 2u);
    EXPECT_EQ(failed[0].index, 3u);
    EXPECT_EQ(failed[0].kind, Kind::kAhead);
    EXPECT_EQ(failed[0].found, 100u);
    EXPECT_EQ(failed[1].index, 7u);
    EXPECT_EQ(failed[1].kind, Kind::kAbandoned);
    for (size_t i = 0; i < targets.size(); ++i) {
        if (i != 3 && i != 7) EXPECT_EQ(targets[i]->value(), 2u) << "target " << i;
    }
    EXPECT_EQ(targets[3]->value(), 100u);

    // A waiter in another thread is woken by its own target's signal.
    std::thread waiter([&] { targets[0]->wait(3, 5s); });
    std::this_thread::sleep_for(50ms);
    ready->signal(3);
    fanout.signal({targets[0].get()}, 3, *ready);
    waiter.join();
    EXPECT_TRUE(fanout.drain(*ready, 1s));
}

TEST(TimelineFanout, VulkanTargetsAreSignalledByOneSubmissionAfterTheGpuSignal) {
    DEVICE_OR_SKIP(dev);
    if (!vulkan_timelines(*dev)) GTEST_SKIP() << "this device has no timeline semaphores";
    TimelineFanout fanout(dev);
    auto ready = dev->create_timeline(TimelineChoice::kVulkan, 0);  // the producer's
    auto gate = dev->create_timeline(TimelineChoice::kVulkan, 0);   // holds its GPU work back
    auto targets = make(*dev, TimelineChoice::kVulkan, 16);

    for (uint64_t n = 1; n <= 3; ++n) {
        // The producer's GPU work is submitted first and signals `ready` once the gate opens, a
        // little later; the fan-out returns at once and the device forwards the signal.
        submit_gated_signal(*dev, *gate, n, *ready, n);
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(fanout.signal(raw(targets), n, *ready).empty());
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "the fan-out does not wait for the GPU";
        EXPECT_EQ(fanout.submissions(), n) << "one submission for all 16 targets";
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(ready->value(), n - 1) << "the GPU work is still held back";
        for (const auto& t : targets) EXPECT_EQ(t->value(), n - 1) << "signalled before the producer's GPU";
        gate->signal(n);
        for (const auto& t : targets) {
            t->wait(n, 5s);
            EXPECT_EQ(t->value(), n);
        }
    }
    EXPECT_TRUE(fanout.drain(*ready, 5s));
}

TEST(TimelineFanout, VulkanTargetsAheadOrEqualAreLeftOut) {
    DEVICE_OR_SKIP(dev);
    if (!vulkan_timelines(*dev)) GTEST_SKIP() << "this device has no timeline semaphores";
    TimelineFanout fanout(dev);
    auto ready = dev->create_timeline(TimelineChoice::kVulkan, 0);
    auto targets = make(*dev, TimelineChoice::kVulkan, 4);
    targets[1]->signal(9);  // pushed ahead by its subscriber
    targets[2]->signal(2);  // already at the value: left out, no failure
    ready->signal(2);
    const auto& failed = fanout.signal(raw(targets), 2, *ready);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].index, 1u);
    EXPECT_EQ(failed[0].kind, Kind::kAhead);
    EXPECT_EQ(failed[0].found, 9u);
    EXPECT_TRUE(fanout.drain(*ready, 5s));
    EXPECT_EQ(targets[0]->value(), 2u);
    EXPECT_EQ(targets[1]->value(), 9u);
    EXPECT_EQ(targets[2]->value(), 2u);
    EXPECT_EQ(targets[3]->value(), 2u);
}

TEST(TimelineFanout, AFewVulkanTargetsOfAReadyFrameAreSignalledFromTheHost) {
    DEVICE_OR_SKIP(dev);
    if (!vulkan_timelines(*dev)) GTEST_SKIP() << "this device has no timeline semaphores";
    TimelineFanout fanout(dev);
    auto ready = dev->create_timeline(TimelineChoice::kVulkan, 0);
    auto few = make(*dev, TimelineChoice::kVulkan, TimelineFanout::kHostSignalMax);
    ready->signal(1);
    EXPECT_TRUE(fanout.signal(raw(few), 1, *ready).empty());
    EXPECT_EQ(fanout.submissions(), 0u);  // signalled at once, from the host
    for (const auto& t : few) EXPECT_EQ(t->value(), 1u);
    // One more than that, or a frame not ready yet, goes to the device in one submission.
    auto many = make(*dev, TimelineChoice::kVulkan, TimelineFanout::kHostSignalMax + 1);
    EXPECT_TRUE(fanout.signal(raw(many), 1, *ready).empty());
    EXPECT_EQ(fanout.submissions(), 1u);
    EXPECT_TRUE(fanout.signal(raw(few), 2, *ready).empty());
    EXPECT_EQ(fanout.submissions(), 2u);
    ready->signal(2);
    EXPECT_TRUE(fanout.drain(*ready, 5s));
    for (const auto& t : many) EXPECT_EQ(t->value(), 1u);
    for (const auto& t : few) EXPECT_EQ(t->value(), 2u);
}

TEST(TimelineFanout, RetiredTargetsLiveUntilTheSubmissionCompletesAndDrainIsBounded) {
    DEVICE_OR_SKIP(dev);
    if (!vulkan_timelines(*dev)) GTEST_SKIP() << "this device has no timeline semaphores";
    TimelineFanout fanout(dev);
    auto ready = dev->create_timeline(TimelineChoice::kVulkan, 0);
    auto targets = make(*dev, TimelineChoice::kVulkan, 2);
    // A GPU that never signals `ready`: the submission waits.
    EXPECT_TRUE(fanout.signal(raw(targets), 1, *ready).empty());
    std::weak_ptr<Timeline> gone = targets[1];
    fanout.retire(std::move(targets[1]));
    targets.pop_back();
    EXPECT_FALSE(gone.expired()) << "a pending submission still signals it";
    ready->signal(0);  // no change: still pending
    EXPECT_FALSE(gone.expired());
    // drain gives the GPU its time, then signals `ready` from the host so the queue can idle.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(fanout.drain(*ready, 200ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
    EXPECT_EQ(ready->value(), 1u);
    EXPECT_EQ(targets[0]->value(), 1u);
    EXPECT_TRUE(gone.expired()) << "freed once the submission completed";
}

TEST(TimelineFanout, RetireFreesAtOnceWhatCompletedSubmissionsNoLongerUse) {
    // A producer whose own work signals its subscribers makes no submission for a long time:
    // what it retires must not wait for the next one.
    DEVICE_OR_SKIP(dev);
    if (!vulkan_timelines(*dev)) GTEST_SKIP() << "this device has no timeline semaphores";
    TimelineFanout fanout(dev);
    auto ready = dev->create_timeline(TimelineChoice::kVulkan, 0);
    auto targets = make(*dev, TimelineChoice::kVulkan, TimelineFanout::kHostSignalMax + 2);
    EXPECT_TRUE(fanout.signal(raw(targets), 1, *ready).empty());  // waits on the GPU for `ready`
    ASSERT_EQ(fanout.submissions(), 1u);
    std::weak_ptr<Timeline> kept = targets[0];
    fanout.retire(std::move(targets[0]));
    EXPECT_FALSE(kept.expired()) << "the pending submission still signals it";
    ready->signal(1);
    // No signal() since: a retire frees what the completed submission kept (polled, since the
    // submission's own completion signal may land a little after its targets').
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!kept.expired() && std::chrono::steady_clock::now() < deadline) {
        fanout.retire(dev->create_timeline(TimelineChoice::kVulkan, 0));
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_TRUE(kept.expired()) << "kept past its submission's completion";
    // And what is retired now no submission uses: freed at once.
    std::weak_ptr<Timeline> later = targets[1];
    fanout.retire(std::move(targets[1]));
    EXPECT_TRUE(later.expired()) << "no pending submission uses it";
    EXPECT_TRUE(fanout.drain(*ready, 5s));
}

TEST(TimelineFanout, TargetsOfAnotherDeviceAreRefused) {
    DEVICE_OR_SKIP(dev);
    auto other = Device::open(uuid_to_hex(dev->info().device_uuid));
    TimelineFanout fanout(dev);
    auto ready = dev->create_shared_timeline(TimelineChoice::kPortable, 1);
    auto foreign = other->create_shared_timeline(TimelineChoice::kPortable, 0);
    EXPECT_THROW(fanout.signal({foreign.get()}, 1, *ready), DeviceMismatchError);
    EXPECT_EQ(foreign->value(), 0u);
}

// ---- the Sender's end_frame(ReadySignal::kGpu), forwarded by the device -------------------

bool exports_timelines(const Device& dev) {
    return (dev.info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) != 0;
}

TEST(SenderGpuForwarding, EndFrameReturnsAtOnceAndTheDeviceForwardsTheGpuSignal) {
    DEVICE_OR_SKIP(dev);
    if (!exports_timelines(*dev)) {
        GTEST_SKIP() << "this device cannot export timeline semaphores (lavapipe): senders use portable timelines, "
                        "which only the host signals (ReadySignal::kGpu is refused for them)";
    }
    const std::string name = unique_name("fanout-gpu");
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 8), o);
    auto a = Subscriber::connect(Device::open(), name, 5s);
    auto b = Subscriber::connect(Device::open(), name, 5s);
    auto gate = dev->create_timeline(TimelineChoice::kVulkan, 0);
    for (uint64_t n = 1; n <= 3; ++n) {
        Sender::Frame f = sender->begin_frame();
        const std::vector<uint8_t> px = frame_bytes(*f.texture, n);
        f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
        // The producer's GPU signals its ready timeline once the gate opens, after end_frame.
        submit_gated_signal(*dev, *gate, n, *f.ready, n);
        sender->end_frame(f, ReadySignal::kGpu);  // the old code waited here, and timed out
        EXPECT_EQ(sender->ready()->value(), n - 1) << "end_frame returned before the GPU signalled";
        EXPECT_EQ(sender->frame(), n);
        EXPECT_THROW(a->next_frame(200ms), TimeoutError) << "announced, and not ready: the frame stays next";
        gate->signal(n);
        for (Subscriber* sub : {a.get(), b.get()}) {
            Subscriber::Frame got = sub->next_frame(5s);
            ASSERT_EQ(got.number(), n);
            EXPECT_GE(sub->ready()->value(), n) << "its own ready timeline is at the frame";
            std::vector<uint8_t> out(got.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
            got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size());
            EXPECT_EQ(out, px) << "frame " << n;
        }
    }
}

TEST(SenderGpuForwarding, AGpuThatNeverSignalsHangsNothing) {
    DEVICE_OR_SKIP(dev);
    if (!exports_timelines(*dev)) {
        GTEST_SKIP() << "this device cannot export timeline semaphores (lavapipe): ReadySignal::kGpu needs them";
    }
    const std::string name = unique_name("fanout-never");
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    o.send_timeout = 300ms;
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 8), o);
    auto sub = Subscriber::connect(Device::open(), name, 5s);
    Sender::Frame f = sender->begin_frame();
    sender->end_frame(f, ReadySignal::kGpu);  // and no GPU work signals frame 1, ever
    // The subscriber's wait is bounded by its own timeout, and the frame stays its next one.
    EXPECT_THROW(sub->next_frame(200ms), TimeoutError);
    EXPECT_THROW(sub->next_frame(200ms), TimeoutError);
    EXPECT_TRUE(sub->held().empty());
    // close() gives the GPU send_timeout, then signals the producer's timeline from the host so
    // that the forwarding submission completes and the device's queue can go idle.
    const auto t0 = std::chrono::steady_clock::now();
    sender->close();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_EQ(sender->ready()->value(), 1u);
    // The queue is free again: the producer's device finishes new work.
    auto tex = dev->create_shareable_texture(rgba8_descriptor(16, 8));
    const std::vector<uint8_t> px = frame_bytes(*tex, 9);
    tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
    // The frame announced before close() is then ready (its contents are whatever the GPU wrote),
    // and after it the subscriber learns that the sender closed.
    EXPECT_EQ(sub->next_frame(5s).number(), 1u);
    EXPECT_THROW(sub->next_frame(5s), PeerGoneError);
}

}  // namespace
}  // namespace geyser
