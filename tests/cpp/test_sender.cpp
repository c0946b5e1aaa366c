// The C++ producer (geyser::Sender) against the C++ Subscriber: frames in order with the bytes
// written, late joiners, reaping, Goodbye, release timeouts, misuse, and the fork() guard. The
// Python suite runs the same Sender (python/geyser/sender.py wraps it) against Python
// subscribers in other processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "device_support.hpp"
#include "geyser/geyser.hpp"
#include "sender_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

using namespace geyser;
using geyser::testing_support::fd_count;
using geyser::testing_support::frame_bytes;
using geyser::testing_support::rgba8_descriptor;
using geyser::testing_support::unique_name;

namespace {

constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);

uint64_t publish_pattern(Sender& s) {
    const std::vector<uint8_t> px = frame_bytes(*s.ring()[0], s.frame() + 1);
    return s.publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
}

void expect_frame(Subscriber& sub, uint64_t number) {
    Subscriber::Frame f = sub.next_frame(5s);
    ASSERT_EQ(f.number(), number);
    std::vector<uint8_t> got(f.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    f.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, got.data(), got.size());
    EXPECT_EQ(got, frame_bytes(*f.texture(), number)) << "frame " << number;
    sub.release(f.number());
}

}  // namespace

TEST(Sender, PublishesFramesInOrderToSubscribers) {
    DEVICE_OR_SKIP(dev);
    auto consumer_dev = Device::open();
    const std::string name = unique_name("order");
    auto sender = Sender::create(dev, name, rgba8_descriptor(64, 48));
    EXPECT_EQ(sender->ring().size(), 3u);
    auto a = Subscriber::connect(consumer_dev, name, 5s, "a");
    auto b = Subscriber::connect(consumer_dev, name, 5s, "b");
    EXPECT_EQ(sender->subscribers(), 2u);
    EXPECT_EQ(a->info().name, name);
    EXPECT_EQ(a->info().texture_format, TextureFormat::kRgba8Unorm);
    EXPECT_EQ(a->info().sync_kind, sender->ready()->kind());
    for (uint64_t n = 1; n <= 10; ++n) {
        ASSERT_EQ(publish_pattern(*sender), n);
        expect_frame(*a, n);
        expect_frame(*b, n);
    }
    EXPECT_EQ(sender->frame(), 10u);
    EXPECT_EQ(query_sender(name, kSecond).current_frame, 10u);
}

TEST(Sender, LateJoinerGetsTheCurrentFrameAtOnce) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("late");
    auto sender = Sender::create(dev, name, rgba8_descriptor(32, 16));
    for (int i = 0; i < 5; ++i) publish_pattern(*sender);  // no subscriber: nobody to wait for
    auto late = Subscriber::connect(Device::open(), name, 5s);
    EXPECT_EQ(late->info().current_frame, 5u);
    EXPECT_EQ(late->info().mode, DeliveryMode::kLossless);
    expect_frame(*late, 5);
    publish_pattern(*sender);
    expect_frame(*late, 6);
    EXPECT_EQ(late->frames_dropped(), 0u);
}

TEST(Sender, CloseSendsGoodbyeAndRemovesTheSocket) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("goodbye");
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 16));
    auto sub = Subscriber::connect(Device::open(), name, 5s);
    publish_pattern(*sender);
    sender->close();
    sender->close();  // idempotent
    expect_frame(*sub, 1);  // announced before the Goodbye
    EXPECT_THROW(sub->next_frame(kSecond), PeerGoneError);
    EXPECT_THROW(query_sender(name, kSecond / 5), PeerGoneError);
    EXPECT_THROW(sender->begin_frame(), InvalidHandleError);
    const std::vector<uint8_t> px(16 * 16 * 4);
    EXPECT_THROW(sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size()), InvalidHandleError);
    // The imported ring outlives the producer.
    std::vector<uint8_t> got(px.size());
    sub->ring()[0]->download(VK_IMAGE_ASPECT_COLOR_BIT, got.data(), got.size());
}

TEST(Sender, SubscriberThatLeavesIsReapedAndNeverWaitedFor) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("reap");
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 16));
    {
        auto sub = Subscriber::connect(Device::open(), name, 5s);
        EXPECT_EQ(sender->subscribers(), 1u);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (sender->subscribers() != 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(sender->subscribers(), 0u);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 8; ++i) publish_pattern(*sender);  // more than the ring: nothing to wait for
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(Sender, SubscriberThatNeverReleasesIsDroppedAfterTheReleaseTimeoutAndToldSo) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("hold");
    SenderOptions o;
    o.ring_size = 2;
    o.release_timeout = kSecond / 5;
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 16), o);
    auto holder = Subscriber::connect(Device::open(), name, 5s);
    auto good = Subscriber::connect(Device::open(), name, 5s);
    for (uint64_t n = 1; n <= 2; ++n) {
        publish_pattern(*sender);
        expect_frame(*good, n);
    }
    Subscriber::Frame kept1 = holder->next_frame(kSecond);
    Subscriber::Frame kept2 = holder->next_frame(kSecond);
    EXPECT_THROW(holder->next_frame(kSecond), UnsupportedOperationError) << "it holds both slots of a ring of 2";
    for (uint64_t n = 3; n <= 4; ++n) {
        publish_pattern(*sender);  // frame 3 needs slot 0 back: `holder` is dropped then
        expect_frame(*good, n);
    }
    EXPECT_EQ(sender->subscribers(), 1u);
    EXPECT_EQ(sender->stats().subscribers_dropped, 1u);
    kept2.release();  // nobody to tell any more: forgotten quietly
    kept1.release();
    try {
        holder->next_frame(kSecond);
        ADD_FAILURE() << "the dropped subscriber got a frame";
    } catch (const SubscriptionDroppedError& e) {
        EXPECT_NE(std::string(e.what()).find("release timeout"), std::string::npos) << e.what();
    }
    bool logged = false;
    for (const SenderEvent& e : sender->take_events()) logged = logged || e.kind == SenderEvent::Kind::kDropped;
    EXPECT_TRUE(logged);
}

TEST(Sender, ReleaseChecksWhatIsHeldAndFramesReleaseThemselves) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("release");
    SenderOptions o;
    o.ring_size = 4;
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
    auto sub = Subscriber::connect(Device::open(), name, 5s);
    for (int i = 0; i < 3; ++i) publish_pattern(*sender);
    Subscriber::Frame a = sub->next_frame(kSecond);
    Subscriber::Frame b = sub->next_frame(kSecond);
    EXPECT_THROW(sub->release(99), InvalidArgumentError);
    sub->release(b.number());  // out of order
    EXPECT_TRUE(b.released());
    EXPECT_THROW(b.texture(), InvalidHandleError);
    EXPECT_THROW(b.release(), InvalidArgumentError) << "released twice";
    EXPECT_EQ(sub->held(), std::vector<uint64_t>{1});
    { Subscriber::Frame c = sub->next_frame(kSecond); }  // released when it goes
    EXPECT_EQ(sub->held(), std::vector<uint64_t>{1});
    a.release();
    EXPECT_TRUE(sub->held().empty());
    for (uint64_t n = 4; n <= 9; ++n) {  // the ring goes round: nothing is held
        publish_pattern(*sender);
        expect_frame(*sub, n);
    }
}

TEST(Sender, LatestModeNeverWaitsAndNeverOverwritesAHeldSlot) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("latest");
    SenderOptions o;
    o.mode = DeliveryMode::kLatest;
    o.ring_size = 3;
    auto sender = Sender::create(dev, name, rgba8_descriptor(16, 16), o);
    auto holder = Subscriber::connect(Device::open(), name, 5s);
    auto reader = Subscriber::connect(Device::open(), name, 5s);
    EXPECT_EQ(holder->info().mode, DeliveryMode::kLatest);
    EXPECT_EQ(holder->info().max_held, 1u);
    publish_pattern(*sender);
    Subscriber::Frame kept = holder->next_frame(kSecond);
    ASSERT_EQ(kept.number(), 1u);
    EXPECT_THROW(holder->next_frame(kSecond), UnsupportedOperationError) << "a latest ring of 3 lets it hold 1";
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) publish_pattern(*sender);  // nobody releases, nobody is waited for
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    std::vector<uint8_t> got(kept.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    kept.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, got.data(), got.size());
    EXPECT_EQ(got, frame_bytes(*kept.texture(), 1)) << "the held slot was written";
    expect_frame(*reader, 21);  // the newest, at once
    EXPECT_EQ(reader->frames_dropped(), 0u) << "counted from its first frame";
    for (int i = 0; i < 3; ++i) publish_pattern(*sender);
    expect_frame(*reader, 24);
    EXPECT_EQ(reader->frames_dropped(), 2u);
    EXPECT_EQ(sender->subscribers(), 2u);
}

TEST(Sender, LatestModeDropsOrSkipsAStalledSubscriber) {
    DEVICE_OR_SKIP(dev);
    for (StalledPolicy policy : {StalledPolicy::kDrop, StalledPolicy::kSkip}) {
        const std::string name = unique_name(policy == StalledPolicy::kDrop ? "stall-drop" : "stall-skip");
        SenderOptions o;
        o.mode = DeliveryMode::kLatest;
        o.stalled = policy;
        o.release_timeout = kSecond / 5;
        auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
        auto holder = Subscriber::connect(Device::open(), name, 5s);
        publish_pattern(*sender);
        Subscriber::Frame kept = holder->next_frame(kSecond);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        publish_pattern(*sender);
        const SenderStats st = sender->stats();
        if (policy == StalledPolicy::kDrop) {
            EXPECT_EQ(st.subscribers_dropped, 1u);
            kept.release();
            EXPECT_THROW(holder->next_frame(kSecond), SubscriptionDroppedError);
        } else {
            EXPECT_EQ(st.subscribers_dropped, 0u);
            EXPECT_EQ(st.stalls_skipped, 1u);
            kept.release();
            expect_frame(*holder, 2);
        }
    }
    SenderOptions bad;
    bad.stalled = StalledPolicy::kSkip;  // lossless
    EXPECT_THROW(Sender::create(dev, unique_name("skip-lossless"), rgba8_descriptor(8, 8), bad), InvalidArgumentError);
    bad.mode = DeliveryMode::kLatest;
    bad.ring_size = 2;
    EXPECT_THROW(Sender::create(dev, unique_name("latest-2"), rgba8_descriptor(8, 8), bad), InvalidArgumentError);
}

TEST(Sender, WaitForSubscribers) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("wait-subs");
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8));
    EXPECT_THROW(sender->wait_for_subscribers(1, 100ms), TimeoutError);
    std::thread joiner([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto sub = Subscriber::connect(Device::open(), name, 5s);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
    sender->wait_for_subscribers(1, 5s);
    EXPECT_GE(sender->subscribers(), 1u);
    joiner.join();
}

TEST(Sender, MisuseGetsSpecificErrors) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("misuse");
    EXPECT_THROW(Sender::create(dev, "bad/name", rgba8_descriptor(8, 8)), InvalidArgumentError);
    SenderOptions zero;
    zero.ring_size = 0;
    EXPECT_THROW(Sender::create(dev, name, rgba8_descriptor(8, 8), zero), InvalidArgumentError);
    EXPECT_THROW(Sender::create(nullptr, name, rgba8_descriptor(8, 8)), InvalidArgumentError);
    EXPECT_THROW(Sender::create(dev, name, rgba8_descriptor(0, 8)), InvalidArgumentError);

    const size_t fds = fd_count();
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8));
    EXPECT_THROW(Sender::create(dev, name, rgba8_descriptor(8, 8)), OsError);  // the name is taken
    {  // frames hold their texture: let them go before the fd count
        Sender::Frame f = sender->begin_frame();
        EXPECT_EQ(f.number, 1u);
        EXPECT_EQ(f.layout, f.texture->external_layout());
        EXPECT_EQ(f.ready, sender->ready().get());
        EXPECT_THROW(sender->begin_frame(), InvalidArgumentError);  // begun and not ended
        Sender::Frame other = f;
        other.number = 7;
        EXPECT_THROW(sender->end_frame(other), InvalidArgumentError);
        if (sender->ready()->kind() == TimelineKind::kPortable) {
            EXPECT_EQ(f.ready_semaphore, VK_NULL_HANDLE);
            EXPECT_THROW(sender->end_frame(f, ReadySignal::kGpu), InvalidArgumentError);
        }
        sender->end_frame(f);
        EXPECT_EQ(sender->ready()->value(), 1u);
        EXPECT_THROW(sender->end_frame(f), InvalidArgumentError);  // not pending any more
        Sender::Frame g = sender->begin_frame();
        sender->abandon_frame(g);
        Sender::Frame h = sender->begin_frame();
        EXPECT_EQ(h.number, 2u);  // the abandoned frame's number is used again
        sender->abandon_frame(h);
    }
    const std::vector<uint8_t> small(10);
    EXPECT_THROW(sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, small.data(), small.size()), InvalidArgumentError);
    EXPECT_EQ(sender->frame(), 1u);
    EXPECT_EQ(publish_pattern(*sender), 2u) << "a failed publish leaves no frame pending";
    sender.reset();
    EXPECT_EQ(fd_count(), fds) << "a closed sender leaves no fd behind";
}

// end_frame(ReadySignal::kGpu) forwarded by the device, without a host wait: test_timeline_fanout.cpp
// (SenderGpuForwarding), which records the producer's own GPU submission.

TEST(Sender, GpuWaitNeedsAVulkanReadyTimeline) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("gpuwait-portable");
    SenderOptions o;
    o.sync = TimelineChoice::kPortable;
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
    auto sub = Subscriber::connect(Device::open(), name, 5s);
    EXPECT_EQ(publish_pattern(*sender), 1u);
    EXPECT_THROW(sub->next_frame(5 * kSecond, ReadyWait::kGpu), UnsupportedOperationError);
    EXPECT_TRUE(sub->held().empty()) << "the refusal takes no frame";
    expect_frame(*sub, 1);  // the host path still works
}

TEST(Sender, GpuWaitReturnsTheAnnouncedFrameForTheGpuToWaitOn) {
    DEVICE_OR_SKIP(dev);
    if (!(dev->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << "this device cannot export timeline semaphores (lavapipe): a portable ready timeline is "
                        "waited on by the host only (GpuWaitNeedsAVulkanReadyTimeline)";
    }
    const std::string name = unique_name("gpuwait");
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
    auto consumer = Device::open();
    auto sub = Subscriber::connect(consumer, name, 5s);
    for (uint64_t n = 1; n <= 3; ++n) {
        // The producer's GPU writes the frame and signals its ready timeline; end_frame's queue
        // submission forwards that signal to each subscriber's own timeline (SenderGpuForwarding).
        Sender::Frame f = sender->begin_frame();
        const std::vector<uint8_t> px = frame_bytes(*f.texture, n);
        SubmitSync written;
        written.signal.push_back(SyncPoint(f.ready, n));
        f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size(), written);
        sender->end_frame(f, ReadySignal::kGpu);
        Subscriber::Frame got = sub->next_frame(5 * kSecond, ReadyWait::kGpu);
        ASSERT_EQ(got.number(), n);
        EXPECT_EQ(got.ready_wait(), ReadyWait::kGpu);
        ASSERT_EQ(got.ready().timeline, sub->ready().get());
        EXPECT_EQ(got.ready().value, n);
        std::vector<uint8_t> out(got.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
        SubmitSync sync;
        sync.wait.push_back(got.ready());  // the consumer's GPU waits; the host does not
        got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size(), sync);
        EXPECT_EQ(out, px) << "frame " << n;
    }
}

TEST(Sender, ReadyTargetsOfAPortableSenderAreNoneAndItsErrorsAreSpecific) {
    // What runs on every machine: a portable ready timeline is signalled by the host only, so no
    // GPU work can take the subscribers' signals over.
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("targets-portable");
    SenderOptions o;
    o.sync = TimelineChoice::kPortable;
    const size_t fds = fd_count();
    {
        auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
        auto sub = Subscriber::connect(Device::open(), name, 5s);
        Sender::Frame f = sender->begin_frame();
        Sender::ReadyTargets targets;
        targets.timelines.push_back(sender->ready());  // cleared by the call
        sender->ready_targets(f, targets);
        EXPECT_EQ(targets.number, f.number);
        EXPECT_TRUE(targets.timelines.empty());
        Sender::Frame other = f;
        other.number += 1;
        try {
            sender->ready_targets(other, targets);
            ADD_FAILURE() << "listed the targets of a frame not pending";
        } catch (const InvalidArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("ready_targets takes the frame begin_frame returned"), std::string::npos)
                << e.what();
        }
        EXPECT_THROW(sender->relay_ready(Sender::ReadyTargets{f.number, {}}), InvalidArgumentError)
            << "a frame not yet announced";
        Sender::ReadyTargets stale{f.number + 4, {}};
        try {
            sender->end_frame(f, stale);
            ADD_FAILURE() << "ended a frame with another frame's targets";
        } catch (const InvalidArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("are frame " + std::to_string(f.number + 4) + "'s"), std::string::npos)
                << e.what();
        }
        sender->ready_targets(f, targets);
        EXPECT_THROW(sender->end_frame(f, targets), InvalidArgumentError) << "kGpu needs a Vulkan ready timeline";
        EXPECT_EQ(sender->pending(), f.number) << "every refusal leaves the frame pending";
        const std::vector<uint8_t> px = frame_bytes(*f.texture, 1);
        f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
        sender->end_frame(f);
        expect_frame(*sub, 1);
        sender->close();
        EXPECT_THROW(sender->ready_targets(f, targets), InvalidHandleError);
    }
    EXPECT_EQ(fd_count(), fds);
}

TEST(Sender, AProducersOwnSubmissionSignalsEverySubscriberAndTheSenderRelaysNothing) {
    DEVICE_OR_SKIP(dev);
    if (!(dev->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << "this device cannot export timeline semaphores (lavapipe): its senders' timelines are portable "
                        "(ReadyTargetsOfAPortableSenderAreNoneAndItsErrorsAreSpecific)";
    }
    const std::string name = unique_name("targets");
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    o.ring_size = 4;
    o.send_timeout = 300ms;  // how long close() gives a frame's signal that never comes
    auto consumer = Device::open();
    // Warm-up of what the drivers open once per process, before the count.
    { auto warm = Subscriber::connect(consumer, Sender::create(dev, name + "-warm", rgba8_descriptor(8, 8), o)->name(), 5s); }
    const size_t fds = fd_count();
    {
        auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
        std::vector<std::unique_ptr<Subscriber>> subs;
        for (int i = 0; i < 3; ++i) subs.push_back(Subscriber::connect(consumer, name, 5s));
        // The producer's upload signals every listed timeline, then ready(): no queue submission
        // of the Sender's in between.
        // Odd frames are announced first and written after (what CudaSender does, from a CUDA
        // stream), even ones the other way round. A frame with a subscriber to relay is written
        // first: the relay waits on the device's queue, ahead of a later upload there.
        auto publish = [&](uint64_t n, const std::function<void(const Sender::Frame&)>& before_end = {}) {
            Sender::Frame f = sender->begin_frame(5s);
            Sender::ReadyTargets targets;
            sender->ready_targets(f, targets);
            if (before_end) before_end(f);  // after the list is made, before the frame is announced
            const std::vector<uint8_t> px = frame_bytes(*f.texture, n);
            SubmitSync written;
            for (const auto& t : targets.timelines) written.signal.push_back(SyncPoint(t.get(), n));
            written.signal.push_back(SyncPoint(f.ready, n));
            const bool announce_first = n % 2 == 1 && !before_end;
            if (announce_first) sender->end_frame(f, targets);
            f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size(), written);
            if (!announce_first) sender->end_frame(f, targets);
            return targets.timelines.size();
        };
        auto expect_gpu_frame = [&](Subscriber& sub, uint64_t n) {
            Subscriber::Frame got = sub.next_frame(5 * kSecond, ReadyWait::kGpu);
            ASSERT_EQ(got.number(), n);
            std::vector<uint8_t> out(got.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
            SubmitSync sync;
            sync.wait.push_back(got.ready());
            got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size(), sync);
            EXPECT_EQ(out, frame_bytes(*got.texture(), n)) << "frame " << n;
            got.release();
        };
        const uint64_t relays = sender->stats().ready_submissions;
        for (uint64_t n = 1; n <= 4; ++n) {
            EXPECT_EQ(publish(n), 3u);
            for (auto& sub : subs) expect_gpu_frame(*sub, n);
        }
        EXPECT_EQ(sender->stats().ready_submissions, relays) << "every subscriber was signalled by the producer's work";

        // One that joins after the list was made is relayed by the Sender; the others are not.
        std::unique_ptr<Subscriber> late;
        EXPECT_EQ(publish(5, [&](const Sender::Frame&) { late = Subscriber::connect(consumer, name, 5s); }), 3u);
        expect_frame(*late, 4);  // a late joiner's current frame
        expect_gpu_frame(*late, 5);
        for (auto& sub : subs) expect_gpu_frame(*sub, 5);
        subs.push_back(std::move(late));

        // A subscriber that pushed its own timeline past the next frame is dropped, told why; one
        // that put it at the frame is left out of the list and gets the frame all the same.
        subs[0]->ready()->signal(100);
        subs[1]->ready()->signal(6);
        EXPECT_EQ(publish(6), 2u);
        try {
            subs[0]->next_frame(5 * kSecond);
            ADD_FAILURE() << "the subscriber that wrote its own timeline got a frame";
        } catch (const SubscriptionDroppedError& e) {
            EXPECT_NE(std::string(e.what()).find("past frame 6"), std::string::npos) << e.what();
        }
        {
            // Its timeline was there before the upload: its own wait says nothing of the pixels.
            Subscriber::Frame got = subs[1]->next_frame(5 * kSecond, ReadyWait::kGpu);
            EXPECT_EQ(got.number(), 6u);
        }
        for (size_t i = 2; i < subs.size(); ++i) expect_gpu_frame(*subs[i], 6);
        EXPECT_EQ(sender->subscribers(), 3u);
        EXPECT_EQ(sender->stats().subscribers_dropped, 1u);
        subs.erase(subs.begin());

        // A relay of an earlier frame still waiting in the device's queue: the next frame is
        // listed with that frame to wait for on each timeline, so that the producer's signal lands
        // after the relay's.
        {
            Sender::Frame f = sender->begin_frame(5s);
            const std::vector<uint8_t> px = frame_bytes(*f.texture, f.number);
            f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
            sender->end_frame(f, ReadySignal::kGpu);  // the relay waits for ready() at f.number
            Sender::Frame g = sender->begin_frame(5s);
            Sender::ReadyTargets targets;
            sender->ready_targets(g, targets);
            ASSERT_EQ(targets.timelines.size(), 3u);
            ASSERT_EQ(targets.after, std::vector<uint64_t>(3, f.number)) << "each waits for the relay of frame " << f.number;
            f.ready->signal(f.number);  // from the host: the queue is free again
            const std::vector<uint8_t> next = frame_bytes(*g.texture, g.number);
            SubmitSync written;
            for (size_t i = 0; i < targets.timelines.size(); ++i) {
                written.wait.push_back(SyncPoint(targets.timelines[i].get(), targets.after[i]));
                written.signal.push_back(SyncPoint(targets.timelines[i].get(), g.number));
            }
            written.signal.push_back(SyncPoint(g.ready, g.number));
            g.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, next.data(), next.size(), written);
            sender->end_frame(g, targets);
            for (auto& sub : subs) {
                expect_gpu_frame(*sub, f.number);
                expect_gpu_frame(*sub, g.number);
            }
        }

        // A caller whose own signal of the subscribers failed after announcing hands them back:
        // the Sender's queue signals them once ready() is there.
        Sender::ReadyTargets handed_back;
        {
            Sender::Frame f = sender->begin_frame(5s);
            Sender::ReadyTargets& targets = handed_back;
            sender->ready_targets(f, targets);
            ASSERT_EQ(targets.timelines.size(), 3u);
            sender->end_frame(f, targets);
            Sender::ReadyTargets unannounced{f.number + 1, targets.timelines};
            EXPECT_THROW(sender->relay_ready(unannounced), InvalidArgumentError);
            const std::vector<uint8_t> px = frame_bytes(*f.texture, f.number);
            SubmitSync written;
            written.signal.push_back(SyncPoint(f.ready, f.number));  // only the producer's
            f.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size(), written);
            sender->relay_ready(targets);
            for (auto& sub : subs) expect_gpu_frame(*sub, f.number);
        }
        // Handed back late, once a later frame has reached them: left alone, nobody dropped.
        const uint64_t later = sender->frame() + 1;
        EXPECT_EQ(publish(later), 3u);
        for (auto& sub : subs) expect_gpu_frame(*sub, later);
        sender->relay_ready(handed_back);
        EXPECT_EQ(sender->subscribers(), 3u);
        EXPECT_EQ(sender->stats().subscribers_dropped, 1u);
        for (auto& sub : subs) EXPECT_EQ(sub->ready()->value(), later);
        // One whose signal never comes: close() signals what it announced, after send_timeout, so
        // that no subscriber's GPU waits for good.
        {
            Sender::Frame f = sender->begin_frame(5s);
            Sender::ReadyTargets targets;
            sender->ready_targets(f, targets);
            sender->end_frame(f, targets);
            for (auto& sub : subs) EXPECT_LT(sub->ready()->value(), f.number);
            sender->close();
            for (auto& sub : subs) EXPECT_EQ(sub->ready()->value(), f.number);
            EXPECT_EQ(sender->ready()->value(), f.number);
        }
    }
    EXPECT_EQ(fd_count(), fds) << "the dropped subscriber's timeline and every other are freed";
}

TEST(Sender, CloseSignalsWhatTheProducerAnnouncedForItsOwnWorkAndDidNotSignal) {
    DEVICE_OR_SKIP(dev);
    if (!(dev->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << "this device cannot export timeline semaphores (lavapipe): its senders' timelines are portable";
    }
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    o.send_timeout = 200ms;
    auto consumer = Device::open();
    // Nothing signalled at all, and only the producer's own timeline: either way close() leaves
    // no subscriber's timeline short of the frame it was announced, so no GPU waits for good.
    for (const bool ready_only : {false, true}) {
        const std::string name = unique_name(ready_only ? "close-ready-only" : "close-nothing");
        auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
        std::vector<std::unique_ptr<Subscriber>> subs;
        for (int i = 0; i < 2; ++i) subs.push_back(Subscriber::connect(consumer, name, 5s));
        Sender::Frame f = sender->begin_frame(5s);
        Sender::ReadyTargets targets;
        sender->ready_targets(f, targets);
        ASSERT_EQ(targets.timelines.size(), 2u);
        sender->end_frame(f, targets);
        if (ready_only) f.ready->signal(f.number);
        for (auto& sub : subs) EXPECT_LT(sub->ready()->value(), f.number);
        sender->close();
        for (auto& sub : subs) EXPECT_EQ(sub->ready()->value(), f.number) << (ready_only ? "ready only" : "nothing");
    }
}

TEST(Sender, ForkedChildCannotPublishAndLeavesTheParentsSubscribersAlone) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("fork");
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8));
    auto sub = Subscriber::connect(Device::open(), name, 5s);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int code = 0;
        try {
            sender->begin_frame();
            code = 1;
        } catch (const UnsupportedOperationError& e) {
            if (std::string(e.what()).find("fork()") == std::string::npos) code = 2;
        } catch (...) {
            code = 3;
        }
        sender->close();  // drops the child's copies only
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the child published; 2: the refusal did not name fork(); 3: other error";
    EXPECT_EQ(sender->subscribers(), 1u);
    publish_pattern(*sender);
    expect_frame(*sub, 1);
}

TEST(Sender, CloseFromAnotherThreadEndsAWaitingBeginFrame) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("close-wait");
    SenderOptions o;
    o.ring_size = 1;
    o.release_timeout = 5 * kSecond;
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
    auto holder = Subscriber::connect(Device::open(), name, 5s);  // never releases
    publish_pattern(*sender);
    Subscriber::Frame kept = holder->next_frame(5 * kSecond);
    std::string error;
    std::thread waiter([&] {
        try {
            sender->begin_frame();  // waits for `holder` to release frame 1
        } catch (const InvalidHandleError& e) {
            error = e.what();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto t0 = std::chrono::steady_clock::now();
    sender->close();
    waiter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    EXPECT_NE(error.find("closed"), std::string::npos) << "the waiting begin_frame was not refused: '" << error << "'";
    EXPECT_EQ(sender->subscribers(), 0u);  // still safe to ask after close()
}

TEST(Sender, CloseDoesNotWaitOutASilentHandshake) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("silent");
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8));
    Channel silent = Channel::connect(sender_socket_path(name), 1s);  // says no Hello
    std::this_thread::sleep_for(std::chrono::milliseconds(200));      // the accept thread is in its handshake
    const auto t0 = std::chrono::steady_clock::now();
    sender->close();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "close() waited for the Hello";
}

TEST(Sender, SilentConnectionsDelayNoOtherHandshake) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("two-silent");
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8));  // handshake_timeout: 5 s
    Channel a = Channel::connect(sender_socket_path(name), kSecond);
    Channel b = Channel::connect(sender_socket_path(name), kSecond);
    const auto t0 = std::chrono::steady_clock::now();
    auto sub = Subscriber::connect(Device::open(), name, 4 * kSecond);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "waited for the silent peers";
    publish_pattern(*sender);
    expect_frame(*sub, 1);
}

TEST(Sender, OneProcessIsCappedOnSubscriptions) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("cap");
    SenderOptions o;
    o.max_subscriptions_per_peer = 1;
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), o);
    auto first = Subscriber::connect(Device::open(), name, 5 * kSecond);
    try {
        Subscriber::connect(Device::open(), name, 5 * kSecond);
        FAIL() << "a second subscription from this process was accepted";
    } catch (const SubscriptionDroppedError& e) {
        EXPECT_NE(std::string(e.what()).find("max_subscriptions_per_peer"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sender->subscribers(), 1u);
    o.max_subscriptions_per_peer = 0;
    EXPECT_THROW(Sender::create(dev, unique_name("cap0"), rgba8_descriptor(8, 8), o), InvalidArgumentError);
}

// Issue #17: every timeout of the C++ API is a std::chrono::nanoseconds, so chrono literals and
// durations of any unit pass straight in; a negative one is refused, and an infinite one is
// kInfiniteTimeout.
TEST(Sender, TimeoutsTakeChronoDurations) {
    DEVICE_OR_SKIP(dev);
    const std::string name = unique_name("chrono");
    SenderOptions options;
    options.release_timeout = std::chrono::milliseconds(500);
    auto sender = Sender::create(dev, name, rgba8_descriptor(8, 8), options);
    auto sub = Subscriber::connect(dev, name, 2s);
    sender->wait_for_subscribers(1, std::chrono::seconds(2));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(sub->next_frame(50ms), TimeoutError) << "nothing was published";
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_THROW(sub->next_frame(-1ms), InvalidArgumentError);
    EXPECT_THROW(sender->wait_for_subscribers(2, -1s), InvalidArgumentError);
    ASSERT_EQ(publish_pattern(*sender), 1u);
    expect_frame(*sub, 1);
    EXPECT_NO_THROW(query_sender(name, kInfiniteTimeout));
    SenderOptions negative;
    negative.handshake_timeout = -1s;
    EXPECT_THROW(Sender::create(dev, unique_name("chrono-negative"), rgba8_descriptor(8, 8), negative),
                 InvalidArgumentError);
}
