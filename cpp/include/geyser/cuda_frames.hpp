// A named stream's ring in CUDA: a Subscriber's or a Sender's ring slots and ready timeline
// imported into the CUDA driver once, and the per-frame steps of a CUDA consumer or producer on a
// stream (the GPU wait on a frame's ready point, the frame's device memory, the stream's signal
// of a frame written, the release after the stream's reads). What python/geyser/cuda.py's
// tensor_views / wait_frame / end_frame / release do, for C++ engines (docs/cuda.md, "Streams in
// CUDA").
//
// Frames are the core's own (Subscriber::Frame, Sender::Frame): these classes add CUDA to the
// frames a Subscriber or Sender hands out, and never receive or begin one themselves, so the same
// frame may also be read with Vulkan or through Frame::buffer().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "geyser/cuda.hpp"
#include "geyser/sender.hpp"
#include "geyser/subscriber.hpp"
#include "geyser/tensor_layout.hpp"
#include "geyser/timeline.hpp"

namespace geyser::cuda {

class SignalLog;

/// A Subscriber's ring in CUDA. Each ring slot is imported once, from a duplicate of the handle
/// the sender sent (Subscriber::ring_handles: an imported Vulkan resource cannot be exported
/// again): a tensor stream's buffers as CudaBuffer (linear device memory, laid out by
/// layout()), a texture stream's textures as CudaTexture (CUDA arrays, reached by copies). A
/// Vulkan ready timeline is imported once as a CudaSemaphore; a portable one (host memory) is not.
///
/// Keeps no reference to the Subscriber: frames are recognised as this subscription's by their
/// ready timeline, so it may outlive the Subscriber (its mappings are CUDA's own imports of the
/// memory, valid while they live). Every accessor is const and the objects are immutable after
/// create(), so one CudaSubscriber may be used from several threads; the Subscriber and its
/// Frames keep their own rule (one thread at a time).
///
/// Lifetime: the slot mappings are shared (a tensor made of one keeps it alive, as Python's DLPack
/// capsules do). Destroyed while a stream still waits on the ready timeline for a frame never
/// signalled, it keeps its mappings allocated (as CudaSemaphore keeps itself) rather than free
/// memory the kernels queued behind that wait would read; synchronise your streams first.
class CudaSubscriber {
public:
    /// Imports `subscriber`'s ring and ready timeline into `context`. Throws InvalidArgumentError
    /// for a null context, DeviceMismatchError when the ring is another GPU's memory than the
    /// context's (a subscriber on the copy path imports this device's own ring), and the import
    /// errors of CudaBuffer/CudaTexture/CudaSemaphore::import (UnsupportedFormatError for a
    /// texture format CUDA arrays cannot hold). CudaContext::for_device is where a machine with
    /// no CUDA refuses (UnsupportedOperationError with cuda_status().reason). Nothing is left
    /// imported on failure.
    static std::unique_ptr<CudaSubscriber> create(std::shared_ptr<CudaContext> context, const Subscriber& subscriber);
    ~CudaSubscriber();
    CudaSubscriber(const CudaSubscriber&) = delete;
    CudaSubscriber& operator=(const CudaSubscriber&) = delete;

    /// Makes work enqueued on `stream` after this call wait, on the GPU, for `frame`'s ready point
    /// (the ready timeline at frame.number()): for a frame taken with ReadyWait::kGpu. A frame
    /// taken with ReadyWait::kHost is ready already and nothing is enqueued (no CUDA call is
    /// made). Throws InvalidHandleError for a released frame, InvalidArgumentError for another
    /// subscription's frame, DeviceMismatchError for a stream of another CUDA context (kGpu frames).
    /// Returns at once.
    void wait(const Subscriber::Frame& frame, StreamHandle stream) const;
    /// A tensor stream's frame: the CUDA mapping of its slot (every tensor of layout(), tensor i at
    /// layout().offset(i)). The frame's errors of wait(); UnsupportedOperationError for a texture
    /// stream. Valid to read after wait() on the stream that waited, until release().
    const std::shared_ptr<CudaBuffer>& buffer(const Subscriber::Frame& frame) const;
    /// The CUdeviceptr of tensor `tensor` (an index into layout(); InvalidArgumentError past its
    /// end) of a tensor stream's frame: buffer(frame)->device_pointer() + layout().offset(tensor).
    uint64_t device_pointer(const Subscriber::Frame& frame, size_t tensor = 0) const;
    /// As device_pointer, by tensor name (InvalidArgumentError for a name not in the layout).
    uint64_t device_pointer(const Subscriber::Frame& frame, const std::string& tensor) const;
    /// A texture stream's frame: its slot's texture as a CUDA array (CudaTexture::copy_to_device
    /// after wait()). The frame's errors of wait(); UnsupportedOperationError for a tensor stream.
    const std::shared_ptr<CudaTexture>& texture(const Subscriber::Frame& frame) const;
    /// Done with `frame` once the work enqueued on `stream` so far (its reads of the frame) has
    /// completed: cuStreamSynchronize(stream), then frame.release(). A host synchronisation,
    /// because the producer may write the slot as soon as it learns of the release, and it learns
    /// over a socket that only the host writes; copy out what you keep before calling it. Not
    /// interruptible while the stream drains (a stream waiting for a frame its producer never
    /// signals drains when the producer closes: Sender::close signals what it announced).
    /// InvalidArgumentError for another subscription's frame and, as Subscriber::Frame::release,
    /// for a frame released already.
    void release(Subscriber::Frame& frame, StreamHandle stream) const;

    /// kBuffer for a tensor stream, kTexture for a texture stream.
    ResourceKind payload() const noexcept { return payload_; }
    /// A tensor stream's layout (empty for a texture stream).
    const TensorLayout& layout() const noexcept { return layout_; }
    /// One mapping per ring slot (buffers for a tensor stream, textures for a texture stream; the
    /// other is empty).
    const std::vector<std::shared_ptr<CudaBuffer>>& buffers() const noexcept { return buffers_; }
    const std::vector<std::shared_ptr<CudaTexture>>& textures() const noexcept { return textures_; }
    /// The ready timeline in CUDA; null for a portable one (then no frame is taken with kGpu).
    const std::shared_ptr<CudaSemaphore>& ready() const noexcept { return ready_; }
    const std::shared_ptr<CudaContext>& context() const noexcept { return context_; }

private:
    CudaSubscriber() = default;
    // InvalidArgumentError when not this subscription's; check_frame adds InvalidHandleError
    // when released.
    void check_ours(const Subscriber::Frame& frame, const char* what) const;
    void check_frame(const Subscriber::Frame& frame, const char* what) const;
    size_t tensor_index(const std::string& name) const;

    std::shared_ptr<CudaContext> context_;
    ResourceKind payload_ = ResourceKind::kBuffer;
    TensorLayout layout_;
    std::vector<std::shared_ptr<CudaBuffer>> buffers_;
    std::vector<std::shared_ptr<CudaTexture>> textures_;
    std::shared_ptr<CudaSemaphore> ready_;
    std::weak_ptr<Timeline> timeline_;  // the Subscriber's ready timeline: what its frames point at
};

/// A Sender's ring in CUDA: each slot exported from the Sender's device and imported once (a
/// tensor stream's buffers as CudaBuffer, a texture ring as CudaTexture), and its ready timeline,
/// where it is a Vulkan one, as a CudaSemaphore, so that a CUDA stream writes a frame and
/// signals it with no host wait. Borrows the Sender, which must outlive it. Used from the thread
/// that calls the Sender's begin_frame/end_frame, as they are. The mappings follow
/// CudaSubscriber's lifetime rule.
class CudaSender {
public:
    /// Throws InvalidArgumentError for a null context, InvalidHandleError for a closed Sender,
    /// DeviceMismatchError when the Sender's device is another GPU than the context's, and the
    /// import errors of CudaSubscriber::create.
    static std::unique_ptr<CudaSender> create(std::shared_ptr<CudaContext> context, Sender& sender);
    ~CudaSender();
    CudaSender(const CudaSender&) = delete;
    CudaSender& operator=(const CudaSender&) = delete;

    /// A tensor stream's frame from begin_frame: the CUDA mapping of its slot, to write on a
    /// stream before end_frame. InvalidArgumentError for a frame of another Sender (its ready
    /// timeline is another's) or a slot past the ring, UnsupportedOperationError for a texture ring.
    const std::shared_ptr<CudaBuffer>& buffer(const Sender::Frame& frame) const;
    /// buffer(frame)->device_pointer() + layout().offset(tensor); InvalidArgumentError for an index
    /// past the layout or a name not in it.
    uint64_t device_pointer(const Sender::Frame& frame, size_t tensor = 0) const;
    uint64_t device_pointer(const Sender::Frame& frame, const std::string& tensor) const;
    /// A texture ring's frame: its slot's texture as a CUDA array (CudaTexture::copy_from_device).
    /// The errors of buffer(); UnsupportedOperationError for a tensor stream.
    const std::shared_ptr<CudaTexture>& texture(const Sender::Frame& frame) const;
    /// Publishes `frame`, written by the work enqueued on `stream`: Sender::end_frame(frame,
    /// targets) announces it, then after that work the stream signals each zero-copy subscriber's
    /// own ready timeline (Sender::ready_targets: one cuSignalExternalSemaphoresAsync for all of
    /// them, each imported into CUDA at its first frame), then the Sender's. Nothing waits on the
    /// host, and no queue submission of the Sender's sits between the producer's stream and the
    /// consumers' (a timeline CUDA could not import is left to the Sender's relay). When the
    /// stream cannot signal the subscribers it throws CudaError, the frame announced: the Sender's
    /// relay signals them once the stream has signalled ready(); a stream that cannot signal that
    /// either leaves the frame to Sender::close(), which signals it from the host after
    /// send_timeout. Frames ended on different streams must reach their signals in frame order.
    /// Throws UnsupportedOperationError for a portable ready
    /// timeline (host memory, which no CUDA stream can signal: synchronise the stream and call
    /// Sender::end_frame(frame) instead), InvalidArgumentError unless `frame` is the one pending
    /// (Sender::pending(): a frame ended, abandoned or of another Sender is refused before the
    /// stream signals anything), DeviceMismatchError for a stream of another CUDA context, and
    /// what Sender::end_frame throws (InvalidHandleError once closed).
    void end_frame(const Sender::Frame& frame, StreamHandle stream);

    ResourceKind payload() const noexcept { return payload_; }
    const TensorLayout& layout() const noexcept { return sender_.layout(); }
    const std::vector<std::shared_ptr<CudaBuffer>>& buffers() const noexcept { return buffers_; }
    const std::vector<std::shared_ptr<CudaTexture>>& textures() const noexcept { return textures_; }
    /// The ready timeline in CUDA; null for a portable one.
    const std::shared_ptr<CudaSemaphore>& ready() const noexcept { return ready_; }
    const std::shared_ptr<CudaContext>& context() const noexcept { return context_; }
    /// Imports of subscribers' timelines whose subscribers have gone: freed at the first
    /// end_frame that finds every signal this CudaSender enqueued run (cuDestroyExternalSemaphore
    /// waits for the GPU, so never under queued frames). A producer whose streams never catch up
    /// keeps them (one per subscriber gone) until then, or for good at destruction.
    size_t retired() const noexcept { return retired_.size(); }

private:
    CudaSender(std::shared_ptr<CudaContext> context, Sender& sender);
    void check_frame(const Sender::Frame& frame) const;
    // The CUDA import of a subscriber's ready timeline, made at its first frame; null when CUDA
    // refused it (then the Sender relays that subscriber's frames, and no import is tried again).
    const CudaSemaphore* imported(const std::shared_ptr<Timeline>& timeline);
    // Forgets the imports of timelines that have gone (their subscribers left), each freed once
    // the streams have passed its last signal (log_).
    void collect();
    // Keeps `semaphore` for the process's life: a stream may still signal it.
    static void keep(std::shared_ptr<CudaSemaphore> semaphore) noexcept;
    struct Import;
    // An import whose timeline has gone: to retired_ until the streams pass its last signal.
    void retire(Import& entry);

    struct Import {
        std::weak_ptr<Timeline> timeline;  // the Sender's; expired once its subscriber has gone
        std::shared_ptr<CudaSemaphore> semaphore;
        uint64_t last = 0;   // the last frame a stream was asked to signal it to (0: never)
        bool kept = false;   // that frame's event could not be recorded: never freed
    };

    std::shared_ptr<CudaContext> context_;
    Sender& sender_;
    ResourceKind payload_ = ResourceKind::kBuffer;
    std::vector<std::shared_ptr<CudaBuffer>> buffers_;
    std::vector<std::shared_ptr<CudaTexture>> textures_;
    std::shared_ptr<CudaSemaphore> ready_;
    std::map<const Timeline*, Import> imports_;
    // Imports whose timeline has gone, with their last frame: freed once log_ is idle.
    std::vector<std::pair<uint64_t, std::shared_ptr<CudaSemaphore>>> retired_;
    // An event per frame, recorded after its signals of the subscribers' timelines.
    std::unique_ptr<SignalLog> log_;
    // Reused every frame.
    Sender::ReadyTargets targets_;
    Sender::ReadyTargets signalled_;
    std::vector<const CudaSemaphore*> signal_list_;
    std::vector<Import*> signal_imports_;
    std::vector<const CudaSemaphore*> wait_list_;
    std::vector<uint64_t> wait_values_;
};

}  // namespace geyser::cuda
