// CudaSubscriber and CudaSender (geyser/cuda_frames.hpp) against a real Sender and Subscriber on
// two Devices of this process: a tensor stream and a texture stream written by a CUDA stream and
// read by another's GPU wait, every misuse with its exception, and no fd left behind. Skipped,
// saying why, where CUDA or timeline export is missing; what needs no CUDA runs everywhere.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "device_support.hpp"
#include "expect_throw.hpp"
#include "geyser/cuda_frames.hpp"
#include "geyser/geyser.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using namespace geyser;
using geyser::cuda::CudaBuffer;
using geyser::cuda::CudaContext;
using geyser::cuda::CudaSender;
using geyser::cuda::CudaSubscriber;
using geyser::cuda::CudaTexture;
using geyser::testing_support::contains;
using geyser::testing_support::expect_throw;
using geyser::testing_support::fd_count;

namespace {

constexpr uint32_t kW = 24, kH = 10;
constexpr uint64_t kPitch = kW * 4;

std::string unique_name(const char* what) { return std::string("cpp-cuda-frames-") + what + "-" + std::to_string(::getpid()); }

std::vector<uint8_t> pattern(uint64_t number) {
    std::vector<uint8_t> v(size_t{kW} * kH * 4);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 7 + number * 29);
    return v;
}

TextureDescriptor rgba8() { return testing_support::rgba8(kW, kH); }

// One tensor of one frame's image bytes, and a second one, so that offsets matter.
TensorLayout image_layout() {
    return TensorLayout({{"score", DType::kFloat32, {4}}, {"image", DType::kUint8, {kH, kW, 4}}});
}

SenderOptions vulkan_sync() {
    SenderOptions o;
    o.sync = TimelineChoice::kVulkan;
    return o;
}

// Two Devices (producer, consumer) with CUDA contexts for their GPU, or a skip saying what lacks.
struct Fixture {
    std::shared_ptr<Device> producer, consumer;
    std::shared_ptr<CudaContext> cuda, consumer_cuda;
    std::string skip;
};

Fixture open_fixture() {
    Fixture f;
    const cuda::CudaStatus status = cuda::cuda_status();
    if (!status.available) {
        f.skip = "CUDA unavailable: " + status.reason;
        return f;
    }
    try {
        f.producer = Device::open();
        f.consumer = Device::open();
    } catch (const VulkanUnavailableError& e) {
        f.skip = std::string("no Vulkan device: ") + e.what();
        return f;
    }
    if (!(f.producer->info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        f.skip = f.producer->info().name + " cannot export timeline semaphores, which a CUDA stream's wait needs";
        return f;
    }
    f.cuda = CudaContext::for_device(f.producer);
    f.consumer_cuda = CudaContext::for_device(f.consumer);
    return f;
}

#define FIXTURE_OR_SKIP(f)      \
    Fixture f = open_fixture(); \
    if (!f.skip.empty()) GTEST_SKIP() << f.skip

// Device memory holding `bytes`, through a Vulkan buffer written by the host.
struct Scratch {
    std::shared_ptr<Buffer> buffer;
    std::unique_ptr<CudaBuffer> cuda;
};

Scratch scratch(Device& device, const std::shared_ptr<CudaContext>& context, const std::vector<uint8_t>& bytes) {
    Scratch s;
    s.buffer = device.create_shareable_buffer(bytes.size());
    s.buffer->write(bytes.data(), bytes.size());
    s.cuda = CudaBuffer::import(context, device.export_buffer(*s.buffer));
    return s;
}

// A texture of `bytes` in CUDA, as a source the producer's stream copies from.
struct ScratchTexture {
    std::shared_ptr<Texture> texture;
    std::unique_ptr<CudaTexture> cuda;
};

ScratchTexture scratch_texture(Device& device, const std::shared_ptr<CudaContext>& context, const std::vector<uint8_t>& bytes) {
    ScratchTexture s;
    s.texture = device.create_shareable_texture(rgba8());
    s.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, bytes.data(), bytes.size());
    s.cuda = CudaTexture::import(context, device.export_texture(*s.texture));
    return s;
}

TEST(CudaFrames, RefusesWithoutACudaContext) {
    // No CUDA call is made: this runs on machines without CUDA too.
    DEVICE_OR_SKIP(dev);
    // Warm up: what the drivers open once per process (NVIDIA's Vulkan driver its device files
    // with the first device and sender, libcuda its own at cuInit) is open before the count.
    (void)cuda::cuda_status();
    {
        auto sender = Sender::create(dev, unique_name("warm-up"), image_layout());
        auto sub = Subscriber::connect(Device::open(), sender->name(), 5s);
    }
    const size_t before = fd_count();
    {
        auto sender = Sender::create(dev, unique_name("no-context"), image_layout());
        auto sub = Subscriber::connect(Device::open(), sender->name(), 5s);
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { (void)CudaSubscriber::create(nullptr, *sub); }),
                             "no CUDA context"));
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { (void)CudaSender::create(nullptr, *sender); }),
                             "no CUDA context"));
        const cuda::CudaStatus status = cuda::cuda_status();
        if (!status.available) {
            // Where the contexts come from says why CUDA cannot be used.
            const std::string msg = expect_throw<UnsupportedOperationError>([&] { (void)CudaContext::for_device(dev); });
            EXPECT_TRUE(contains(msg, status.reason)) << msg;
        }
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(CudaFrames, SignalAllAndWaitAllRefuseBadListsBeforeAnyCudaCall) {
    // The checks come before the driver is asked: this runs on machines without CUDA too.
    EXPECT_NO_THROW(cuda::CudaSemaphore::signal_all({}, 1, 0));  // nothing to signal: no call
    EXPECT_NO_THROW(cuda::CudaSemaphore::wait_all({}, {}, 0));
    EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([] { cuda::CudaSemaphore::signal_all({nullptr}, 1, 0); }),
                         "a null semaphore"));
    EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([] { cuda::CudaSemaphore::wait_all({nullptr}, {1}, 0); }),
                         "a null semaphore"));
    EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([] { cuda::CudaSemaphore::wait_all({nullptr}, {}, 0); }),
                         "1 semaphores and 0 values"));
}

TEST(CudaFrames, TensorStreamWrittenByAStreamAndReadAfterTheGpuWait) {
    FIXTURE_OR_SKIP(f);
    const TensorLayout layout = image_layout();
    const size_t image = layout.index("image");
    const size_t before = fd_count();
    {
        auto sender = Sender::create(f.producer, unique_name("tensors"), layout, vulkan_sync());
        auto sub = Subscriber::connect(f.consumer, sender->name(), 5s);
        auto produced = CudaSender::create(f.cuda, *sender);
        auto consumed = CudaSubscriber::create(f.consumer_cuda, *sub);
        ASSERT_EQ(produced->buffers().size(), 3u);
        ASSERT_EQ(consumed->buffers().size(), 3u);
        ASSERT_NE(consumed->ready(), nullptr);
        EXPECT_EQ(consumed->payload(), ResourceKind::kBuffer);
        EXPECT_TRUE(consumed->textures().empty());
        EXPECT_EQ(consumed->layout(), layout);
        // What the consumer's stream copies each frame's image into, to read it back on the host.
        ScratchTexture out = scratch_texture(*f.consumer, f.consumer_cuda, pattern(0));
        for (uint64_t n = 1; n <= 5; ++n) {
            // The producer's stream writes the slot's image in place (a copy from a texture of the
            // frame's bytes, standing in for a kernel) and signals the frame ready.
            ScratchTexture src = scratch_texture(*f.producer, f.cuda, pattern(n));
            Sender::Frame frame = sender->begin_frame(5s);
            const uint64_t slot_image = produced->device_pointer(frame, "image");
            EXPECT_EQ(slot_image, produced->buffer(frame)->device_pointer() + layout.offset(image));
            EXPECT_EQ(produced->device_pointer(frame, image), slot_image);
            src.cuda->copy_to_device(slot_image, kPitch, 0);
            produced->end_frame(frame, 0);
            EXPECT_EQ(sender->pending(), 0u);

            Subscriber::Frame got = sub->next_frame(5s, ReadyWait::kGpu);
            ASSERT_EQ(got.number(), n);
            EXPECT_EQ(got.ready_wait(), ReadyWait::kGpu);
            consumed->wait(got, 0);
            out.cuda->copy_from_device(consumed->device_pointer(got, "image"), kPitch, 0);
            EXPECT_EQ(consumed->device_pointer(got, image), consumed->buffer(got)->device_pointer() + layout.offset(image));
            consumed->release(got, 0);  // synchronises the stream: the copy is done
            EXPECT_TRUE(got.released());
            std::vector<uint8_t> back(pattern(n).size());
            out.texture->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
            EXPECT_EQ(back, pattern(n)) << "frame " << n;
        }
        EXPECT_EQ(sender->stats().ready_submissions, 0u)
            << "the producer's stream signals the subscriber's timeline: the Sender relays nothing";
        // A frame the host waited for: wait() enqueues nothing and the memory is readable at once.
        const std::vector<uint8_t> host_bytes(layout.size(), 0x5a);
        sender->publish(host_bytes.data(), host_bytes.size());
        Subscriber::Frame host = sub->next_frame(5s, ReadyWait::kHost);
        consumed->wait(host, 0);
        out.cuda->copy_from_device(consumed->device_pointer(host, "image"), kPitch, 0);
        consumed->release(host, 0);
        std::vector<uint8_t> back(pattern(0).size());
        out.texture->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        EXPECT_EQ(back, std::vector<uint8_t>(back.size(), 0x5a));
    }
    EXPECT_EQ(fd_count(), before) << "the CUDA imports of the ring and timeline must free their fds";
}

TEST(CudaFrames, TextureStreamWrittenByAStreamAndReadAfterTheGpuWait) {
    FIXTURE_OR_SKIP(f);
    const size_t before = fd_count();
    {
        auto sender = Sender::create(f.producer, unique_name("textures"), rgba8(), vulkan_sync());
        auto sub = Subscriber::connect(f.consumer, sender->name(), 5s);
        auto produced = CudaSender::create(f.cuda, *sender);
        auto consumed = CudaSubscriber::create(f.consumer_cuda, *sub);
        ASSERT_EQ(produced->textures().size(), 3u);
        ASSERT_EQ(consumed->textures().size(), 3u);
        EXPECT_EQ(consumed->payload(), ResourceKind::kTexture);
        EXPECT_TRUE(consumed->buffers().empty());
        Scratch out = scratch(*f.consumer, f.consumer_cuda, pattern(0));
        for (uint64_t n = 1; n <= 5; ++n) {
            Scratch src = scratch(*f.producer, f.cuda, pattern(n));
            Sender::Frame frame = sender->begin_frame(5s);
            const std::shared_ptr<CudaTexture>& slot = produced->texture(frame);
            EXPECT_EQ(slot->width(), kW);
            slot->copy_from_device(src.cuda->device_pointer(), kPitch, 0);
            produced->end_frame(frame, 0);

            Subscriber::Frame got = sub->next_frame(5s, ReadyWait::kGpu);
            ASSERT_EQ(got.number(), n);
            consumed->wait(got, 0);
            consumed->texture(got)->copy_to_device(out.cuda->device_pointer(), kPitch, 0);
            consumed->release(got, 0);
            std::vector<uint8_t> back(pattern(n).size());
            out.buffer->read(back.data(), back.size());
            EXPECT_EQ(back, pattern(n)) << "frame " << n;
        }
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(CudaFrames, TheProducersStreamSignalsSubscribersThatComeAndGoWithoutLeaking) {
    // CudaSender::end_frame signals each subscriber's own timeline from the stream (imported
    // into CUDA at its first frame): joins and leaves between frames, every frame verified, and
    // the imports of those gone freed.
    FIXTURE_OR_SKIP(f);
    const TensorLayout layout = image_layout();
    const size_t image = layout.index("image");
    SenderOptions o = vulkan_sync();
    o.ring_size = 4;
    // The fd count from round `steady` on: what leaving subscribers' imports held is freed as
    // the stream passes their last signals, not only when the CudaSender goes.
    auto run = [&](int rounds, int steady, std::vector<size_t>* fds) {
        auto sender = Sender::create(f.producer, unique_name("churn"), layout, o);
        auto produced = CudaSender::create(f.cuda, *sender);
        std::vector<std::unique_ptr<Subscriber>> subs;
        std::vector<std::unique_ptr<CudaSubscriber>> consumed;
        ScratchTexture out = scratch_texture(*f.consumer, f.consumer_cuda, pattern(0));
        for (int round = 0; round < rounds; ++round) {
            subs.push_back(Subscriber::connect(f.consumer, sender->name(), 5s));
            consumed.push_back(CudaSubscriber::create(f.consumer_cuda, *subs.back()));
            if (subs.size() > 3) {  // the oldest leaves, and the Sender notices
                consumed.erase(consumed.begin());
                subs.erase(subs.begin());
                const auto deadline = std::chrono::steady_clock::now() + 5s;
                while (sender->subscribers() > 3 && std::chrono::steady_clock::now() < deadline) {
                    std::this_thread::sleep_for(1ms);
                }
                ASSERT_EQ(sender->subscribers(), 3u);
            }
            const uint64_t n = sender->frame() + 1;
            ScratchTexture src = scratch_texture(*f.producer, f.cuda, pattern(n));
            Sender::Frame frame = sender->begin_frame(5s);
            src.cuda->copy_to_device(produced->device_pointer(frame, image), kPitch, 0);
            produced->end_frame(frame, 0);
            for (size_t i = 0; i < subs.size(); ++i) {
                // A joiner gets the current frame first (lossless), then this one.
                Subscriber::Frame got = subs[i]->next_frame(5s, ReadyWait::kGpu);
                while (got.number() < n) {
                    got.release();
                    got = subs[i]->next_frame(5s, ReadyWait::kGpu);
                }
                ASSERT_EQ(got.number(), n);
                // Bounded, so that a signal that never comes fails here instead of hanging the
                // stream's synchronisation in release().
                subs[i]->ready()->wait(n, 5s);
                consumed[i]->wait(got, 0);
                out.cuda->copy_from_device(consumed[i]->device_pointer(got, "image"), kPitch, 0);
                consumed[i]->release(got, 0);
                std::vector<uint8_t> back(pattern(n).size());
                out.texture->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
                EXPECT_EQ(back, pattern(n)) << "frame " << n << ", subscriber " << i;
            }
            if (fds != nullptr && round >= steady) fds->push_back(fd_count());
        }
    };
    run(2, 0, nullptr);  // what the drivers open once per process, before the count
    const size_t before = fd_count();
    std::vector<size_t> during;
    run(12, 5, &during);
    ASSERT_FALSE(during.empty());
    for (size_t i = 1; i < during.size(); ++i) {
        EXPECT_EQ(during[i], during[0]) << "round " << 5 + i << ": the fds of leaving subscribers' imports pile up";
    }
    EXPECT_EQ(fd_count(), before) << "the CUDA imports of the subscribers' timelines must free their fds";
}

TEST(CudaFrames, ALeavingSubscribersImportIsKeptWhileFramesAreQueuedAndFreedOnceTheyHaveRun) {
    // A GPU-bound producer's stream runs frames behind its CPU (a gate timeline holds it back
    // here). The import of a subscriber that left is not destroyed under those frames
    // (cuDestroyExternalSemaphore waits for the GPU: end_frame would stall behind them), and is
    // freed at the first end_frame after they have run.
    FIXTURE_OR_SKIP(f);
    SenderOptions o = vulkan_sync();
    o.ring_size = 4;
    auto sender = Sender::create(f.producer, unique_name("behind"), image_layout(), o);
    auto produced = CudaSender::create(f.cuda, *sender);
    auto stays = Subscriber::connect(f.consumer, sender->name(), 5s);
    auto leaves = Subscriber::connect(f.consumer, sender->name(), 5s);
    sender->wait_for_subscribers(2, 5s);
    auto gate = f.producer->create_shared_timeline(TimelineChoice::kVulkan, 0);
    auto gate_cuda = cuda::CudaSemaphore::import(f.cuda, f.producer->export_timeline(*gate).semaphore);

    Sender::Frame one = sender->begin_frame(5s);
    produced->end_frame(one, 0);  // both listed: the leaving one's last signal is frame 1
    for (auto* sub : {stays.get(), leaves.get()}) sub->next_frame(5s).release();  // host waits: it ran
    gate_cuda->wait(1, 0);  // the stream waits here until the test opens the gate
    leaves->ready()->signal(2);  // at frame 2 already: left out of its list, not dropped
    Sender::Frame two = sender->begin_frame(5s);
    produced->end_frame(two, 0);  // queued behind the gate, with its event
    leaves.reset();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (sender->subscribers() > 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(sender->subscribers(), 1u);
    Sender::Frame three = sender->begin_frame(5s);
    produced->end_frame(three, 0);  // returns at once: frames 2 and 3 are still queued
    EXPECT_EQ(produced->retired(), 1u) << "destroyed under queued frames";
    gate->signal(1);
    for (uint64_t n = 2; n <= 3; ++n) {
        Subscriber::Frame got = stays->next_frame(5s);  // the host waits: the stream has run it
        EXPECT_EQ(got.number(), n);
        got.release();
    }
    f.cuda->synchronize(0);  // and the events after the signals
    Sender::Frame four = sender->begin_frame(5s);
    produced->end_frame(four, 0);
    EXPECT_EQ(produced->retired(), 0u) << "not freed once every frame had run";
    stays->next_frame(5s).release();
}

TEST(CudaFrames, MisuseGetsSpecificErrorsWithoutLeaking) {
    FIXTURE_OR_SKIP(f);
    const TensorLayout layout = image_layout();
    const size_t before = fd_count();
    {
        auto sender = Sender::create(f.producer, unique_name("misuse"), layout, vulkan_sync());
        auto other_sender = Sender::create(f.producer, unique_name("misuse-other"), layout, vulkan_sync());
        auto sub = Subscriber::connect(f.consumer, sender->name(), 5s);
        auto other_sub = Subscriber::connect(f.consumer, sender->name(), 5s);
        auto produced = CudaSender::create(f.cuda, *sender);
        auto consumed = CudaSubscriber::create(f.consumer_cuda, *sub);

        // The producer side: a frame of another sender, a frame not pending, a texture of a tensor ring.
        Sender::Frame foreign = other_sender->begin_frame(5s);
        Sender::Frame frame = sender->begin_frame(5s);
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { (void)produced->buffer(foreign); }), "another Sender"));
        EXPECT_THROW(produced->end_frame(foreign, 0), InvalidArgumentError);
        EXPECT_TRUE(contains(expect_throw<UnsupportedOperationError>([&] { (void)produced->texture(frame); }), "tensor stream"));
        EXPECT_THROW((void)produced->device_pointer(frame, size_t{2}), InvalidArgumentError);
        EXPECT_THROW((void)produced->device_pointer(frame, "nope"), InvalidArgumentError);
        Sender::Frame later = frame;
        later.number += 1;
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { produced->end_frame(later, 0); }), "is pending"));
        produced->end_frame(frame, 0);
        EXPECT_THROW(produced->end_frame(frame, 0), InvalidArgumentError);  // ended already
        f.cuda->synchronize(0);
        EXPECT_EQ(sender->ready()->value(), 1u) << "a refused end_frame must signal nothing";
        other_sender->abandon_frame(foreign);

        // The consumer side.
        Subscriber::Frame got = sub->next_frame(5s, ReadyWait::kGpu);
        Subscriber::Frame theirs = other_sub->next_frame(5s, ReadyWait::kGpu);
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { consumed->wait(theirs, 0); }), "another subscriber"));
        EXPECT_THROW((void)consumed->buffer(theirs), InvalidArgumentError);
        EXPECT_THROW(consumed->release(theirs, 0), InvalidArgumentError);
        EXPECT_FALSE(theirs.released());
        EXPECT_THROW((void)consumed->texture(got), UnsupportedOperationError);
        EXPECT_THROW((void)consumed->device_pointer(got, size_t{9}), InvalidArgumentError);
        EXPECT_THROW((void)consumed->device_pointer(got, "nope"), InvalidArgumentError);
        consumed->wait(got, 0);
        consumed->release(got, 0);
        EXPECT_TRUE(contains(expect_throw<InvalidHandleError>([&] { consumed->wait(got, 0); }), "was released"));
        EXPECT_THROW((void)consumed->buffer(got), InvalidHandleError);
        EXPECT_THROW((void)consumed->device_pointer(got), InvalidHandleError);
        EXPECT_TRUE(contains(expect_throw<InvalidArgumentError>([&] { consumed->release(got, 0); }), "not held"));
        theirs.release();

        // A portable ready timeline: the producer's stream cannot signal it.
        SenderOptions portable;
        portable.sync = TimelineChoice::kPortable;
        auto host_sender = Sender::create(f.producer, unique_name("misuse-portable"), layout, portable);
        auto host_produced = CudaSender::create(f.cuda, *host_sender);
        EXPECT_EQ(host_produced->ready(), nullptr);
        Sender::Frame h = host_sender->begin_frame(5s);
        EXPECT_TRUE(contains(expect_throw<UnsupportedOperationError>([&] { host_produced->end_frame(h, 0); }),
                             "portable ready timeline"));
        host_sender->end_frame(h);  // still pending: the host path publishes it
        auto host_sub = Subscriber::connect(f.consumer, host_sender->name(), 5s);
        auto host_consumed = CudaSubscriber::create(f.consumer_cuda, *host_sub);
        EXPECT_EQ(host_consumed->ready(), nullptr);

        // A closed Sender has nothing to import.
        sender->close();
        EXPECT_THROW(CudaSender::create(f.cuda, *sender), InvalidHandleError);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(CudaFrames, RefusesAStreamOfAnotherGpu) {
    FIXTURE_OR_SKIP(f);
    if (cuda::cuda_status().device_count < 2) GTEST_SKIP() << "one CUDA device: no stream of another GPU to pass";
    std::shared_ptr<Device> second;
    try {
        second = Device::open("cuda:1");
    } catch (const Error& e) {
        GTEST_SKIP() << "CUDA device 1 has no Vulkan device: " << e.what();
    }
    if (second->info().device_uuid == f.producer->info().device_uuid) GTEST_SKIP() << "cuda:1 is the default device";
    auto engine = cuda::PeerCopy::create(f.cuda, CudaContext::for_device(second));
    const cuda::StreamHandle theirs = engine->destination_stream();  // a stream of the other GPU
    const size_t before = fd_count();
    {
        auto sender = Sender::create(f.producer, unique_name("other-gpu"), image_layout(), vulkan_sync());
        auto sub = Subscriber::connect(f.consumer, sender->name(), 5s);
        auto produced = CudaSender::create(f.cuda, *sender);
        auto consumed = CudaSubscriber::create(f.consumer_cuda, *sub);
        Sender::Frame frame = sender->begin_frame(5s);
        EXPECT_THROW(produced->end_frame(frame, theirs), DeviceMismatchError);
        EXPECT_EQ(sender->pending(), frame.number) << "a refused end_frame leaves the frame pending";
        produced->end_frame(frame, 0);
        Subscriber::Frame got = sub->next_frame(5s, ReadyWait::kGpu);
        EXPECT_THROW(consumed->wait(got, theirs), DeviceMismatchError);
        consumed->wait(got, 0);
        consumed->release(got, 0);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(CudaFrames, OutlivesItsSubscriberAndKeepsMappingsUnderQueuedWaits) {
    FIXTURE_OR_SKIP(f);
    const TensorLayout layout = image_layout();
    auto sender = Sender::create(f.producer, unique_name("lifetime"), layout, vulkan_sync());
    auto sub = Subscriber::connect(f.consumer, sender->name(), 5s);
    auto consumed = CudaSubscriber::create(f.consumer_cuda, *sub);
    auto produced = CudaSender::create(f.cuda, *sender);
    // A frame announced with a GPU signal that has not come yet: the consumer's stream waits.
    Sender::Frame frame = sender->begin_frame(5s);
    sender->end_frame(frame, ReadySignal::kGpu);  // nobody signals the producer's timeline yet
    Subscriber::Frame got = sub->next_frame(5s, ReadyWait::kGpu);
    std::shared_ptr<CudaBuffer> slot = consumed->buffer(got);
    consumed->wait(got, 0);
    EXPECT_FALSE(consumed->ready()->idle());
    consumed.reset();  // must not free the ring under the queued wait (nor hang)
    sub.reset();       // nor does the Subscriber's end touch the CUDA imports
    EXPECT_THROW((void)got.buffer(), InvalidHandleError);
    sender->ready()->signal(1);  // the producer's host signal reaches the consumer's timeline
    f.consumer_cuda->synchronize(0);
    EXPECT_NE(slot->device_pointer(), 0u);
    produced.reset();
}

}  // namespace
