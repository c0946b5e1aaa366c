// Subscriber::subscribe_copy (geyser/subscriber.hpp): the copy path's handshake. The first
// connection's SenderInfo said zero-copy cannot work (explain.hpp); nothing of it was imported.
// A second connection asks for the copy ring (Hello path kCopy), which the producer fills once per
// frame for every copy subscriber, and a portable ready timeline of its own.
#include <unistd.h>

#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/subscriber.hpp"
#include "geyser/wire.hpp"
#include "ipc/copy_uploader.hpp"
#include "ipc/sender_session.hpp"
#include "../timeout.hpp"

namespace geyser {

using namespace sender_session;

void Subscriber::subscribe_copy(const std::string& name, uint64_t deadline, const std::string& client) {
    resubscribe(name, deadline, client, SharePath::kCopy, Uuid{});
    take_copy_ring(deadline);
}

void Subscriber::resubscribe(const std::string& name, uint64_t deadline, const std::string& client, SharePath path,
                             const Uuid& device_uuid) {
    const SenderInfo first = info_;
    // The first connection closes unread: its ring fds go with it, never imported. Closing it
    // before the next connect keeps this process at one subscription of the sender.
    channel_.close();
    channel_ = connect_sender(name, deadline);
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.client = client;
    hello.path = path;
    hello.device_uuid = device_uuid;
    channel_.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, timeout_of(remaining(deadline)));
    Message m = expect(channel_, kSenderInfoMessage, 0, deadline, "sender info");
    info_ = decode_sender_info(m.payload.data(), m.payload.size());
    check_sender_identity(info_, name, channel_);
    if (info_.producer_pid != first.producer_pid || info_.device_uuid != first.device_uuid ||
        info_.width != first.width || info_.height != first.height || info_.vk_format != first.vk_format ||
        info_.texture_format != first.texture_format || info_.ring_size != first.ring_size ||
        info_.mode != first.mode || info_.payload != first.payload || !(info_.layout == first.layout)) {
        throw ProtocolError("sender '" + name + "' changed while subscribing (another producer, device or "
                            "description on the second connection)");
    }
}

void Subscriber::take_copy_ring(uint64_t deadline) {
    Message c = expect(channel_, kCopyRingMessage, 1, deadline, "the copy ring");
    const CopyRing ring = decode_copy_ring(c.payload.data(), c.payload.size());
    copy_ = std::make_unique<CopyUploader>(device_, info_, ring, std::move(c.fds[0]));
    ring_ = copy_->textures();
    buffers_ = copy_->buffers();
    // What another API's import of the ring (geyser/gl.hpp, CUDA) duplicates: this device's own ring.
    for (const auto& tex : ring_) ring_handles_.push_back(device_->export_texture(*tex));
    for (const auto& buf : buffers_) ring_handles_.push_back(device_->export_buffer(*buf));

    Message t = expect(channel_, static_cast<uint16_t>(MessageType::kTimelineHandle), 1, deadline,
                       "the ready timeline");
    TimelineHandle handle;
    TimelineAnnounce a = decode_timeline_announce(t.payload.data(), t.payload.size(), std::move(t.fds[0]), handle.fd);
    // Another device cannot import the producer's Vulkan timeline: a copy subscriber's is
    // always portable.
    if (a.role != TimelineRole::kReady || a.kind != TimelineKind::kPortable) {
        throw ProtocolError("expected the portable ready timeline a copy subscriber is given");
    }
    handle.kind = a.kind;
    ready_ = device_->import_timeline(handle);
    ready_handle_ = std::move(handle);
    path_ = SharePath::kCopy;
}

}  // namespace geyser
