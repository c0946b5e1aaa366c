#include "geyser/subscriber.hpp"

#include <poll.h>
#include <unistd.h>

#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/formats.hpp"
#include "geyser/memory.hpp"
#include "geyser/timeline.hpp"
#include "geyser/sender_directory.hpp"
#include "geyser/wire.hpp"
#include "ipc/sender_session.hpp"

namespace geyser {

using namespace sender_session;

Subscriber::Subscriber(Channel channel, std::shared_ptr<Device> device)
    : channel_(std::move(channel)), device_(std::move(device)) {}

Subscriber::~Subscriber() = default;

std::unique_ptr<Subscriber> Subscriber::connect(const std::shared_ptr<Device>& device, const std::string& name,
                                                uint64_t timeout_ns, const std::string& client) {
    if (!device) throw InvalidArgumentError("Subscriber::connect: no device");
    device->require_owner_process("subscribe to a sender");
    const uint64_t deadline = deadline_after(timeout_ns);
    std::unique_ptr<Subscriber> s(new Subscriber(connect_sender(name, deadline), device));
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.client = client;
    s->channel_.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, remaining(deadline));
    Message m = expect(s->channel_, kSenderInfoMessage, 0, deadline, "sender info");
    s->info_ = decode_sender_info(m.payload.data(), m.payload.size());
    check_sender_identity(s->info_, name, s->channel_);
    device->check_same_device(s->info_.device_uuid, s->info_.driver_uuid);
    // The ring's handles are checked the same way on import; the description is checked first,
    // so a contradictory sender is refused before any of its fds is taken.
    const std::string mismatch = format_tag_mismatch(s->info_.texture_format, s->info_.vk_format);
    if (!mismatch.empty()) throw ProtocolError("sender '" + name + "' " + mismatch);

    for (uint32_t i = 0; i < s->info_.ring_size; ++i) {
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
    for (TimelineRole role : {TimelineRole::kReady, TimelineRole::kReleased}) {
        Message t = expect(s->channel_, static_cast<uint16_t>(MessageType::kTimelineHandle), 1, deadline,
                           role == TimelineRole::kReady ? "the ready timeline" : "the released timeline");
        TimelineHandle handle;
        TimelineAnnounce a = decode_timeline_announce(t.payload.data(), t.payload.size(), std::move(t.fds[0]), handle.fd);
        if (a.role != role || a.kind != s->info_.sync_kind) {
            throw ProtocolError("timelines arrived out of order or of another kind than the sender announced");
        }
        handle.kind = a.kind;
        handle.semaphore = std::move(a.semaphore);
        (role == TimelineRole::kReady ? s->ready_ : s->released_) = device->import_timeline(handle);
        if (role == TimelineRole::kReady) s->ready_handle_ = std::move(handle);
    }
    return s;
}

Subscriber::Frame Subscriber::next_frame(uint64_t timeout_ns) {
    device_->require_owner_process("receive a frame");
    const uint64_t deadline = deadline_after(timeout_ns);
    if (!broken_.empty()) throw ProtocolError(broken_);
    if (!announced_) {
        if (gone_) throw PeerGoneError("the producer of '" + info_.name + "' has gone");
        Message m;
        try {
            m = channel_.receive(remaining(deadline));
        } catch (const PeerGoneError&) {
            gone_ = true;
            throw PeerGoneError("the producer of '" + info_.name + "' (pid " + std::to_string(info_.producer_pid) +
                                ") has gone");
        }
        if (m.type == static_cast<uint16_t>(MessageType::kGoodbye)) {
            gone_ = true;
            throw PeerGoneError("the producer closed the sender '" + info_.name + "'");
        }
        if (m.type != static_cast<uint16_t>(MessageType::kFrame) || !m.fds.empty()) {
            throw ProtocolError(std::string("expected a frame message, got ") + message_type_name(m.type));
        }
        const FrameMessage f = decode_frame_message(m.payload.data(), m.payload.size());
        if (f.slot >= ring_.size()) {
            throw ProtocolError("frame " + std::to_string(f.number) + " names slot " + std::to_string(f.slot) +
                                " of a ring of " + std::to_string(ring_.size()));
        }
        if (f.number <= last_number_) {
            // The frames a producer publishes only go forward; one that does not is broken, and
            // nothing more it says can be ordered: every later call refuses too.
            broken_ = "the producer of '" + info_.name + "' announced frame " + std::to_string(f.number) + " after frame " +
                      std::to_string(last_number_) + ": frame numbers must increase";
            throw ProtocolError(broken_);
        }
        last_number_ = f.number;
        announced_ = f;
    }
    // A frame announced but not ready in time stays the next frame: the next call waits for it
    // again instead of reading past it. A producer that hung up meanwhile (died, or closed after
    // announcing a frame its GPU never signalled) is gone, not late.
    try {
        ready_->wait(announced_->number, remaining(deadline));
    } catch (const TimeoutError&) {
        pollfd p{channel_.native_handle(), 0, 0};
        if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) {
            const uint64_t number = announced_->number;
            gone_ = true;
            announced_.reset();
            throw PeerGoneError("the producer of '" + info_.name + "' (pid " + std::to_string(info_.producer_pid) +
                                ") has gone before frame " + std::to_string(number) + " was ready");
        }
        throw;
    }
    const FrameMessage f = *announced_;
    announced_.reset();
    return {f.number, f.slot, ring_[f.slot]};
}

void Subscriber::release(uint64_t frame) {
    device_->require_owner_process("release a frame");
    // Only this subscriber signals its released timeline, so the check and the signal cannot race.
    if (frame > released_->value()) released_->signal(frame);
}

}  // namespace geyser
