// PeerCopy: Vulkan on GPU A writes a slot, CUDA copies it to a slot that Vulkan on GPU B
// allocated, ordered by timelines on both; Vulkan on B reads it back. Every pair of GPUs with
// CUDA ordinals is tried, A == B included (one GPU: two Vulkan devices on it, so the destination
// is still another VkDevice's memory), by the peer path and by host staging. Skipped with the
// reason where CUDA or timeline-semaphore export is missing (lavapipe machines).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "geyser/geyser.hpp"
#include "device_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using geyser::cuda::CudaBuffer;
using geyser::cuda::CudaContext;
using geyser::cuda::CudaSemaphore;
using geyser::cuda::CudaTexture;
using geyser::cuda::PeerCopy;
using geyser::cuda::PeerCopyPath;
using geyser::cuda::PeerCopySync;
using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;

// A pattern that differs per frame, so that a stale slot cannot pass for a fresh one.
std::vector<uint8_t> frame_pattern(size_t n, uint64_t frame) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 2654435761u + frame * 97) >> 11);
    return v;
}

bool exports_timelines(const geyser::Device& d) {
    return (d.info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) != 0;
}

// One side of a copy: a Vulkan device, its CUDA context, and an exportable timeline on it.
struct Side {
    std::shared_ptr<geyser::Device> device;
    std::shared_ptr<CudaContext> cuda;
    std::shared_ptr<geyser::Semaphore> timeline;
    std::unique_ptr<CudaSemaphore> cuda_timeline;
};

Side open_side(int ordinal) {
    Side s;
    s.device = geyser::Device::open("cuda:" + std::to_string(ordinal));
    s.cuda = CudaContext::for_device(s.device);
    s.timeline = s.device->create_shared_semaphore(geyser::SemaphoreType::kTimeline, 0);
    s.cuda_timeline = CudaSemaphore::import(s.cuda, s.device->export_semaphore(*s.timeline));
    return s;
}

struct Pair {
    int a;
    int b;
    bool host_staging;
};

std::string name_of(const ::testing::TestParamInfo<Pair>& p) {
    return "cuda" + std::to_string(p.param.a) + "_to_cuda" + std::to_string(p.param.b) +
           (p.param.host_staging ? "_staged" : "_direct");
}

std::vector<Pair> pairs() {
    std::vector<Pair> out;
    int gpus = 1;  // with no CUDA, one case that skips with the reason
    if (geyser::cuda::cuda_status().available) gpus = geyser::cuda::cuda_status().device_count;
    for (int a = 0; a < gpus; ++a)
        for (int b = 0; b < gpus; ++b)
            if (a == 0 || b == 0)
                for (bool staged : {false, true}) out.push_back({a, b, staged});
    return out;
}

class PeerCopyTest : public ::testing::TestWithParam<Pair> {
protected:
    void SetUp() override {
        const auto status = geyser::cuda::cuda_status();
        if (!status.available) GTEST_SKIP() << "CUDA unavailable: " << status.reason;
        try {
            a_ = open_side(GetParam().a);
            b_ = open_side(GetParam().b);
        } catch (const geyser::VulkanUnavailableError& e) {
            GTEST_SKIP() << "a CUDA device of the pair has no Vulkan device: " << e.what();
        }
        if (!exports_timelines(*a_.device) || !exports_timelines(*b_.device)) {
            GTEST_SKIP() << "a device cannot export timeline semaphores";
        }
        geyser::cuda::PeerCopyOptions options;
        options.host_staging = GetParam().host_staging;
        engine_ = PeerCopy::create(a_.cuda, b_.cuda, options);
    }
    Side a_, b_;
    std::unique_ptr<PeerCopy> engine_;
};

TEST_P(PeerCopyTest, ChoosesAPathAndSaysWhy) {
    const Pair p = GetParam();
    if (p.host_staging) {
        EXPECT_EQ(engine_->path(), PeerCopyPath::kHostStaging);
        EXPECT_NE(engine_->reason().find("asked for"), std::string::npos) << engine_->reason();
    } else if (p.a == p.b) {
        EXPECT_EQ(engine_->path(), PeerCopyPath::kSameDevice);
    } else {
        const bool peer = geyser::gpu_topology().peer_access[p.a][p.b];
        EXPECT_EQ(engine_->path(), peer ? PeerCopyPath::kPeer : PeerCopyPath::kHostStaging) << engine_->reason();
    }
    EXPECT_FALSE(engine_->reason().empty());
    EXPECT_TRUE(engine_->idle());
}

TEST_P(PeerCopyTest, BuffersArriveInOrderVerifiedEveryFrame) {
    const size_t before = fd_count();
    {
        const size_t size = 1 << 20;
        auto src = a_.device->create_shareable_buffer(size);
        auto dst = b_.device->create_shareable_buffer(size);
        auto released = a_.device->create_shared_semaphore(geyser::SemaphoreType::kTimeline, 0);
        auto cuda_released = CudaSemaphore::import(a_.cuda, a_.device->export_semaphore(*released));
        auto csrc = CudaBuffer::import(a_.cuda, a_.device->export_buffer(*src));
        auto cdst = CudaBuffer::import(b_.cuda, b_.device->export_buffer(*dst));
        std::vector<uint8_t> back(size);
        for (uint64_t frame = 1; frame <= 8; ++frame) {
            const auto pattern = frame_pattern(size, frame);
            // A's slot is written only once the previous copy has read it (released), as a
            // producer would render into it again.
            if (frame > 1) released->wait(frame - 1, 10s);
            src->write(pattern.data(), pattern.size());
            PeerCopySync sync;
            sync.source_ready = a_.cuda_timeline.get();
            sync.source_ready_value = frame;
            sync.destination_ready = b_.cuda_timeline.get();
            sync.destination_ready_value = frame;
            sync.source_released = cuda_released.get();
            sync.source_released_value = frame;
            engine_->copy_buffer(*csrc, *cdst, sync);
            EXPECT_EQ(b_.timeline->value(), frame - 1) << "the copy must wait for A's timeline";
            a_.timeline->signal(frame);
            b_.timeline->wait(frame, 10s);
            dst->read(back.data(), back.size());
            ASSERT_EQ(back, pattern) << "frame " << frame;
        }
        engine_->wait_idle(10s);
        EXPECT_TRUE(engine_->idle());
        EXPECT_EQ(engine_->copies(), 8u);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST_P(PeerCopyTest, TexturesArriveVerifiedEveryFrame) {
    const uint32_t w = 67, h = 35;
    auto src = a_.device->create_shareable_texture(rgba8(w, h));
    auto dst = b_.device->create_shareable_texture(rgba8(w, h));
    auto csrc = CudaTexture::import(a_.cuda, a_.device->export_texture(*src));
    auto cdst = CudaTexture::import(b_.cuda, b_.device->export_texture(*dst));
    std::vector<uint8_t> back(size_t{w} * h * 4);
    for (uint64_t frame = 1; frame <= 4; ++frame) {
        const auto pattern = frame_pattern(back.size(), frame);
        src->upload(VK_IMAGE_ASPECT_COLOR_BIT, pattern.data(), pattern.size());
        PeerCopySync sync;
        sync.source_ready = a_.cuda_timeline.get();
        sync.source_ready_value = frame;
        sync.destination_ready = b_.cuda_timeline.get();
        sync.destination_ready_value = frame;
        engine_->copy_texture(*csrc, *cdst, sync);
        a_.timeline->signal(frame);
        b_.timeline->wait(frame, 10s);
        dst->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        ASSERT_EQ(back, pattern) << "frame " << frame;
    }
    engine_->wait_idle(10s);
}

TEST_P(PeerCopyTest, RefusesMismatchesBeforeEnqueuing) {
    auto small = b_.device->create_shareable_buffer(1000);
    auto big = a_.device->create_shareable_buffer(4096);
    auto csmall = CudaBuffer::import(b_.cuda, b_.device->export_buffer(*small));
    auto cbig = CudaBuffer::import(a_.cuda, a_.device->export_buffer(*big));
    EXPECT_THROW(engine_->copy_buffer(*cbig, *csmall, {}), geyser::InvalidArgumentError);
    auto t1 = a_.device->create_shareable_texture(rgba8(16, 16));
    auto t2 = b_.device->create_shareable_texture(rgba8(16, 8));
    auto c1 = CudaTexture::import(a_.cuda, a_.device->export_texture(*t1));
    auto c2 = CudaTexture::import(b_.cuda, b_.device->export_texture(*t2));
    EXPECT_THROW(engine_->copy_texture(*c1, *c2, {}), geyser::InvalidArgumentError);
    auto binary = a_.device->create_shared_semaphore(geyser::SemaphoreType::kBinary, 0);
    auto cbinary = CudaSemaphore::import(a_.cuda, a_.device->export_semaphore(*binary));
    PeerCopySync sync;
    sync.source_ready = cbinary.get();
    sync.source_ready_value = 5;
    auto same = a_.device->create_shareable_buffer(4096);
    auto csame = CudaBuffer::import(a_.cuda, a_.device->export_buffer(*same));
    if (GetParam().a != GetParam().b) {
        // A destination on the source GPU, or a destination timeline there, is the wrong GPU.
        EXPECT_THROW(engine_->copy_buffer(*cbig, *csame, {}), geyser::DeviceMismatchError);
        PeerCopySync wrong;
        wrong.destination_ready = a_.cuda_timeline.get();
        wrong.destination_ready_value = 1;
        auto cdst = CudaBuffer::import(b_.cuda, b_.device->export_buffer(*b_.device->create_shareable_buffer(4096)));
        EXPECT_THROW(engine_->copy_buffer(*cbig, *cdst, wrong), geyser::DeviceMismatchError);
    }
    auto cdst = CudaBuffer::import(b_.cuda, b_.device->export_buffer(*b_.device->create_shareable_buffer(4096)));
    EXPECT_THROW(engine_->copy_buffer(*cbig, *cdst, sync), geyser::InvalidArgumentError);
    EXPECT_EQ(engine_->copies(), 0u);
}

TEST_P(PeerCopyTest, WaitIdleIsBoundedWhenTheSourceIsNeverReady) {
    auto src = a_.device->create_shareable_buffer(4096);
    auto dst = b_.device->create_shareable_buffer(4096);
    auto csrc = CudaBuffer::import(a_.cuda, a_.device->export_buffer(*src));
    auto cdst = CudaBuffer::import(b_.cuda, b_.device->export_buffer(*dst));
    PeerCopySync sync;
    sync.source_ready = a_.cuda_timeline.get();
    sync.source_ready_value = 1;
    engine_->copy_buffer(*csrc, *cdst, sync);
    EXPECT_FALSE(engine_->idle());
    EXPECT_THROW(engine_->wait_idle(100ms), geyser::TimeoutError);
    a_.timeline->signal(1);  // let the queued copy finish before its buffers go
    engine_->wait_idle(10s);
}

INSTANTIATE_TEST_SUITE_P(Pairs, PeerCopyTest, ::testing::ValuesIn(pairs()), name_of);

}  // namespace
