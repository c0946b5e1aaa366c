// Copies between the memory of two GPUs on the GPUs themselves: the building block for handing
// frames made on one GPU to a consumer on another, since Vulkan memory cannot be imported on
// another physical device.
//
// A PeerCopy joins a source GPU A and a destination GPU B (both CudaContexts, matched by UUID to
// their Vulkan devices). Each copy takes a frame slot exported by A's Vulkan device and imported
// into CUDA on A (a CudaBuffer or CudaTexture), and a slot allocated exportable by B's Vulkan
// device and imported into CUDA on B, and is ordered on both GPUs by timelines with no host wait:
//
//   stream of A: wait source_ready >= v  ->  copy A -> B  ->  record event  [-> signal source_released]
//   stream of B: wait for that event     ->  signal destination_ready = w
//
// The copy is cuMemcpyPeerAsync for buffers and cuMemcpy3DPeerAsync between the imported CUDA
// arrays for textures, where cuDeviceCanAccessPeer allows (peer access is then enabled for A's
// context). Where it does not (or PeerCopyOptions::host_staging asks), each copy goes through
// pinned host memory instead: device to host on A's stream, host to device on B's, still ordered
// by events and the same timelines. A == B is allowed and takes the same code (a device-to-device
// copy between the two streams), which is how it is tested on a machine with one GPU.
//
// A producer serving consumers on several GPUs keeps one PeerCopy and one ring of destination
// slots per GPU, and copies each frame once per GPU, whatever the number of consumers there.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "geyser/cuda.hpp"

namespace geyser::cuda {

/// How a PeerCopy moves bytes.
enum class PeerCopyPath : uint32_t {
    kSameDevice = 0,   ///< A and B are one GPU: a device-to-device copy through the peer-copy calls.
    kPeer = 1,         ///< CUDA peer copy between two GPUs (NVLink or PCIe), peer access enabled.
    kHostStaging = 2,  ///< Through pinned host memory: peer access is not possible, or was asked against.
};

/// "same_device", "peer" or "host_staging".
const char* peer_copy_path_name(PeerCopyPath path) noexcept;

/// Choices made when a PeerCopy is created. Plain data.
struct PeerCopyOptions {
    /// Copy through pinned host memory even where peer access is possible (to measure it, or to
    /// keep NVLink free for other work).
    bool host_staging = false;
};

/// The timelines (or binary semaphores, value 0) one copy waits on and signals. Each may be null:
/// no wait (the caller has already ordered the source), or no signal. Borrowed for the call only;
/// the semaphores record the work they are part of, so destroying one with the copy still queued
/// leaves it allocated rather than freed under the copy (CudaSemaphore).
struct PeerCopySync {
    /// On A: the copy starts once it reaches source_ready_value (the frame is rendered).
    const CudaSemaphore* source_ready = nullptr;
    uint64_t source_ready_value = 0;
    /// On B: signalled with destination_ready_value once the copy has landed on B.
    const CudaSemaphore* destination_ready = nullptr;
    uint64_t destination_ready_value = 0;
    /// On A: signalled with source_released_value once the copy has read the source slot, so the
    /// producer may render into it again.
    const CudaSemaphore* source_released = nullptr;
    uint64_t source_released_value = 0;
};

/// A copy engine from GPU A (`source`) to GPU B (`destination`). Owns one non-blocking CUDA stream
/// on each, the events that order them and, for host staging, two pinned host buffers (grown to
/// the largest copy). Holds both contexts alive. Every member is thread-safe; copies from several
/// threads are enqueued one at a time, in the order the calls take the engine's lock. Destroyed
/// while copies are queued, it leaves its pinned buffers allocated rather than free memory under
/// them (as CudaTexture does): wait_idle first.
class PeerCopy {
public:
    /// Creates the streams and, for two GPUs with peer access, enables it from A's context to
    /// B's (cuCtxEnablePeerAccess; already enabled is fine). Throws InvalidArgumentError for a
    /// null context, CudaError when CUDA refuses a stream or peer access.
    static std::unique_ptr<PeerCopy> create(std::shared_ptr<CudaContext> source, std::shared_ptr<CudaContext> destination,
                                            const PeerCopyOptions& options = {});
    ~PeerCopy();
    PeerCopy(const PeerCopy&) = delete;
    PeerCopy& operator=(const PeerCopy&) = delete;

    PeerCopyPath path() const noexcept { return path_; }
    /// Why this path: for host staging, why peer access is not used.
    const std::string& reason() const noexcept { return reason_; }
    const std::shared_ptr<CudaContext>& source() const noexcept { return source_; }
    const std::shared_ptr<CudaContext>& destination() const noexcept { return destination_; }
    /// The engine's streams on A and on B (CUstreams as integers), for callers that order their
    /// own CUDA work after a copy (CudaContext::order_after).
    StreamHandle source_stream() const noexcept { return reinterpret_cast<StreamHandle>(stream_a_); }
    StreamHandle destination_stream() const noexcept { return reinterpret_cast<StreamHandle>(stream_b_); }

    /// Enqueues a copy of all of `source` (a buffer on A) into the start of `destination` (on
    /// B) and returns at once. Throws DeviceMismatchError when a buffer or semaphore is on the
    /// wrong GPU, InvalidArgumentError when `destination` is smaller than `source` or a binary
    /// semaphore is given a value, CudaError when CUDA refuses a call.
    void copy_buffer(const CudaBuffer& source, const CudaBuffer& destination, const PeerCopySync& sync);
    /// Enqueues a copy of all of texture `source` (on A) into `destination` (on B): same extent
    /// and CUDA array format, else InvalidArgumentError. Otherwise as copy_buffer.
    void copy_texture(const CudaTexture& source, const CudaTexture& destination, const PeerCopySync& sync);

    /// Copies enqueued so far.
    uint64_t copies() const;
    /// Whether every copy enqueued so far has finished on both GPUs. Throws CudaError when one
    /// failed there (the GPU's error, as cuEventQuery reports it).
    bool idle() const;
    /// Waits until idle(), polling between interrupt checks. Throws TimeoutError after `timeout`
    /// (a copy waiting on a source_ready value that is never signalled never finishes), CudaError
    /// when a copy failed on the GPU.
    void wait_idle(std::chrono::nanoseconds timeout) const;

private:
    PeerCopy() = default;
    struct Staging {
        void* host = nullptr;  // cuMemHostAlloc, portable to every context
        uint64_t capacity = 0;
        void* drained = nullptr;  // CUevent on B: B has read `host`
    };
    void check_sync(const PeerCopySync& sync) const;
    Staging& staging_for(uint64_t bytes);
    // Waits on A for source_ready, runs `copy_on_a(driver, host)` on A's stream (host: the
    // staging buffer of `bytes`, or nullptr for a direct copy) and, for host staging,
    // `upload_on_b(driver, host)` on B's; then the events and the signals.
    template <typename OnA, typename OnB>
    void enqueue(const PeerCopySync& sync, uint64_t bytes, OnA&& copy_on_a, OnB&& upload_on_b);

    std::shared_ptr<CudaContext> source_;
    std::shared_ptr<CudaContext> destination_;
    PeerCopyPath path_ = PeerCopyPath::kSameDevice;
    std::string reason_;
    mutable std::mutex mutex_;
    void* stream_a_ = nullptr;  // CUstream in A's context
    void* stream_b_ = nullptr;  // CUstream in B's context
    void* copied_ = nullptr;    // CUevent on A: the latest copy has left A
    void* landed_ = nullptr;    // CUevent on B: the latest copy is done on B
    Staging staging_[2];
    std::vector<Staging> retired_;  // outgrown staging buffers, freed with the engine
    uint64_t copies_ = 0;
};

/// A plain cuMemcpyPeerAsync of all of `source` into `destination` on `stream` (a stream of
/// `source`'s context), with no ordering but the stream's: the baseline the peer-copy benchmark
/// measures PeerCopy against. Throws InvalidArgumentError when `destination` is smaller.
void copy_peer(const CudaBuffer& source, const CudaBuffer& destination, StreamHandle stream);

}  // namespace geyser::cuda
