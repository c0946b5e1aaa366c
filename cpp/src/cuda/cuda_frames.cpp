// CudaSubscriber and CudaSender: a stream's ring and ready timeline in CUDA, imported once, and
// the per-frame wait, signal and release on a CUDA stream.
#include "geyser/cuda_frames.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include "cuda/context_scope.hpp"
#include "cuda/cuda_api.hpp"
#include "cuda/signal_log.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"

namespace geyser::cuda {

namespace {

// Mappings a stream may still reach through work queued behind a wait that never completed:
// freeing them (cuMemFree, cuDestroyExternalMemory) would pull the memory from under that work,
// so they are kept for the process's life instead, as CudaSemaphore keeps itself.
void keep_for_good(std::vector<std::shared_ptr<CudaBuffer>> buffers, std::vector<std::shared_ptr<CudaTexture>> textures) {
    static std::mutex mutex;
    static auto* kept = new std::vector<std::shared_ptr<void>>();  // never freed, on purpose
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& b : buffers) kept->push_back(std::move(b));
    for (auto& t : textures) kept->push_back(std::move(t));
}

void release_mappings(const std::shared_ptr<CudaSemaphore>& ready, std::vector<std::shared_ptr<CudaBuffer>>& buffers,
                      std::vector<std::shared_ptr<CudaTexture>>& textures) noexcept {
    if (ready == nullptr || ready->idle()) return;  // the members free them
    try {
        keep_for_good(std::move(buffers), std::move(textures));
    } catch (...) {
        // Out of memory for the list: the mappings are freed after all, as before this rule.
    }
}

size_t checked_tensor(const TensorLayout& layout, size_t tensor) {
    if (tensor >= layout.tensors().size()) {
        throw InvalidArgumentError("tensor " + std::to_string(tensor) + " is past the layout's " +
                                   std::to_string(layout.tensors().size()) + " tensors (" + layout.describe() + ")");
    }
    return tensor;
}

const char* kind_name(ResourceKind kind) { return kind == ResourceKind::kBuffer ? "a tensor stream" : "a texture stream"; }

}  // namespace

// -- subscriber -----------------------------------------------------------------------------------

std::unique_ptr<CudaSubscriber> CudaSubscriber::create(std::shared_ptr<CudaContext> context, const Subscriber& subscriber) {
    if (!context) throw InvalidArgumentError("CudaSubscriber::create: no CUDA context");
    std::unique_ptr<CudaSubscriber> s(new CudaSubscriber());
    s->payload_ = subscriber.info().payload;
    s->layout_ = subscriber.info().layout;
    // Each import takes a duplicate of the handle's fd; the Subscriber keeps its handles.
    for (const MemoryHandle& h : subscriber.ring_handles()) {
        if (s->payload_ == ResourceKind::kBuffer) {
            s->buffers_.push_back(CudaBuffer::import(context, h));
        } else {
            s->textures_.push_back(CudaTexture::import(context, h));
        }
    }
    const TimelineHandle& ready = subscriber.ready_handle();
    if (ready.kind == TimelineKind::kVulkan) s->ready_ = CudaSemaphore::import(context, ready.semaphore);
    s->timeline_ = subscriber.ready();
    s->context_ = std::move(context);
    return s;
}

CudaSubscriber::~CudaSubscriber() { release_mappings(ready_, buffers_, textures_); }

void CudaSubscriber::check_ours(const Subscriber::Frame& frame, const char* what) const {
    // A Frame holds its subscription's ready timeline, so a live timeline of ours is the only
    // way a frame can point at it; an expired one means no frame is ours.
    const std::shared_ptr<Timeline> mine = timeline_.lock();
    if (mine == nullptr || frame.ready().timeline != mine.get()) {
        throw InvalidArgumentError(std::string(what) + " takes a frame of the subscription this CudaSubscriber imported; frame " +
                                   std::to_string(frame.number()) + " is another subscriber's");
    }
}

void CudaSubscriber::check_frame(const Subscriber::Frame& frame, const char* what) const {
    check_ours(frame, what);
    if (frame.released()) {
        throw InvalidHandleError("frame " + std::to_string(frame.number()) +
                                 " was released: the producer may be writing its slot again");
    }
}

void CudaSubscriber::wait(const Subscriber::Frame& frame, StreamHandle stream) const {
    check_frame(frame, "wait");
    if (frame.ready_wait() != ReadyWait::kGpu) return;  // next_frame waited on the host already
    // kGpu is refused by next_frame for a portable timeline, so a kGpu frame has a Vulkan one.
    if (ready_ == nullptr) throw UnsupportedOperationError("the ready timeline is portable: no CUDA stream can wait on it");
    context_->check_stream(stream, "the stream to wait on");
    ready_->wait(frame.number(), stream);
}

const std::shared_ptr<CudaBuffer>& CudaSubscriber::buffer(const Subscriber::Frame& frame) const {
    check_frame(frame, "buffer");
    if (payload_ != ResourceKind::kBuffer) {
        throw UnsupportedOperationError("frame " + std::to_string(frame.number()) +
                                        " is a texture stream's: its slot is a CUDA array (texture())");
    }
    return buffers_.at(frame.slot());
}

uint64_t CudaSubscriber::device_pointer(const Subscriber::Frame& frame, size_t tensor) const {
    const std::shared_ptr<CudaBuffer>& b = buffer(frame);
    return b->device_pointer() + layout_.offset(checked_tensor(layout_, tensor));
}

uint64_t CudaSubscriber::device_pointer(const Subscriber::Frame& frame, const std::string& tensor) const {
    const std::shared_ptr<CudaBuffer>& b = buffer(frame);
    return b->device_pointer() + layout_.offset(layout_.index(tensor));
}

const std::shared_ptr<CudaTexture>& CudaSubscriber::texture(const Subscriber::Frame& frame) const {
    check_frame(frame, "texture");
    if (payload_ != ResourceKind::kTexture) {
        throw UnsupportedOperationError("frame " + std::to_string(frame.number()) +
                                        " is a tensor stream's: its slot is linear memory (buffer())");
    }
    return textures_.at(frame.slot());
}

void CudaSubscriber::release(Subscriber::Frame& frame, StreamHandle stream) const {
    check_ours(frame, "release");
    // As Subscriber::Frame::release: releasing twice is a bad argument, not a stale handle.
    if (frame.released()) {
        throw InvalidArgumentError("frame " + std::to_string(frame.number()) + " is not held (released already)");
    }
    context_->synchronize(stream);
    frame.release();
}

// -- sender ---------------------------------------------------------------------------------------

CudaSender::CudaSender(std::shared_ptr<CudaContext> context, Sender& sender)
    : context_(std::move(context)), sender_(sender), payload_(sender.payload()) {}

std::unique_ptr<CudaSender> CudaSender::create(std::shared_ptr<CudaContext> context, Sender& sender) {
    if (!context) throw InvalidArgumentError("CudaSender::create: no CUDA context");
    if (sender.closed()) throw InvalidHandleError("the Sender '" + sender.name() + "' is closed");
    Device& device = *sender.device();
    if (device.info().device_uuid != context->uuid()) {
        throw DeviceMismatchError("the Sender '" + sender.name() + "' publishes on '" + device.info().name +
                                  "', not on CUDA device " + std::to_string(context->ordinal()) + " (" + context->name() + ")");
    }
    std::unique_ptr<CudaSender> s(new CudaSender(context, sender));
    // The Sender's own resources are exported for the imports (each handle closed after).
    for (const std::shared_ptr<Buffer>& b : sender.buffers()) {
        const MemoryHandle h = device.export_buffer(*b);
        s->buffers_.push_back(CudaBuffer::import(context, h));
    }
    for (const std::shared_ptr<Texture>& t : sender.ring()) {
        const MemoryHandle h = device.export_texture(*t);
        s->textures_.push_back(CudaTexture::import(context, h));
    }
    if (sender.ready()->kind() == TimelineKind::kVulkan) {
        const TimelineHandle h = device.export_timeline(*sender.ready());
        s->ready_ = CudaSemaphore::import(context, h.semaphore);
    }
    return s;
}

void CudaSender::keep(std::shared_ptr<CudaSemaphore> semaphore) noexcept {
    static std::mutex mutex;
    static auto* kept = new std::vector<std::shared_ptr<CudaSemaphore>>();  // never freed, on purpose
    try {
        std::lock_guard<std::mutex> lock(mutex);
        kept->push_back(std::move(semaphore));
    } catch (...) {
        // Out of memory for the list: destroyed after all.
    }
}

CudaSender::~CudaSender() {
    // Imports of subscribers' timelines a stream may still signal go with the mappings' rule:
    // kept rather than destroyed under queued work.
    // Destroyed only with every signal run (collect()'s reason); otherwise kept for good.
    bool idle = true;
    try {
        idle = !log_ || log_->idle();
    } catch (...) {
        idle = false;  // CUDA cannot be asked: everything signalled is assumed queued
    }
    for (auto& [frame, semaphore] : retired_) {
        if (!idle) keep(std::move(semaphore));
    }
    for (auto& [timeline, entry] : imports_) {
        if (entry.semaphore && (entry.kept || (!idle && entry.last != 0))) keep(std::move(entry.semaphore));
    }
    release_mappings(ready_, buffers_, textures_);
}

const CudaSemaphore* CudaSender::imported(const std::shared_ptr<Timeline>& timeline) {
    auto it = imports_.find(timeline.get());
    if (it != imports_.end()) {
        if (it->second.timeline.lock() == timeline) return it->second.semaphore.get();
        // A timeline made where a freed one was: that one's subscriber has gone.
        retire(it->second);
        imports_.erase(it);
    }
    Import entry;
    entry.timeline = timeline;
    try {
        const TimelineHandle h = sender_.device()->export_timeline(*timeline);
        entry.semaphore = CudaSemaphore::import(context_, h.semaphore);
    } catch (const Error&) {
        // Left null: the Sender's relay signals this subscriber from its device instead.
    }
    return imports_.emplace(timeline.get(), std::move(entry)).first->second.semaphore.get();
}

void CudaSender::retire(Import& entry) {
    if (!entry.semaphore || entry.last == 0) return;  // never signalled: freed now
    if (entry.kept) {
        keep(std::move(entry.semaphore));
    } else {
        retired_.emplace_back(entry.last, std::move(entry.semaphore));
    }
}

void CudaSender::collect() {
    for (auto it = imports_.begin(); it != imports_.end();) {
        if (!it->second.timeline.expired()) {
            ++it;
            continue;
        }
        retire(it->second);
        it = imports_.erase(it);
    }
    if (retired_.empty()) return;
    // Freed only once every signal this CudaSender enqueued has run: cuDestroyExternalSemaphore
    // waits for the GPU (on the H200 it did not return while the producer's stream was held
    // back, run 83), so destroying one under queued frames would stall end_frame for as long as
    // they take, and for good behind a stream waiting on the producer's own later work.
    try {
        if (!log_->idle()) return;  // kept until a later frame finds the streams caught up
    } catch (const Error&) {
        return;  // kept until a later frame, or for good (the destructor)
    }
    retired_.clear();
}

void CudaSender::check_frame(const Sender::Frame& frame) const {
    // A frame rebuilt from its number and slot (as a binding may) carries no timeline: the slot
    // and end_frame's pending check decide then.
    if (frame.ready != nullptr && frame.ready != sender_.ready().get()) {
        throw InvalidArgumentError("frame " + std::to_string(frame.number) + " is another Sender's, not '" +
                                   sender_.name() + "''s");
    }
    const size_t ring = payload_ == ResourceKind::kBuffer ? buffers_.size() : textures_.size();
    if (frame.slot >= ring) {
        throw InvalidArgumentError("slot " + std::to_string(frame.slot) + " is past the ring of " + std::to_string(ring));
    }
}

const std::shared_ptr<CudaBuffer>& CudaSender::buffer(const Sender::Frame& frame) const {
    check_frame(frame);
    if (payload_ != ResourceKind::kBuffer) {
        throw UnsupportedOperationError("the Sender '" + sender_.name() + "' is " + kind_name(payload_) +
                                        ": its slots are CUDA arrays (texture())");
    }
    return buffers_[frame.slot];
}

uint64_t CudaSender::device_pointer(const Sender::Frame& frame, size_t tensor) const {
    const std::shared_ptr<CudaBuffer>& b = buffer(frame);
    return b->device_pointer() + layout().offset(checked_tensor(layout(), tensor));
}

uint64_t CudaSender::device_pointer(const Sender::Frame& frame, const std::string& tensor) const {
    const std::shared_ptr<CudaBuffer>& b = buffer(frame);
    return b->device_pointer() + layout().offset(layout().index(tensor));
}

const std::shared_ptr<CudaTexture>& CudaSender::texture(const Sender::Frame& frame) const {
    check_frame(frame);
    if (payload_ != ResourceKind::kTexture) {
        throw UnsupportedOperationError("the Sender '" + sender_.name() + "' is " + kind_name(payload_) +
                                        ": its slots are linear memory (buffer())");
    }
    return textures_[frame.slot];
}

void CudaSender::end_frame(const Sender::Frame& frame, StreamHandle stream) {
    if (ready_ == nullptr) {
        throw UnsupportedOperationError("the sender '" + sender_.name() +
                                        "' has a portable ready timeline, which no CUDA stream can signal: write the "
                                        "slot, synchronise the stream, then Sender::end_frame(frame) (ReadySignal::kHost)");
    }
    check_frame(frame);
    // The stream's signal cannot be taken back: a timeline value signalled for a frame that is not
    // the one pending would mark the next frame of that number ready before it is written.
    if (frame.number == 0 || frame.number != sender_.pending()) {
        throw InvalidArgumentError("end_frame takes the frame begin_frame returned (frame " +
                                   std::to_string(sender_.pending()) + " is pending, got " + std::to_string(frame.number) + ")");
    }
    context_->check_stream(stream, "the stream that wrote the frame");
    // What earlier frames left to free, now that the streams may have passed it.
    collect();
    // Announced first, so that subscribers wake while the stream's signals are enqueued: each
    // subscriber's own timeline straight from this stream (after a relay of the Sender's still to
    // land on it, where one is), then the Sender's (after them, in stream order).
    sender_.ready_targets(frame, targets_);
    signal_list_.clear();
    signal_imports_.clear();
    wait_list_.clear();
    wait_values_.clear();
    signalled_.number = frame.number;
    signalled_.timelines.clear();
    for (size_t i = 0; i < targets_.timelines.size(); ++i) {
        const std::shared_ptr<Timeline>& t = targets_.timelines[i];
        const CudaSemaphore* s = imported(t);
        if (s == nullptr) continue;
        signal_list_.push_back(s);
        signal_imports_.push_back(&imports_.at(t.get()));
        signalled_.timelines.push_back(t);
        if (targets_.after[i] != 0) {
            wait_list_.push_back(s);
            wait_values_.push_back(targets_.after[i]);
        }
    }
    targets_.timelines.clear();  // the imports are CUDA's own: the Sender's timelines may go
    sender_.end_frame(frame, signalled_);
    try {
        CudaSemaphore::wait_all(wait_list_, wait_values_, stream);
        CudaSemaphore::signal_all(signal_list_, frame.number, stream);
    } catch (...) {
        // Announced already: the Sender's queue relays them once the stream has signalled
        // ready(). A stream that cannot do that either leaves the frame to close(): a relay now
        // would hold up the device's queue for a signal that does not come.
        bool ready_signalled = false;
        try {
            ready_->signal(frame.number, stream);
            ready_signalled = true;
        } catch (...) {
        }
        if (ready_signalled) {
            try {
                sender_.relay_ready(signalled_);
            } catch (...) {
                // Closed meanwhile: close() signals what was announced.
            }
        }
        signalled_.timelines.clear();
        throw;
    }
    signalled_.timelines.clear();
    bool logged = signal_list_.empty();
    if (!logged) {
        try {
            if (!log_) log_ = std::make_unique<SignalLog>(context_);
            log_->record(frame.number, stream);
            logged = true;
        } catch (...) {
            // Kept for good when they go, rather than freed under a signal nobody can track.
        }
    }
    for (Import* entry : signal_imports_) {
        entry->last = frame.number;
        entry->kept = entry->kept || !logged;
    }
    ready_->signal(frame.number, stream);
}

}  // namespace geyser::cuda
