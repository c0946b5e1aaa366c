// GlSender and GlSubscriber: a sender's ring in GL, imported once, with the frame-by-frame waits
// and signals of the sync path the context allows.
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/gl.hpp"
#include "geyser/interrupt.hpp"
#include "geyser/memory.hpp"
#include "../timeout.hpp"

namespace geyser::gl {

namespace {

// GL waits on and signals the ready timeline only where the context has GL timeline semaphores
// and the timeline is a Vulkan one (a portable timeline lives in host memory GL cannot wait on).
bool gl_timelines(const GlContext& context, TimelineKind kind) {
    return context.sync_path() == SyncPath::kGlSemaphore && context.info().timeline_semaphore && kind == TimelineKind::kVulkan;
}

}  // namespace

GlSender::GlSender(std::shared_ptr<GlContext> context, Sender& sender) : context_(std::move(context)), sender_(sender) {
    if (!context_) throw InvalidArgumentError("GlSender: no GlContext");
    context_->require_current("import a sender's ring into GL");
    if (sender.closed()) throw UnsupportedOperationError("the Sender is closed");
    if (sender.payload() != ResourceKind::kTexture) {
        throw UnsupportedOperationError("the sender '" + sender.name() + "' is a tensor stream: it has no textures for GL");
    }
    if (sender.device().get() != context_->device().get()) {
        throw DeviceMismatchError("the Sender publishes on another Device object than the GlContext's");
    }
    Device& device = *sender.device();
    for (const std::shared_ptr<Texture>& t : sender.ring()) {
        MemoryHandle h = device.export_texture(*t);
        ring_.push_back(GlTexture::import(context_, h));
    }
    if (gl_timelines(*context_, sender.ready()->kind())) {
        TimelineHandle h = device.export_timeline(*sender.ready());
        ready_ = GlSemaphore::import(context_, h.semaphore);
    }
}

GlFrame GlSender::begin_frame(std::chrono::nanoseconds timeout) {
    if (ring_.empty()) throw InvalidHandleError("this GlSender is closed");
    context_->require_current("begin a GL frame");
    if (pending_) throw InvalidArgumentError("frame " + std::to_string(pending_->number) + " was begun and not ended");
    // The slot is free once every subscriber released it; each released only after its own
    // reads completed (a subscriber's release is host-signalled after them), so GL may write.
    pending_ = sender_.begin_frame(timeout);
    GlFrame frame{pending_->number, pending_->slot, ring_.at(pending_->slot).get()};
    if (ready_) {
        // The GL acquire, from the layout Vulkan released the texture in: on the ready timeline at
        // the slot's previous frame (long signalled; 0 for a slot's first use, after Geyser's
        // initial release), so that GL knows the layout without any wait.
        const uint64_t ring = ring_.size();
        ready_->wait(frame.number > ring ? frame.number - ring : 0, {frame.texture});
    }
    return frame;
}

void GlSender::end_frame(const GlFrame& frame, std::chrono::nanoseconds timeout) {
    if (!pending_ || frame.number != pending_->number) {
        throw InvalidArgumentError("end_frame takes the frame begin_frame returned");
    }
    context_->require_current("end a GL frame");
    try {
        if (ready_) {
            // The GL release: the texture goes back to the layout Vulkan acquires it in, and the
            // ready timeline reaches the frame number when GL's writes are done. No host wait.
            ready_->signal(frame.number, {frame.texture});
            sender_.end_frame(*pending_, ReadySignal::kGpu);
        } else {
            context_->finish(timeout);
            sender_.end_frame(*pending_, ReadySignal::kHost);
        }
    } catch (...) {
        sender_.abandon_frame(*pending_);
        pending_.reset();
        throw;
    }
    pending_.reset();
}

void GlSender::abandon_frame(const GlFrame& frame) {
    if (!pending_ || frame.number != pending_->number) {
        throw InvalidArgumentError("abandon_frame takes the frame begin_frame returned");
    }
    sender_.abandon_frame(*pending_);
    pending_.reset();
}

void GlSender::close() {
    if (ready_) ready_->close();
    for (auto& t : ring_) t->close();
    ready_.reset();
    ring_.clear();
}

GlSubscriber::GlSubscriber(std::shared_ptr<GlContext> context, Subscriber& subscriber)
    : context_(std::move(context)), subscriber_(subscriber) {
    if (!context_) throw InvalidArgumentError("GlSubscriber: no GlContext");
    context_->require_current("import a subscription's ring into GL");
    if (subscriber.info().payload != ResourceKind::kTexture) {
        throw UnsupportedOperationError("the sender '" + subscriber.info().name + "' is a tensor stream: it has no textures for GL");
    }
    for (const MemoryHandle& h : subscriber.ring_handles()) ring_.push_back(GlTexture::import(context_, h));
    const TimelineHandle& ready = subscriber.ready_handle();
    if (gl_timelines(*context_, ready.kind)) ready_ = GlSemaphore::import(context_, ready.semaphore);
}

GlFrame GlSubscriber::next_frame(std::chrono::nanoseconds timeout) {
    if (ring_.empty()) throw InvalidHandleError("this GlSubscriber is closed");
    context_->require_current("receive a GL frame");
    Subscriber::Frame f = subscriber_.next_frame(timeout, ready_ ? ReadyWait::kGpu : ReadyWait::kHost);
    GlFrame frame{f.number(), f.slot(), ring_.at(f.slot()).get(), f.ready_wait()};
    // The GL acquire, from the layout the producer released the texture in, once the ready
    // timeline reaches the frame: GL's later commands (the caller's reads) wait for it on the GPU.
    if (ready_) ready_->wait(frame.number, {frame.texture});
    held_.emplace(frame.number, std::move(f));
    return frame;
}

void GlSubscriber::release(const GlFrame& frame, std::chrono::nanoseconds timeout) {
    auto it = held_.find(frame.number);
    if (it == held_.end()) {
        throw InvalidArgumentError("frame " + std::to_string(frame.number) + " is not held by this GlSubscriber");
    }
    context_->require_current("release a GL frame");
    // The producer may overwrite the slot as soon as it is released: GL's reads must be done.
    context_->finish(timeout);
    Subscriber::Frame f = std::move(it->second);
    held_.erase(it);
    f.release();
}

GlSubscriber::~GlSubscriber() {
    if (held_.empty()) return;
    InterruptShield shield;  // a destructor cannot pass an interruption on
    try {
        context_->finish(std::chrono::seconds(1));
    } catch (...) {
        // Not current here, or GL did not finish in time: the frames are released regardless.
    }
}

void GlSubscriber::close() {
    if (!held_.empty()) {
        context_->finish(std::chrono::seconds(1));
        held_.clear();  // each Frame releases itself
    }
    if (ready_) ready_->close();
    for (auto& t : ring_) t->close();
    ready_.reset();
    ring_.clear();
}

}  // namespace geyser::gl
