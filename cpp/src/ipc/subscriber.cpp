#include "geyser/subscriber.hpp"

#include <poll.h>
#include <unistd.h>

#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/explain.hpp"
#include "geyser/interrupt.hpp"
#include "geyser/formats.hpp"
#include "geyser/memory.hpp"
#include "geyser/timeline.hpp"
#include "geyser/sender_directory.hpp"
#include "geyser/wire.hpp"
#include "ipc/copy_uploader.hpp"
#include "ipc/sender_session.hpp"
#include "../timeout.hpp"

namespace geyser {

using namespace sender_session;

namespace {

/// Whether the producer has closed its end. Linux drops a SOCK_SEQPACKET socket's unread messages
/// when it sends to a peer that has closed (unix_dgram_disconnected), so sending then would lose
/// the producer's last messages (a Dropped notice saying why) before next_frame reads them.
bool producer_hung_up(const Channel& channel) {
    pollfd p{channel.native_handle(), 0, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

// How long telling the producer about a release or a request may take: its service thread reads
// them as they come, so only a producer that has hung fills the queue.
constexpr uint64_t kNoticeTimeoutNs = 2'000'000'000;

}  // namespace

// ---- Frame ---------------------------------------------------------------------------------

Subscriber::Frame::Frame(Frame&& other) noexcept
    : owner_(std::move(other.owner_)),
      number_(other.number_),
      slot_(other.slot_),
      texture_(std::move(other.texture_)),
      buffer_(std::move(other.buffer_)),
      ready_(std::move(other.ready_)),
      ready_wait_(other.ready_wait_) {
    other.owner_.reset();
}

Subscriber::Frame& Subscriber::Frame::operator=(Frame&& other) noexcept {
    if (this != &other) {
        Frame gone(std::move(*this));  // releases what this one held
        owner_ = std::move(other.owner_);
        other.owner_.reset();
        number_ = other.number_;
        slot_ = other.slot_;
        texture_ = std::move(other.texture_);
        buffer_ = std::move(other.buffer_);
        ready_ = std::move(other.ready_);
        ready_wait_ = other.ready_wait_;
    }
    return *this;
}

Subscriber::Frame::~Frame() {
    if (released()) return;
    InterruptShield shield;  // a destructor cannot pass an interruption on
    try {
        release();
    } catch (...) {
        // A destructor must not throw (a fork() child, or a producer that hung).
    }
}

bool Subscriber::Frame::released() const noexcept {
    const auto owner = owner_.lock();
    return !owner || (*owner)->held_.count(number_) == 0;
}

void Subscriber::Frame::require_held() const {
    if (released()) {
        throw InvalidHandleError("frame " + std::to_string(number_) +
                                 " was released: the producer may be writing its slot again");
    }
}

const std::shared_ptr<Texture>& Subscriber::Frame::texture() const {
    require_held();
    if (!texture_) throw UnsupportedOperationError("frame " + std::to_string(number_) + " is a tensor stream's: use buffer()");
    return texture_;
}

const std::shared_ptr<Buffer>& Subscriber::Frame::buffer() const {
    require_held();
    if (!buffer_) throw UnsupportedOperationError("frame " + std::to_string(number_) + " is a texture: use texture()");
    return buffer_;
}

void Subscriber::Frame::release() {
    const auto owner = owner_.lock();
    if (!owner) throw InvalidArgumentError("frame " + std::to_string(number_) + ": its subscription has ended");
    (*owner)->release(number_);
}

// ---- Subscriber ----------------------------------------------------------------------------

Subscriber::Subscriber(Channel channel, std::shared_ptr<Device> device)
    : channel_(std::move(channel)), device_(std::move(device)), self_(std::make_shared<Subscriber*>(this)) {}

Subscriber::~Subscriber() = default;

std::unique_ptr<Subscriber> Subscriber::connect(const std::shared_ptr<Device>& device, const std::string& name,
                                                std::chrono::nanoseconds timeout, const std::string& client,
                                                ZeroCopy zero_copy) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    if (!device) throw InvalidArgumentError("Subscriber::connect: no device");
    device->require_owner_process("subscribe to a sender");
    const uint64_t deadline = deadline_after(timeout_ns);
    std::unique_ptr<Subscriber> s(new Subscriber(connect_sender(name, deadline), device));
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.client = client;
    s->channel_.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, timeout_of(remaining(deadline)));
    Message m = expect(s->channel_, kSenderInfoMessage, 0, deadline, "sender info");
    s->info_ = decode_sender_info(m.payload.data(), m.payload.size());
    check_sender_identity(s->info_, name, s->channel_);
    // The ring's handles are checked the same way on import; the description is checked first,
    // so a contradictory sender is refused before any of its fds is taken.
    const std::string mismatch = s->info_.payload == ResourceKind::kTexture
                                     ? format_tag_mismatch(s->info_.texture_format, s->info_.vk_format)
                                     : std::string();
    if (!mismatch.empty()) throw ProtocolError("sender '" + name + "' " + mismatch);
    const Explanation why = explain(*device, s->info_);
    if (!why.zero_copy() && zero_copy == ZeroCopy::kRequire) {
        throw DeviceMismatchError("sender '" + name + "' cannot be shared zero-copy with device '" +
                                  device->info().name + "' (zero_copy=require): " + why.summary());
    }
    if (zero_copy == ZeroCopy::kAuto && peer_copy_may_help(why)) {
        s->subscribe_peer(name, deadline, client, why);
        return s;
    }
    if (!why.zero_copy() || zero_copy == ZeroCopy::kNever) {
        s->reason_ = why.zero_copy() ? "the copy path was asked for (zero_copy=never)" : why.summary();
        s->subscribe_copy(name, deadline, client);
        return s;
    }
    s->import_ring(deadline);
    s->import_ready(deadline, s->info_.sync_kind, "the ready timeline of the kind the sender announced");
    return s;
}

void Subscriber::import_ring(uint64_t deadline) {
    const std::string& name = info_.name;
    const std::shared_ptr<Device>& device = device_;
    Subscriber* s = this;
    for (uint32_t i = 0; i < s->info_.ring_size && s->info_.payload == ResourceKind::kBuffer; ++i) {
        Message h = expect(s->channel_, static_cast<uint16_t>(MessageType::kMemoryHandle), 1, deadline, "a ring buffer");
        MemoryHandle handle = decode_memory_handle(h.payload.data(), h.payload.size(), std::move(h.fds[0]));
        if (handle.kind != ResourceKind::kBuffer || handle.buffer_size != s->info_.layout.size()) {
            throw ProtocolError("ring buffer " + std::to_string(i) + " of '" + name +
                                "' does not match the sender's description (a buffer of " +
                                std::to_string(s->info_.layout.size()) + " bytes for " + s->info_.layout.describe() + ")");
        }
        s->buffers_.push_back(device->import_buffer(handle));
        s->ring_handles_.push_back(std::move(handle));
    }
    for (uint32_t i = 0; i < s->info_.ring_size && s->info_.payload == ResourceKind::kTexture; ++i) {
        Message h = expect(s->channel_, static_cast<uint16_t>(MessageType::kMemoryHandle), 1, deadline, "a ring texture");
        MemoryHandle handle = decode_memory_handle(h.payload.data(), h.payload.size(), std::move(h.fds[0]));
        if (handle.kind != ResourceKind::kTexture || handle.width != s->info_.width ||
            handle.height != s->info_.height || handle.vk_format != s->info_.vk_format ||
            handle.texture_format != s->info_.texture_format) {
            throw ProtocolError("ring texture " + std::to_string(i) + " does not match the sender's description");
        }
        s->ring_.push_back(device->import_texture(handle));
        s->ring_handles_.push_back(std::move(handle));
    }
}

void Subscriber::import_ready(uint64_t deadline, TimelineKind kind, const char* what) {
    Message t = expect(channel_, static_cast<uint16_t>(MessageType::kTimelineHandle), 1, deadline, "the ready timeline");
    TimelineHandle handle;
    TimelineAnnounce a = decode_timeline_announce(t.payload.data(), t.payload.size(), std::move(t.fds[0]), handle.fd);
    if (a.role != TimelineRole::kReady || a.kind != kind) throw ProtocolError(std::string("expected ") + what);
    handle.kind = a.kind;
    handle.semaphore = std::move(a.semaphore);
    ready_ = device_->import_timeline(handle);
    ready_handle_ = std::move(handle);
}

void Subscriber::throw_gone() const {
    if (dropped_) throw SubscriptionDroppedError(gone_);
    throw PeerGoneError(gone_);
}

void Subscriber::request_frame() {
    device_->require_owner_process("ask for a frame");
    if (info_.mode != DeliveryMode::kLatest || requested_ || !gone_.empty() || announced_) return;
    if (held_.size() >= info_.max_held) return;  // the producer would drop it for asking
    if (producer_hung_up(channel_)) return;  // next_frame reads what it sent last
    try {
        channel_.send(kFrameRequestMessage, encode_frame_number(last_), {}, timeout_of(kNoticeTimeoutNs));
        requested_ = true;
    } catch (const PeerGoneError&) {
        // Its Goodbye, Dropped or hang-up is what next_frame reports.
    }
}

Subscriber::Frame Subscriber::next_frame(std::chrono::nanoseconds timeout, ReadyWait wait) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    device_->require_owner_process("receive a frame");
    if (wait == ReadyWait::kGpu && ready_->kind() != TimelineKind::kVulkan) {
        throw UnsupportedOperationError("the ready timeline of '" + info_.name +
                                        "' is portable (host memory), which no GPU waits on: wait on the host (ReadyWait::kHost)");
    }
    const size_t holding = held_.size() - (announced_ ? 1 : 0);
    if (holding >= info_.max_held) {
        throw UnsupportedOperationError(
            "this subscriber holds " + std::to_string(holding) + " frames of '" + info_.name +
            "', the most a " + to_string(info_.mode) + " sender with a ring of " + std::to_string(info_.ring_size) +
            " allows; release one before asking for the next");
    }
    const uint64_t deadline = deadline_after(timeout_ns);
    if (!broken_.empty()) throw ProtocolError(broken_);
    if (!announced_) {
        if (!gone_.empty()) throw_gone();
        request_frame();
        Message m;
        try {
            m = channel_.receive(timeout_of(remaining(deadline)));
        } catch (const PeerGoneError&) {
            gone_ = "the producer of '" + info_.name + "' (pid " + std::to_string(info_.producer_pid) + ") has gone";
            throw_gone();
        }
        if (m.type == static_cast<uint16_t>(MessageType::kGoodbye)) {
            gone_ = "the producer closed the sender '" + info_.name + "'";
            throw_gone();
        }
        if (m.type == kDroppedMessage && m.fds.empty()) {
            dropped_ = true;
            gone_ = "the producer of '" + info_.name + "' dropped this subscriber: " +
                    decode_dropped(m.payload.data(), m.payload.size());
            throw_gone();
        }
        if (m.type != static_cast<uint16_t>(MessageType::kFrame) || !m.fds.empty()) {
            throw ProtocolError(std::string("expected a frame message, got ") + message_type_name(m.type));
        }
        const FrameMessage f = decode_frame_message(m.payload.data(), m.payload.size());
        if (f.slot >= info_.ring_size) {
            throw ProtocolError("frame " + std::to_string(f.number) + " names slot " + std::to_string(f.slot) +
                                " of a ring of " + std::to_string(ring_.size()));
        }
        if (f.number <= last_) {
            // The frames a producer publishes only go forward; one that does not is broken, and
            // nothing more it says can be ordered: every later call refuses too.
            broken_ = "the producer of '" + info_.name + "' announced frame " + std::to_string(f.number) + " after frame " +
                      std::to_string(last_) + ": frame numbers must increase";
            throw ProtocolError(broken_);
        }
        requested_ = false;
        if (last_ != 0) frames_dropped_ += f.number - last_ - 1;
        last_ = f.number;
        held_[f.number] = f.slot;
        announced_ = f;
    }
    // A frame the producer flagged ready is complete: nothing to wait for, on the host or the GPU.
    // Otherwise kHost waits here, and kGpu leaves the wait to the caller's GPU.
    const bool ready = announced_->ready;
    if (wait == ReadyWait::kHost && !ready) wait_ready(deadline);
    if (copy_) copy_->upload(announced_->slot);
    Frame out;
    out.owner_ = self_;
    out.number_ = announced_->number;
    out.slot_ = announced_->slot;
    if (info_.payload == ResourceKind::kTexture) {
        out.texture_ = ring_[announced_->slot];
    } else {
        out.buffer_ = buffers_[announced_->slot];
    }
    out.ready_ = ready_;
    out.ready_wait_ = ready ? ReadyWait::kHost : wait;
    announced_.reset();
    return out;
}

void Subscriber::wait_ready(uint64_t deadline) {
    // A frame announced but not ready in time stays the next frame: the next call waits for it
    // again instead of reading past it. A producer that hung up meanwhile (died, or closed after
    // announcing a frame its GPU never signalled) is gone, not late.
    try {
        ready_->wait(announced_->number, timeout_of(remaining(deadline)));
    } catch (const TimeoutError&) {
        pollfd p{channel_.native_handle(), 0, 0};
        if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) {
            const uint64_t number = announced_->number;
            held_.erase(number);
            announced_.reset();
            gone_ = "the producer of '" + info_.name + "' (pid " + std::to_string(info_.producer_pid) +
                    ") has gone before frame " + std::to_string(number) + " was ready";
            throw_gone();
        }
        throw;
    }
}

void Subscriber::release(uint64_t number) {
    device_->require_owner_process("release a frame");
    auto it = held_.find(number);
    if (it == held_.end() || (announced_ && announced_->number == number)) {
        std::string held;
        for (const auto& [n, slot] : held_) {
            if (!(announced_ && announced_->number == n)) held += (held.empty() ? "" : ", ") + std::to_string(n);
        }
        throw InvalidArgumentError("frame " + std::to_string(number) + " is not held by this subscriber of '" +
                                   info_.name + "' (held: " + (held.empty() ? "none" : held) + ")");
    }
    held_.erase(it);
    if (!gone_.empty() || producer_hung_up(channel_)) return;
    try {
        channel_.send(static_cast<uint16_t>(MessageType::kRelease), encode_frame_number(number), {}, timeout_of(kNoticeTimeoutNs));
    } catch (const PeerGoneError&) {
        // The producer has gone: there is nobody to tell, and next_frame reports it.
    }
}

std::vector<uint64_t> Subscriber::held() const {
    std::vector<uint64_t> out;
    for (const auto& [n, slot] : held_) {
        if (!(announced_ && announced_->number == n)) out.push_back(n);
    }
    return out;
}

}  // namespace geyser
