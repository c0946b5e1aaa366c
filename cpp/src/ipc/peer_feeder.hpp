// Internal to the Sender: the producer's side of peer-copy delivery (SharePath::kPeerCopy,
// docs/streams.md "A consumer on another GPU"). One PeerFeeder per destination GPU (keyed by its
// Vulkan device UUID), made by the first peer-copy subscriber there and shared by every later one;
// the Sender keeps it until it closes, so subscribers that come and go on that GPU allocate
// nothing more (fd and device-memory counts stay flat).
//
// What it holds:
// - a Device opened by the producer on GPU B (the destination), and on it a ring of shareable
//   textures (or buffers) of the producer's descriptor (or tensor layout), ring size and slot
//   numbers: slot s on B holds the frame of slot s on A, so the release rules of the producer's
//   ring keep B's slots too;
// - the producer's ring and ready timeline imported into CUDA on GPU A, B's ring into CUDA on B;
// - one PeerCopy A -> B (peer_copy.hpp: peer, host_staging or same_device);
// - a Vulkan timeline of B, exportable and imported into CUDA on B, that the copy of frame N
//   signals to N once it has landed ("B ready"); every subscriber on B has a Vulkan ready timeline
//   of its own on B, signalled from B ready by a TimelineFanout of B's device (a queue
//   submission that waits on the GPU), as the Sender's own fan-out does for zero-copy
//   subscribers. So a subscriber's timeline is written by a Vulkan queue of B, not by CUDA
//   (NVIDIA's host wait sometimes misses a CUDA signal and wakes only at its slice's end:
//   docs/cuda.md), and what one subscriber does to its timeline reaches no other;
// - a Vulkan timeline of A ("source released"), exportable and imported into CUDA on A, that the
//   copy of frame N signals to N once it has read A's slot: begin_frame does not hand out slot s
//   again before the last copy from it has read it (wait_source_free, bounded).
//
// Each frame is copied once per GPU: copy() enqueues a copy only when B's slot does not hold the
// frame yet. The copy waits on the producer's ready timeline on A's GPU (ReadySignal::kHost and
// kGpu alike); nothing on the producer's side waits on the host.
//
// Thread-safety: none; the Sender calls every member under its state lock, but for
// wait_source_free (begin_frame's thread, for the slot it was handed) and drain (close()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "geyser/formats.hpp"
#include "geyser/tensor_layout.hpp"
#include "geyser/types.hpp"

namespace geyser {

class Buffer;
class Device;
class Texture;
class Timeline;
class TimelineFanout;

namespace cuda {
class CudaBuffer;
class CudaContext;
class CudaSemaphore;
class CudaTexture;
class PeerCopy;
}  // namespace cuda

class PeerFeeder {
public:
    /// What the ring on A is: the producer's device, ring (textures or a tensor stream's
    /// buffers), its descriptor or layout and its ready timeline. Borrowed for create().
    struct Source {
        std::shared_ptr<Device> device;
        const std::vector<std::shared_ptr<Texture>>* textures = nullptr;
        const std::vector<std::shared_ptr<Buffer>>* buffers = nullptr;
        TextureDescriptor descriptor;
        Timeline* ready = nullptr;
        bool host_staging = false;  ///< Through pinned host memory even with peer access.
    };

    /// Sets everything up for the GPU whose Vulkan device UUID is `destination`. Throws
    /// UnsupportedOperationError with a sentence saying why peer copy is not possible (no CUDA in
    /// this process, no Vulkan or CUDA device with that UUID, a portable ready timeline, no
    /// exportable timeline on B, a format CUDA arrays cannot hold, a CUDA call refused); nothing
    /// is left behind.
    static std::unique_ptr<PeerFeeder> create(const Source& source, const Uuid& destination);
    /// The owner drains first (drain()); CUDA objects still used by queued work are left allocated
    /// by their own destructors rather than freed under it (cuda.hpp, peer_copy.hpp).
    ~PeerFeeder();
    PeerFeeder(const PeerFeeder&) = delete;
    PeerFeeder& operator=(const PeerFeeder&) = delete;

    /// B's Vulkan device, as the producer opened it.
    const std::shared_ptr<Device>& device() const noexcept { return device_; }
    /// The ring on B (textures, or a tensor stream's buffers), slot for slot the producer's.
    const std::vector<std::shared_ptr<Texture>>& textures() const noexcept { return textures_; }
    const std::vector<std::shared_ptr<Buffer>>& buffers() const noexcept { return buffers_; }
    /// B ready: reaches N once the copy of frame N has landed on B.
    Timeline& ready() noexcept { return *ready_; }
    /// Signals the B subscribers' own ready timelines from ready().
    TimelineFanout& fanout() noexcept { return *fanout_; }
    /// How frames are copied, one sentence for Subscriber::reason ("... copied GPU to GPU by CUDA
    /// (peer) ...").
    const std::string& description() const noexcept { return description_; }
    /// Frames copied so far (once per frame, however many subscribers on B).
    uint64_t copies() const noexcept { return copies_; }

    /// Makes B's slot `slot` hold frame `number` (published in the producer's slot `slot`):
    /// enqueues one copy ordered after the producer's ready timeline reaches `number` on A and
    /// signalling ready() to `number` when it lands on B, unless the slot holds that frame already
    /// (then nothing). Returns whether it enqueued. Frames must come in increasing order (the
    /// Sender copies only its newest frame). Throws CudaError (nothing enqueued) when CUDA refuses.
    bool copy(uint32_t slot, uint64_t number);
    /// Returns true once the last copy from the producer's slot `slot` has read it. Polls (from
    /// 20 us up, never a host wait on a CUDA-signalled timeline, which may wake late) between
    /// interrupt checks until `deadline` (monotonic ns). Past it: TimeoutError when that frame is
    /// not ready yet on `source_ready` (the producer's own kGpu signal is late, not this GPU);
    /// otherwise, once the frame has been ready for a second's grace as well, false, with `why`
    /// (this GPU's copy is stuck).
    bool wait_source_free(uint32_t slot, uint64_t deadline, Timeline& source_ready, std::string& why) const;
    /// For close(): waits up to `timeout` for every copy and B's fan-out submissions. A copy still
    /// held up by a kGpu frame whose GPU signal never came has its wait satisfied by signalling
    /// `source_ready` (the producer's ready timeline) from the host, as TimelineFanout::drain
    /// does. Returns whether everything finished.
    bool drain(Timeline& source_ready, std::chrono::nanoseconds timeout);

private:
    PeerFeeder() = default;

    std::shared_ptr<Device> source_device_;
    std::shared_ptr<Device> device_;  // B
    std::vector<std::shared_ptr<Texture>> textures_;
    std::vector<std::shared_ptr<Buffer>> buffers_;
    std::shared_ptr<Timeline> ready_;     // B ready
    std::shared_ptr<Timeline> released_;  // on A: source released
    std::unique_ptr<TimelineFanout> fanout_;
    std::shared_ptr<cuda::CudaContext> cuda_a_;
    std::shared_ptr<cuda::CudaContext> cuda_b_;
    std::vector<std::unique_ptr<cuda::CudaTexture>> source_textures_;  // A's ring in CUDA
    std::vector<std::unique_ptr<cuda::CudaTexture>> destination_textures_;
    std::vector<std::unique_ptr<cuda::CudaBuffer>> source_buffers_;
    std::vector<std::unique_ptr<cuda::CudaBuffer>> destination_buffers_;
    std::unique_ptr<cuda::CudaSemaphore> source_ready_;  // the producer's ready timeline in CUDA on A
    std::unique_ptr<cuda::CudaSemaphore> source_released_;
    std::unique_ptr<cuda::CudaSemaphore> destination_ready_;
    std::unique_ptr<cuda::PeerCopy> engine_;
    std::string description_;
    std::vector<uint64_t> frame_in_slot_;  // on B; 0: none yet
    // The last frame copied from each of A's slots; read by wait_source_free without the lock.
    std::unique_ptr<std::atomic<uint64_t>[]> copied_from_;
    uint64_t copies_ = 0;
    uint64_t highest_source_wait_ = 0;
};

}  // namespace geyser
