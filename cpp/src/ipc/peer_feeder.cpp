// The producer's side of peer-copy delivery (ipc/peer_feeder.hpp).
#include "ipc/peer_feeder.hpp"

#include <algorithm>
#include <thread>

#include "deadline.hpp"
#include "fault.hpp"
#include "geyser/cuda.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"
#include "geyser/memory.hpp"
#include "geyser/peer_copy.hpp"
#include "geyser/timeline.hpp"
#include "ipc/sender_ring_guard.hpp"
#include "sync/timeline_fanout.hpp"

namespace geyser {

namespace {

// How long a copy may take to read the producer's slot once its frame is ready before its GPU is
// blamed (wait_source_free): a frame's copy takes well under 2 ms even through host memory at 4K.
constexpr uint64_t kCopyGraceNs = 1'000'000'000;

// How long create()'s test copies may take (two frames; a GPU that cannot copy one in this long
// is not one to copy to).
constexpr std::chrono::seconds kTestCopyTimeout{10};

// Why create() cannot go on: the sentence the subscriber is told.
[[noreturn]] void not_possible(const std::string& why) { throw UnsupportedOperationError(why); }

// One step of create(): its geyser::Error becomes "<what>: <the error>".
template <typename F>
auto step(const std::string& what, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        not_possible(what + ": " + e.what());
    }
}

}  // namespace

std::unique_ptr<PeerFeeder> PeerFeeder::create(const Source& source, const Uuid& destination) {
    const cuda::CudaStatus status = cuda::cuda_status();
    if (!status.available) not_possible("CUDA unavailable in the producer (" + status.reason + ")");
    if (source.ready == nullptr || source.ready->kind() != TimelineKind::kVulkan) {
        not_possible("the producer's ready timeline is portable (its device cannot export timeline semaphores), and "
                     "CUDA waits only on Vulkan timelines");
    }
    std::unique_ptr<PeerFeeder> f(new PeerFeeder());
    f->source_device_ = source.device;
    const std::string gpu = uuid_to_hex(destination);
    f->device_ = step("the producer has no Vulkan device with UUID " + gpu,
                      [&] { return Device::open(gpu); });
    if (f->device_->info().device_uuid != destination) {
        not_possible("the producer's Vulkan device for " + gpu + " is another GPU (" +
                     uuid_to_hex(f->device_->info().device_uuid) + ")");
    }
    f->cuda_a_ = step("the producer's own GPU is not a CUDA device",
                      [&] { return cuda::CudaContext::for_device(source.device); });
    f->cuda_b_ = step("GPU " + gpu + " is not a CUDA device in the producer",
                      [&] { return cuda::CudaContext::for_device(f->device_); });
    const size_t n = source.textures != nullptr && !source.textures->empty() ? source.textures->size()
                                                                             : source.buffers->size();
    // The ring on B, slot for slot the producer's, and both in CUDA.
    step("the ring cannot be made on GPU " + gpu + " and imported into CUDA", [&] {
        if (source.textures != nullptr && !source.textures->empty()) {
            for (size_t i = 0; i < n; ++i) {
                Texture& a = *(*source.textures)[i];
                f->textures_.push_back(f->device_->create_shareable_texture(source.descriptor));
                if (f->textures_.back()->vk_format() != a.vk_format()) {
                    throw UnsupportedFormatError("GPU " + gpu + " shares the format as VkFormat " +
                                                 std::to_string(f->textures_.back()->vk_format()) + ", the producer's as " +
                                                 std::to_string(a.vk_format()));
                }
                const MemoryHandle ha = export_ring_texture(*source.device, a);
                f->source_textures_.push_back(cuda::CudaTexture::import(f->cuda_a_, ha));
                const MemoryHandle hb = f->device_->export_texture(*f->textures_.back());
                f->destination_textures_.push_back(cuda::CudaTexture::import(f->cuda_b_, hb));
            }
        } else {
            for (size_t i = 0; i < n; ++i) {
                Buffer& a = *(*source.buffers)[i];
                f->buffers_.push_back(f->device_->create_shareable_buffer(a.size(), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT));
                const MemoryHandle ha = export_ring_buffer(*source.device, a);
                f->source_buffers_.push_back(cuda::CudaBuffer::import(f->cuda_a_, ha));
                const MemoryHandle hb = f->device_->export_buffer(*f->buffers_.back());
                f->destination_buffers_.push_back(cuda::CudaBuffer::import(f->cuda_b_, hb));
            }
        }
        return 0;
    });
    step("the timelines cannot be shared with CUDA", [&] {
        f->ready_ = f->device_->create_shared_timeline(TimelineChoice::kVulkan, 0);
        const TimelineHandle b = f->device_->export_timeline(*f->ready_);
        f->destination_ready_ = cuda::CudaSemaphore::import(f->cuda_b_, b.semaphore);
        const TimelineHandle a = source.device->export_timeline(*source.ready);
        f->source_ready_ = cuda::CudaSemaphore::import(f->cuda_a_, a.semaphore);
        f->released_ = source.device->create_shared_timeline(TimelineChoice::kVulkan, 0);
        const TimelineHandle r = source.device->export_timeline(*f->released_);
        f->source_released_ = cuda::CudaSemaphore::import(f->cuda_a_, r.semaphore);
        return 0;
    });
    // Two test copies of slot 0 (nothing waits on them, nothing is handed out yet) try the copy
    // with these very rings before any subscriber relies on it, and make host staging's two pinned
    // buffers here, on the builder's thread, rather than in the first end_frame. A direct copy
    // that CUDA refuses between these GPUs falls back to host staging. Test copies that do not
    // finish (a hung GPU) leave the whole feeder allocated, since they may still write its ring.
    auto make_engine = [&](bool host_staging) {
        cuda::PeerCopyOptions options;
        options.host_staging = host_staging;
        std::unique_ptr<cuda::PeerCopy> e = cuda::PeerCopy::create(f->cuda_a_, f->cuda_b_, options);
        auto settle = [&] {
            try {
                e->wait_idle(kTestCopyTimeout);
            } catch (const TimeoutError&) {
                (void)e.release();
                (void)f.release();
                not_possible("a test copy to GPU " + gpu + " did not finish within " +
                             std::to_string(kTestCopyTimeout.count()) + " s");
            }
        };
        try {
            for (int i = 0; i < 2; ++i) {
                if (!f->destination_textures_.empty()) {
                    e->copy_texture(*f->source_textures_[0], *f->destination_textures_[0], {});
                } else {
                    e->copy_buffer(*f->source_buffers_[0], *f->destination_buffers_[0], {});
                }
            }
        } catch (const CudaError&) {
            try {
                settle();  // a first copy may be queued still
            } catch (const CudaError&) {
                // The GPU's error too: nothing more runs in that context.
            }
            throw;
        }
        settle();
        return e;
    };
    // Only CUDA's refusals are reworded; a hung test copy says so itself (not_possible above).
    std::string refused;
    if (!source.host_staging) {
        try {
            f->engine_ = make_engine(false);
        } catch (const CudaError& e) {
            refused = e.what();
        }
    }
    if (!f->engine_) {
        try {
            f->engine_ = make_engine(true);
        } catch (const CudaError& e) {
            not_possible(refused.empty() ? std::string("CUDA refused the copy engine: ") + e.what()
                                         : "CUDA refused a direct copy (" + refused +
                                               "), and one through host memory too: " + e.what());
        }
    }
    f->fanout_ = std::make_unique<TimelineFanout>(f->device_);
    step("the ready fan-out on GPU " + gpu + " cannot be prepared", [&] {
        f->fanout_->prepare();
        return 0;
    });
    f->frame_in_slot_.assign(n, 0);
    f->copied_from_ = std::make_unique<std::atomic<uint64_t>[]>(n);
    for (size_t i = 0; i < n; ++i) f->copied_from_[i].store(0);
    f->description_ = "the producer is on GPU " + uuid_to_hex(source.device->info().device_uuid) +
                      "; frames are copied GPU to GPU by CUDA (" + cuda::peer_copy_path_name(f->engine_->path()) +
                      ": " + (refused.empty() ? f->engine_->reason() : "a test copy without host staging failed: " + refused) +
                      ") into a ring on this GPU";
    return f;
}

PeerFeeder::~PeerFeeder() {
    // The ring on B is handed to subscribers as the producer's own is: restore what a subscriber
    // may have changed in its files before the driver frees it (sender_ring_guard.hpp).
    if (device_) {
        restore_ring_before_free(*device_, textures_);
        restore_ring_before_free(*device_, buffers_);
    }
}

bool PeerFeeder::copy(uint32_t slot, uint64_t number) {
    if (frame_in_slot_.at(slot) == number) return false;
    cuda::PeerCopySync sync;
    sync.source_ready = source_ready_.get();
    sync.source_ready_value = number;
    sync.destination_ready = destination_ready_.get();
    sync.destination_ready_value = number;
    sync.source_released = source_released_.get();
    sync.source_released_value = number;
    // Marked empty first: a copy CUDA refused leaves no frame number on the slot.
    frame_in_slot_[slot] = 0;
    if (fault::injected("peer_copy")) throw CudaError(1, "CUDA_ERROR_INVALID_VALUE", "cuMemcpy3DPeerAsync", "injected");
    if (!destination_textures_.empty()) {
        engine_->copy_texture(*source_textures_[slot], *destination_textures_[slot], sync);
    } else {
        engine_->copy_buffer(*source_buffers_[slot], *destination_buffers_[slot], sync);
    }
    frame_in_slot_[slot] = number;
    copied_from_[slot].store(number);
    highest_source_wait_ = std::max(highest_source_wait_, number);
    ++copies_;
    return true;
}

bool PeerFeeder::wait_source_free(uint32_t slot, uint64_t deadline, Timeline& source_ready, std::string& why) const {
    const uint64_t want = copied_from_[slot].load();
    if (want == 0) return true;
    if (fault::injected("peer_copy_unread")) {  // tests: as a hung GPU's copy would
        why = "the peer copy of frame " + std::to_string(want) + " has not read the producer's slot (injected)";
        return false;
    }
    const uint64_t start = monotonic_now_ns();
    uint64_t ready_since = 0;  // when the frame was first seen ready (0: not yet)
    uint64_t pause_ns = 20'000;
    while (released_->value() < want) {
        const uint64_t now = monotonic_now_ns();
        if (ready_since == 0 && source_ready.value() >= want) ready_since = now;
        // The GPU is blamed only once the frame has been ready for kCopyGrace: a frame whose kGpu
        // signal came just before the deadline (or before another GPU's wait used it up) still
        // gets its copy's time.
        const uint64_t until = ready_since != 0 ? std::max(deadline, ready_since + kCopyGraceNs) : deadline;
        const uint64_t left = until > now ? until - now : 0;
        if (left == 0) {
            const std::string what = "slot " + std::to_string(slot) + " cannot be written: the peer copy of frame " +
                                     std::to_string(want) + " to GPU " + uuid_to_hex(device_->info().device_uuid) +
                                     " has not read it after " + std::to_string((now - start) / 1'000'000) + " ms";
            if (ready_since == 0) {
                // Not the GPU's fault: the copy waits for the producer's own signal of that frame.
                throw TimeoutError(what + ", since frame " + std::to_string(want) + " is not ready: it was ended with "
                                   "ReadySignal::kGpu and its GPU signal has not come");
            }
            why = what + ", though the frame was ready";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::min({pause_ns, interrupt_slice_ns(left), left})));
        check_interrupt();
        pause_ns = std::min<uint64_t>(pause_ns * 2, 1'000'000);
    }
    return true;
}

bool PeerFeeder::drain(Timeline& source_ready, std::chrono::nanoseconds timeout) {
    bool idle = true;
    try {
        engine_->wait_idle(timeout);
    } catch (const TimeoutError&) {
        // A copy waits on the GPU for a kGpu frame that never came: satisfy it from the host, so
        // that both GPUs' queues can drain before anything they use goes.
        try {
            if (source_ready.value() < highest_source_wait_) source_ready.signal(highest_source_wait_);
            engine_->wait_idle(timeout);
        } catch (const Error&) {
            idle = false;
        }
    } catch (const Error&) {
        idle = false;
    }
    return fanout_->drain(*ready_, timeout) && idle;
}

}  // namespace geyser
