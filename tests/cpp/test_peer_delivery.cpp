// Peer-copy delivery (SharePath::kPeerCopy, docs/streams.md "A consumer on another GPU"): the
// protocol-4 codecs, the producer's refusal without CUDA (the copy path then, every frame
// verified) and, where CUDA is usable, the whole path on one GPU through the test-only
// GEYSER_TEST_PEER_COPY_SAME_DEVICE=1 (PeerCopy's same_device copy between two VkDevices of the
// GPU) and, where CUDA sees a second GPU, consumers there on the real cross-GPU path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "device_support.hpp"
#include "geyser/cuda.hpp"
#include "geyser/error.hpp"
#include "geyser/explain.hpp"
#include "geyser/gpu_topology.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/subscriber.hpp"

using namespace std::chrono_literals;
using geyser::testing_support::rgba8;

namespace {

/// Sets GEYSER_TEST_PEER_COPY_SAME_DEVICE=1 for a scope (and clears the device-mismatch switch).
struct SameDevicePeerCopy {
    SameDevicePeerCopy() {
        ::unsetenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH");
        ::setenv("GEYSER_TEST_PEER_COPY_SAME_DEVICE", "1", 1);
    }
    ~SameDevicePeerCopy() { ::unsetenv("GEYSER_TEST_PEER_COPY_SAME_DEVICE"); }
};

std::vector<uint8_t> pixels(size_t n, uint64_t frame) {
    std::vector<uint8_t> px(n);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7 + frame * 13) & 0xFF);
    return px;
}

std::string name_of(const char* what) { return std::string("cpp-peer-") + what + "-" + std::to_string(::getpid()); }

// Publishes `count` frames and checks that `sub` receives each, pixels and number.
void publish_and_check(geyser::Sender& sender, geyser::Subscriber& sub, uint64_t first, uint64_t count) {
    const size_t n = 16 * 8 * 4;
    for (uint64_t f = first; f < first + count; ++f) {
        const std::vector<uint8_t> px = pixels(n, f);
        sender.publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
        geyser::Subscriber::Frame got = sub.next_frame(10s);
        ASSERT_EQ(got.number(), f);
        std::vector<uint8_t> back(n);
        got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        ASSERT_EQ(back, px) << "frame " << f;
    }
}

// Publishes frames 1..count of 16x8 RGBA and checks that each of `subs` receives every one,
// pixels and number (kLatest: each asks for it first).
void publish_to_all(geyser::Sender& sender, const std::vector<geyser::Subscriber*>& subs, uint64_t count) {
    const size_t n = 16 * 8 * 4;
    for (uint64_t f = 1; f <= count; ++f) {
        const std::vector<uint8_t> px = pixels(n, f);
        if (sender.mode() == geyser::DeliveryMode::kLatest) {
            for (auto* s : subs) s->request_frame();
            std::this_thread::sleep_for(20ms);  // the requests reach the service thread
        }
        sender.publish(VK_IMAGE_ASPECT_COLOR_BIT, px.data(), px.size());
        for (auto* s : subs) {
            geyser::Subscriber::Frame got = s->next_frame(10s);
            EXPECT_EQ(got.number(), f);
            std::vector<uint8_t> back(n);
            got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
            ASSERT_EQ(back, px) << "frame " << f << ", " << s->reason();
        }
    }
}

// Why the CUDA cases cannot run on `dev` here (no CUDA, or no exportable timeline, which peer
// copy needs); empty when they can.
std::string peer_copy_unavailable(geyser::Device& dev) {
    const auto status = geyser::cuda::cuda_status();
    if (!status.available) return "CUDA unavailable: " + status.reason + " (scripts/gpu/peerdelivery.sh)";
    try {
        dev.create_shared_timeline(geyser::TimelineChoice::kVulkan, 0);
    } catch (const geyser::UnsupportedOperationError& e) {
        return std::string("the device cannot export timeline semaphores, which peer copy needs: ") + e.what();
    }
    return {};
}

}  // namespace

TEST(PeerProtocol, HelloNamesAUuidExactlyForPeerCopy) {
    geyser::Hello h;
    h.pid = 7;
    h.client = "c";
    h.path = geyser::SharePath::kPeerCopy;
    for (size_t i = 0; i < h.device_uuid.size(); ++i) h.device_uuid[i] = static_cast<uint8_t>(i + 1);
    std::vector<uint8_t> bytes = geyser::encode_hello(h);
    const geyser::Hello back = geyser::decode_hello(bytes.data(), bytes.size());
    EXPECT_EQ(back.path, geyser::SharePath::kPeerCopy);
    EXPECT_EQ(back.device_uuid, h.device_uuid);
    // A peer-copy Hello without a UUID, and a copy Hello with one, are both refused.
    h.device_uuid = {};
    bytes = geyser::encode_hello(h);
    EXPECT_THROW(geyser::decode_hello(bytes.data(), bytes.size()), geyser::ProtocolError);
    h.path = geyser::SharePath::kCopy;
    h.device_uuid[3] = 1;
    bytes = geyser::encode_hello(h);
    EXPECT_THROW(geyser::decode_hello(bytes.data(), bytes.size()), geyser::ProtocolError);
    bytes.pop_back();  // a protocol-3 length
    EXPECT_THROW(geyser::decode_hello(bytes.data(), bytes.size()), geyser::ProtocolError);
}

TEST(PeerProtocol, PeerAnswerIsStrict) {
    geyser::PeerAnswer a{true, "frames are copied"};
    std::vector<uint8_t> bytes = geyser::encode_peer_answer(a);
    const geyser::PeerAnswer back = geyser::decode_peer_answer(bytes.data(), bytes.size());
    EXPECT_TRUE(back.accepted);
    EXPECT_EQ(back.message, a.message);
    bytes[0] = 2;
    EXPECT_THROW(geyser::decode_peer_answer(bytes.data(), bytes.size()), geyser::ProtocolError);
    const std::vector<uint8_t> empty{1, 0, 0, 0, 0};
    EXPECT_THROW(geyser::decode_peer_answer(empty.data(), empty.size()), geyser::ProtocolError);
    EXPECT_THROW(geyser::encode_peer_answer({false, ""}), geyser::InvalidArgumentError);
    bytes = geyser::encode_peer_answer(a);
    bytes.push_back(0);
    EXPECT_THROW(geyser::decode_peer_answer(bytes.data(), bytes.size()), geyser::ProtocolError);
}

TEST(PeerDelivery, ExplainAsksForPeerCopyOnlyForAnotherGpu) {
    geyser::Explanation e;
    EXPECT_FALSE(geyser::peer_copy_may_help(e));
    e.reasons.push_back({"device_uuid_mismatch", true, "m", "f"});
    EXPECT_TRUE(geyser::peer_copy_may_help(e));
    e.reasons.push_back({"forced_device_mismatch", true, "m", "f"});
    EXPECT_FALSE(geyser::peer_copy_may_help(e));
    SameDevicePeerCopy same;
    EXPECT_TRUE(geyser::peer_copy_may_help(geyser::Explanation{}));
}

TEST(PeerDelivery, WithoutCudaTheProducerRefusesAndTheCopyPathDeliversEveryFrame) {
    if (geyser::cuda::cuda_status().available) GTEST_SKIP() << "CUDA is available: the producer copies for real";
    DEVICE_OR_SKIP(dev);
    const std::string name = name_of("nocuda");
    auto sender = geyser::Sender::create(dev, name, rgba8(16, 8));
    SameDevicePeerCopy same;
    auto sub = geyser::Subscriber::connect(dev, name, 10s, "gtest");
    EXPECT_EQ(sub->path(), geyser::SharePath::kCopy);
    EXPECT_NE(sub->reason().find("peer copy is not possible: CUDA unavailable in the producer"), std::string::npos)
        << sub->reason();
    sender->wait_for_subscribers(1, 5s);
    publish_and_check(*sender, *sub, 1, 6);
    EXPECT_EQ(sender->stats().frames_peer_copied, 0u);
    EXPECT_EQ(sender->stats().frames_copied, 6u);
    // require keeps zero-copy here (peer copy is a copy); never keeps the copy path.
    EXPECT_EQ(geyser::Subscriber::connect(dev, name, 10s, "gtest", geyser::ZeroCopy::kRequire)->path(),
              geyser::SharePath::kZeroCopy);
}

TEST(PeerDelivery, OnOneGpuTheWholePathRunsAndCopiesOncePerGpu) {
    DEVICE_OR_SKIP(dev);
    if (const std::string why = peer_copy_unavailable(*dev); !why.empty()) GTEST_SKIP() << why;
    for (geyser::DeliveryMode mode : {geyser::DeliveryMode::kLossless, geyser::DeliveryMode::kLatest}) {
        const std::string name = name_of(geyser::to_string(mode));
        geyser::SenderOptions o;
        o.mode = mode;
        o.ring_size = 3;
        auto sender = geyser::Sender::create(dev, name, rgba8(16, 8), o);
        auto zero = geyser::Subscriber::connect(dev, name, 10s, "zero");
        EXPECT_EQ(zero->path(), geyser::SharePath::kZeroCopy);
        SameDevicePeerCopy same;
        auto a = geyser::Subscriber::connect(dev, name, 30s, "a");
        auto b = geyser::Subscriber::connect(dev, name, 30s, "b");
        for (auto* s : {a.get(), b.get()}) {
            EXPECT_EQ(s->path(), geyser::SharePath::kPeerCopy) << s->reason();
            EXPECT_NE(s->reason().find("copied GPU to GPU by CUDA (same_device"), std::string::npos) << s->reason();
            EXPECT_EQ(s->ready()->kind(), geyser::TimelineKind::kVulkan);
        }
        sender->wait_for_subscribers(3, 10s);
        publish_to_all(*sender, {a.get(), b.get(), zero.get()}, 8);
        // Once per frame for the GPU, however many subscribers are there.
        EXPECT_EQ(sender->stats().frames_peer_copied, 8u);
    }
}

TEST(PeerDelivery, HostStagingCanBeAskedFor) {
    DEVICE_OR_SKIP(dev);
    if (const std::string why = peer_copy_unavailable(*dev); !why.empty()) GTEST_SKIP() << why;
    const std::string name = name_of("staging");
    geyser::SenderOptions o;
    o.peer_copy_host_staging = true;
    auto sender = geyser::Sender::create(dev, name, rgba8(16, 8), o);
    SameDevicePeerCopy same;
    auto sub = geyser::Subscriber::connect(dev, name, 30s, "staging");
    EXPECT_EQ(sub->path(), geyser::SharePath::kPeerCopy) << sub->reason();
    EXPECT_NE(sub->reason().find("copied GPU to GPU by CUDA (host_staging: host staging was asked for ("),
              std::string::npos) << sub->reason();
    sender->wait_for_subscribers(1, 10s);
    publish_and_check(*sender, *sub, 1, 10);
    EXPECT_EQ(sender->stats().frames_peer_copied, 10u);
}

TEST(PeerDelivery, ConsumersOnTwoGpusGetOneCopyPerGpu) {
    // Producer on GPU A; a zero-copy consumer and a same_device peer-copy one on A; two peer-copy
    // consumers on GPU B (peer access or host staging, as cuDeviceCanAccessPeer says). Every frame
    // reaches each, whole, and each is copied once per GPU: twice, never once per consumer.
    DEVICE_OR_SKIP(dev);
    if (const std::string why = peer_copy_unavailable(*dev); !why.empty()) GTEST_SKIP() << why;
    const geyser::GpuTopology t = geyser::gpu_topology();
    int mine = -1;
    const geyser::GpuEntry* other = nullptr;
    for (const auto& g : t.gpus) {
        if (g.vulkan.device_uuid == dev->info().device_uuid) mine = g.cuda_ordinal;
    }
    for (const auto& g : t.gpus) {
        if (g.vulkan.device_uuid != dev->info().device_uuid && g.cuda_ordinal >= 0 && mine >= 0) other = &g;
    }
    if (other == nullptr) {
        GTEST_SKIP() << "one GPU that CUDA sees here (" << t.cuda_devices.size()
                     << " CUDA device(s)): this needs a second one (scripts/gpu/peerdelivery.sh on nvidia-h200-x2)";
    }
    const bool peer = t.peer_access.at(static_cast<size_t>(mine)).at(static_cast<size_t>(other->cuda_ordinal));
    const std::string path = std::string("copied GPU to GPU by CUDA (") + (peer ? "peer" : "host_staging") + ": ";
    auto dev_b = geyser::Device::open(geyser::uuid_to_hex(other->vulkan.device_uuid));
    for (geyser::DeliveryMode mode : {geyser::DeliveryMode::kLossless, geyser::DeliveryMode::kLatest}) {
        const std::string name = name_of((std::string("two-") + geyser::to_string(mode)).c_str());
        geyser::SenderOptions o;
        o.mode = mode;
        o.ring_size = 3;
        auto sender = geyser::Sender::create(dev, name, rgba8(16, 8), o);
        auto zero = geyser::Subscriber::connect(dev, name, 10s, "zero");
        EXPECT_EQ(zero->path(), geyser::SharePath::kZeroCopy);
        auto b1 = geyser::Subscriber::connect(dev_b, name, 30s, "b1");
        auto b2 = geyser::Subscriber::connect(dev_b, name, 30s, "b2");
        for (auto* s : {b1.get(), b2.get()}) {
            EXPECT_EQ(s->path(), geyser::SharePath::kPeerCopy) << s->reason();
            EXPECT_NE(s->reason().find(path), std::string::npos) << s->reason();
            EXPECT_EQ(s->ready()->kind(), geyser::TimelineKind::kVulkan);
        }
        std::unique_ptr<geyser::Subscriber> a;
        {
            SameDevicePeerCopy same;
            a = geyser::Subscriber::connect(dev, name, 30s, "a");
        }
        EXPECT_NE(a->reason().find("copied GPU to GPU by CUDA (same_device"), std::string::npos) << a->reason();
        sender->wait_for_subscribers(4, 10s);
        publish_to_all(*sender, {a.get(), b1.get(), b2.get(), zero.get()}, 8);
        EXPECT_EQ(sender->stats().frames_peer_copied, 16u);
    }
}

TEST(PeerDelivery, AFrameWhoseOwnGpuSignalIsLateHoldsUpBeginFrameAndRetiresNoGpu) {
    // A lossless ring of one. Frame 1 ends with ReadySignal::kGpu and its signal is late, so its
    // copy waits on the GPU. begin_frame for frame 2 needs the slot the copy has not read: that is
    // the producer's own signal's fault, not the other GPU's, so it times out as before and the
    // GPU stays in service: once the signal comes, frames go on and a new subscriber there gets
    // peer copy again.
    DEVICE_OR_SKIP(dev);
    if (const std::string why = peer_copy_unavailable(*dev); !why.empty()) GTEST_SKIP() << why;
    const std::string name = name_of("late-signal");
    geyser::SenderOptions o;
    o.ring_size = 1;
    o.send_timeout = 300ms;
    auto sender = geyser::Sender::create(dev, name, rgba8(16, 8), o);
    SameDevicePeerCopy same;
    auto sub = geyser::Subscriber::connect(dev, name, 30s, "first");
    ASSERT_EQ(sub->path(), geyser::SharePath::kPeerCopy) << sub->reason();
    sender->wait_for_subscribers(1, 10s);
    geyser::Sender::Frame first = sender->begin_frame(5s);
    const std::vector<uint8_t> px1 = pixels(16 * 8 * 4, 1);
    first.texture->upload(VK_IMAGE_ASPECT_COLOR_BIT, px1.data(), px1.size());
    sender->end_frame(first, geyser::ReadySignal::kGpu);  // its signal comes late
    sub.reset();  // nobody holds frame 1: only the copy's wait is left
    for (int i = 0; i < 200 && sender->subscribers() != 0; ++i) std::this_thread::sleep_for(10ms);
    try {
        sender->begin_frame(200ms);
        ADD_FAILURE() << "begin_frame wrote the slot a copy waiting for the producer's signal has not read";
    } catch (const geyser::TimeoutError& e) {
        EXPECT_NE(std::string(e.what()).find("its GPU signal has not come"), std::string::npos) << e.what();
    }
    sender->ready()->signal(1);  // the producer's late signal
    auto later = geyser::Subscriber::connect(dev, name, 30s, "later");
    EXPECT_EQ(later->path(), geyser::SharePath::kPeerCopy) << later->reason();
    {
        geyser::Subscriber::Frame got = later->next_frame(10s);  // a late joiner: the current frame
        EXPECT_EQ(got.number(), 1u);
        std::vector<uint8_t> back(px1.size());
        got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        EXPECT_EQ(back, px1);
    }
    publish_and_check(*sender, *later, 2, 3);
}
