#include "geyser/sender.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/portable_timeline.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {


uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

uint64_t remaining(uint64_t deadline) {
    const uint64_t now = now_ns();
    return deadline > now ? deadline - now : 0;
}

uint64_t deadline_after(uint64_t timeout_ns) {
    const uint64_t now = now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

Message expect(Channel& ch, uint16_t type, size_t fds, uint64_t deadline, const char* what) {
    Message m = ch.receive(remaining(deadline));
    if (m.type == static_cast<uint16_t>(MessageType::kGoodbye)) {
        throw PeerGoneError(std::string("the producer closed the sender while sending ") + what);
    }
    if (m.type != type || m.fds.size() != fds) {
        throw ProtocolError(std::string("expected ") + what + " (" + message_type_name(type) + " with " +
                            std::to_string(fds) + " fd), got " + message_type_name(m.type) + " with " +
                            std::to_string(m.fds.size()));
    }
    return m;
}

}  // namespace

namespace {

Channel connect_sender(const std::string& name, uint64_t deadline) {
    try {
        return Channel::connect(sender_socket_path(name), remaining(deadline));
    } catch (const TimeoutError&) {
        throw PeerGoneError("no producer is publishing '" + name + "' (nothing answers at " +
                            sender_socket_path(name) + ")");
    }
}

}  // namespace

SenderInfo query_sender(const std::string& name, uint64_t timeout_ns) {
    const uint64_t deadline = deadline_after(timeout_ns);
    Channel ch = connect_sender(name, deadline);
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.subscribe = false;
    ch.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, remaining(deadline));
    Message m = expect(ch, kSenderInfoMessage, 0, deadline, "sender info");
    return decode_sender_info(m.payload.data(), m.payload.size());
}

std::vector<SenderInfo> list_senders(uint64_t timeout_ns_each) {
    std::vector<SenderInfo> out;
    const std::string dir = runtime_dir();
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string f = e->d_name;
        if (f.size() > 5 && f.compare(f.size() - 5, 5, ".sock") == 0) names.push_back(f.substr(0, f.size() - 5));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        try {
            out.push_back(query_sender(name, timeout_ns_each));
        } catch (const Error&) {
            // A stale socket of a crashed producer, or one that does not speak the protocol.
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Subscriber

struct Subscriber::TimelineRef {
    std::shared_ptr<Semaphore> semaphore;     // kVulkan
    std::unique_ptr<PortableTimeline> portable;  // kPortable

    void wait(uint64_t value, uint64_t timeout_ns) {
        if (semaphore) {
            semaphore->wait(value, timeout_ns);
        } else {
            portable->wait(value, timeout_ns);
        }
    }
    void signal(uint64_t value) {
        if (semaphore) {
            if (semaphore->value() < value) semaphore->signal(value);
        } else {
            portable->signal(value);
        }
    }
};

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
    device->check_same_device(s->info_.device_uuid, s->info_.driver_uuid);

    for (uint32_t i = 0; i < s->info_.ring_size; ++i) {
        Message h = expect(s->channel_, static_cast<uint16_t>(MessageType::kMemoryHandle), 1, deadline, "a ring texture");
        MemoryHandle handle = decode_memory_handle(h.payload.data(), h.payload.size(), std::move(h.fds[0]));
        if (handle.kind != ResourceKind::kTexture || handle.width != s->info_.width ||
            handle.height != s->info_.height || handle.vk_format != s->info_.vk_format) {
            throw ProtocolError("ring texture " + std::to_string(i) + " does not match the sender's description");
        }
        s->ring_.push_back(device->import_texture(handle));
    }
    for (TimelineRole role : {TimelineRole::kReady, TimelineRole::kReleased}) {
        Message t = expect(s->channel_, static_cast<uint16_t>(MessageType::kTimelineHandle), 1, deadline,
                           role == TimelineRole::kReady ? "the ready timeline" : "the released timeline");
        UniqueFd portable_fd;
        TimelineAnnounce a = decode_timeline_announce(t.payload.data(), t.payload.size(), std::move(t.fds[0]), portable_fd);
        if (a.role != role || a.kind != s->info_.sync_kind) {
            throw ProtocolError("timelines arrived out of order or of another kind than the sender announced");
        }
        auto ref = std::make_unique<TimelineRef>();
        if (a.kind == TimelineKind::kVulkan) {
            ref->semaphore = device->import_semaphore(a.semaphore);
        } else {
            ref->portable = std::make_unique<PortableTimeline>(PortableTimeline::import_fd(portable_fd.get()));
        }
        (role == TimelineRole::kReady ? s->ready_ : s->released_) = std::move(ref);
    }
    return s;
}

Subscriber::Frame Subscriber::next_frame(uint64_t timeout_ns) {
    device_->require_owner_process("receive a frame");
    if (gone_) throw PeerGoneError("the producer of '" + info_.name + "' has gone");
    const uint64_t deadline = deadline_after(timeout_ns);
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
    ready_->wait(f.number, remaining(deadline));
    return {f.number, f.slot, ring_[f.slot]};
}

void Subscriber::release(uint64_t frame) {
    device_->require_owner_process("release a frame");
    released_->signal(frame);
}

}  // namespace geyser
