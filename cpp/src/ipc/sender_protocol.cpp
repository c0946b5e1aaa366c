// The named-sender protocol's messages: strict codecs, with no Vulkan in them (the fuzzer builds
// this file alone with the wire layer). The handles inside them use the wire layer's codecs.
#include <string>

#include "geyser/channel.hpp"
#include "geyser/error.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {

// FrameMessage's flags.
constexpr uint8_t kFrameReady = 1;

TimelineKind timeline_kind(uint8_t v) {
    if (v != static_cast<uint8_t>(TimelineKind::kPortable) && v != static_cast<uint8_t>(TimelineKind::kVulkan)) {
        throw ProtocolError("timeline kind " + std::to_string(v) + " is neither portable (1) nor vulkan (2)");
    }
    return static_cast<TimelineKind>(v);
}

// A SenderInfo's layout: u8 tensor count (0 for a texture ring), then per tensor its name
// (string, <= 64 bytes), u8 dtype, u8 rank and rank u64 dimensions. The offsets are not sent:
// both sides place the tensors with the same TensorLayout rules.
void encode_layout(WireWriter& w, const TensorLayout& layout) {
    w.u8(static_cast<uint8_t>(layout.tensors().size()));
    for (const TensorDescriptor& t : layout.tensors()) {
        w.string(t.name, "tensor name", TensorLayout::kMaxNameLength);
        w.u8(static_cast<uint8_t>(t.dtype));
        w.u8(static_cast<uint8_t>(t.shape.size()));
        for (uint64_t dim : t.shape) w.u64(dim);
    }
}

TensorLayout decode_layout(WireReader& r) {
    const uint8_t count = r.u8("tensor count");
    if (count == 0) return {};
    if (count > TensorLayout::kMaxTensors) {
        throw ProtocolError("sender_info: " + std::to_string(count) + " tensors, more than " +
                            std::to_string(TensorLayout::kMaxTensors));
    }
    std::vector<TensorDescriptor> tensors(count);
    for (TensorDescriptor& t : tensors) {
        t.name = r.string("tensor name", TensorLayout::kMaxNameLength);
        const uint8_t dtype = r.u8("tensor dtype");
        if (!is_dtype(dtype)) {
            throw ProtocolError("sender_info: tensor '" + t.name + "' has the unknown dtype " + std::to_string(dtype));
        }
        t.dtype = static_cast<DType>(dtype);
        const uint8_t rank = r.u8("tensor rank");
        if (rank > TensorLayout::kMaxRank) {
            throw ProtocolError("sender_info: tensor '" + t.name + "' has " + std::to_string(rank) + " dimensions");
        }
        for (uint8_t i = 0; i < rank; ++i) t.shape.push_back(r.u64("tensor dimension"));
    }
    try {
        return TensorLayout(std::move(tensors));
    } catch (const InvalidArgumentError& e) {
        throw ProtocolError(std::string("sender_info.layout: ") + e.what());
    }
}

void check_protocol(uint16_t protocol, const char* what) {
    if (protocol != kSenderProtocolVersion) {
        throw ProtocolError(std::string(what) + ": sender protocol " + std::to_string(protocol) +
                            " is not supported (this build speaks " + std::to_string(kSenderProtocolVersion) + ")");
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Codecs

std::vector<uint8_t> encode_hello(const Hello& m) {
    WireWriter w;
    w.u16(m.protocol);
    w.u32(m.pid);
    w.boolean(m.subscribe);
    w.string(m.client, "client", 256);
    w.u8(static_cast<uint8_t>(m.path));
    w.uuid(m.device_uuid);
    return w.take();
}

Hello decode_hello(const uint8_t* data, size_t size) {
    WireReader r(data, size, "hello");
    Hello m;
    m.protocol = r.u16("protocol");
    check_protocol(m.protocol, "hello");  // first: an older peer's hello is shorter
    m.pid = r.u32("pid");
    m.subscribe = r.boolean("subscribe");
    m.client = r.string("client", 256);
    const uint8_t path = r.u8("path");
    m.device_uuid = r.uuid("device_uuid");
    r.finish();
    if (path != static_cast<uint8_t>(SharePath::kZeroCopy) && path != static_cast<uint8_t>(SharePath::kCopy) &&
        path != static_cast<uint8_t>(SharePath::kPeerCopy)) {
        throw ProtocolError("hello.path " + std::to_string(path) + " is not zero-copy (1), copy (2) or peer-copy (3)");
    }
    m.path = static_cast<SharePath>(path);
    const bool named = m.device_uuid != Uuid{};
    if (m.path == SharePath::kPeerCopy && !named) {
        throw ProtocolError("hello: a peer-copy request must name the subscriber's device UUID, got all zero");
    }
    if (m.path != SharePath::kPeerCopy && named) {
        throw ProtocolError("hello: only a peer-copy request (path 3) names a device UUID; path " + std::to_string(path) +
                            " came with a non-zero one");
    }
    return m;
}

std::vector<uint8_t> encode_sender_info(const SenderInfo& m) {
    check_sender_name(m.name);
    WireWriter w;
    w.u16(m.protocol);
    w.string(m.name, "name", 64);
    w.u32(m.producer_pid);
    w.u32(m.ring_size);
    w.u32(m.width);
    w.u32(m.height);
    w.u32(static_cast<uint32_t>(m.vk_format));
    w.u32(static_cast<uint32_t>(m.texture_format));
    w.u32(m.texture_usage);
    w.u8(static_cast<uint8_t>(m.payload));
    w.u8(static_cast<uint8_t>(m.sync_kind));
    w.u8(static_cast<uint8_t>(m.mode));
    w.u32(m.max_held);
    w.u64(m.current_frame);
    w.u32(m.subscribers);
    w.uuid(m.device_uuid);
    w.uuid(m.driver_uuid);
    encode_layout(w, m.layout);
    return w.take();
}

SenderInfo decode_sender_info(const uint8_t* data, size_t size) {
    WireReader r(data, size, "sender_info");
    SenderInfo m;
    m.protocol = r.u16("protocol");
    m.name = r.string("name", 64);
    m.producer_pid = r.u32("producer_pid");
    m.ring_size = r.u32("ring_size");
    m.width = r.u32("width");
    m.height = r.u32("height");
    const uint32_t vk_format = r.u32("vk_format");
    const uint32_t texture_format = r.u32("texture_format");
    m.texture_usage = r.u32("texture_usage");
    const uint8_t payload = r.u8("payload");
    m.sync_kind = timeline_kind(r.u8("sync_kind"));
    const uint8_t mode = r.u8("mode");
    m.max_held = r.u32("max_held");
    m.current_frame = r.u64("current_frame");
    m.subscribers = r.u32("subscribers");
    m.device_uuid = r.uuid("device_uuid");
    m.driver_uuid = r.uuid("driver_uuid");
    m.layout = decode_layout(r);
    r.finish();
    check_protocol(m.protocol, "sender_info");
    try {
        check_sender_name(m.name);
    } catch (const InvalidArgumentError& e) {
        throw ProtocolError(std::string("sender_info.name: ") + e.what());
    }
    if (m.ring_size == 0 || m.ring_size > 64) {
        throw ProtocolError("sender_info.ring_size must be 1..64, got " + std::to_string(m.ring_size));
    }
    if (payload != static_cast<uint8_t>(ResourceKind::kTexture) && payload != static_cast<uint8_t>(ResourceKind::kBuffer)) {
        throw ProtocolError("sender_info.payload " + std::to_string(payload) + " is neither texture (1) nor buffer (2)");
    }
    m.payload = static_cast<ResourceKind>(payload);
    if (mode != static_cast<uint8_t>(DeliveryMode::kLossless) && mode != static_cast<uint8_t>(DeliveryMode::kLatest)) {
        throw ProtocolError("sender_info.mode " + std::to_string(mode) + " is neither lossless (1) nor latest (2)");
    }
    m.mode = static_cast<DeliveryMode>(mode);
    if (m.max_held != max_held_for(m.mode, m.ring_size)) {
        throw ProtocolError("sender_info.max_held " + std::to_string(m.max_held) + " is impossible for a " +
                            to_string(m.mode) + " ring of " + std::to_string(m.ring_size));
    }
    if (m.payload == ResourceKind::kBuffer) {
        // A buffer ring is described by its layout alone: every texture field is 0.
        if (m.layout.empty()) throw ProtocolError("sender_info: a buffer ring without a tensor layout");
        if (m.width != 0 || m.height != 0 || vk_format != 0 || texture_format != 0 || m.texture_usage != 0) {
            throw ProtocolError("sender_info: a buffer ring with texture fields (extent, formats or usage) set");
        }
        return m;
    }
    if (!m.layout.empty()) throw ProtocolError("sender_info: a texture ring with a tensor layout");
    if (m.width == 0 || m.height == 0) throw ProtocolError("sender_info: zero extent");
    if (vk_format == 0 || vk_format > INT32_MAX) throw ProtocolError("sender_info.vk_format is not a format");
    if (texture_format > static_cast<uint32_t>(TextureFormat::kRg11b10Float)) {
        throw ProtocolError("sender_info.texture_format " + std::to_string(texture_format) + " is unknown");
    }
    m.vk_format = static_cast<VkFormat>(vk_format);
    m.texture_format = static_cast<TextureFormat>(texture_format);
    return m;
}

std::vector<uint8_t> encode_timeline_announce(const TimelineAnnounce& m) {
    std::vector<uint8_t> out{static_cast<uint8_t>(m.role)};
    const std::vector<uint8_t> timeline = encode_timeline_handle(m.kind, m.semaphore);
    out.insert(out.end(), timeline.begin(), timeline.end());
    return out;
}

TimelineAnnounce decode_timeline_announce(const uint8_t* data, size_t size, UniqueFd fd, UniqueFd& portable_fd) {
    if (!fd) throw ProtocolError("timeline: no file descriptor accompanied the description");
    WireReader r(data, size, "timeline");
    const uint8_t role = r.u8("role");
    if (role != 1 && role != 2) throw ProtocolError("timeline.role " + std::to_string(role) + " is not ready or released");
    TimelineHandle h = decode_timeline_handle(data + r.offset(), r.remaining(), std::move(fd));
    TimelineAnnounce m;
    m.role = static_cast<TimelineRole>(role);
    m.kind = h.kind;
    m.semaphore = std::move(h.semaphore);
    portable_fd = std::move(h.fd);
    return m;
}

std::vector<uint8_t> encode_frame_message(const FrameMessage& m) {
    WireWriter w;
    w.u64(m.number);
    w.u32(m.slot);
    w.u8(m.ready ? kFrameReady : 0);
    return w.take();
}

FrameMessage decode_frame_message(const uint8_t* data, size_t size) {
    WireReader r(data, size, "frame");
    FrameMessage m;
    m.number = r.u64("number");
    m.slot = r.u32("slot");
    const uint8_t flags = r.u8("flags");
    r.finish();
    if (m.number == 0) throw ProtocolError("frame numbers start at 1");
    if ((flags & ~kFrameReady) != 0) throw ProtocolError("frame flags " + std::to_string(flags) + " name bits protocol 4 does not define");
    m.ready = (flags & kFrameReady) != 0;
    return m;
}

std::vector<uint8_t> encode_frame_number(uint64_t number) {
    WireWriter w;
    w.u64(number);
    return w.take();
}

uint64_t decode_frame_number(const uint8_t* data, size_t size, const char* what) {
    WireReader r(data, size, what);
    const uint64_t number = r.u64("number");
    r.finish();
    return number;
}

std::vector<uint8_t> encode_peer_answer(const PeerAnswer& m) {
    if (m.message.empty()) throw InvalidArgumentError("peer_answer: the message must say how, or why not");
    WireWriter w;
    w.boolean(m.accepted);
    w.string(m.message.substr(0, 1024), "message", 1024);
    return w.take();
}

PeerAnswer decode_peer_answer(const uint8_t* data, size_t size) {
    WireReader r(data, size, "peer_answer");
    PeerAnswer m;
    m.accepted = r.boolean("accepted");
    m.message = r.string("message", 1024);
    r.finish();
    if (m.message.empty()) throw ProtocolError("peer_answer: an empty message (it must say how, or why not)");
    return m;
}

std::vector<uint8_t> encode_dropped(const std::string& reason) {
    WireWriter w;
    w.string(reason.substr(0, 1024), "reason", 1024);
    return w.take();
}

std::string decode_dropped(const uint8_t* data, size_t size) {
    WireReader r(data, size, "dropped");
    std::string reason = r.string("reason", 1024);
    r.finish();
    return reason;
}

uint32_t max_held_for(DeliveryMode mode, uint32_t ring_size) {
    if (mode == DeliveryMode::kLatest) return ring_size >= 3 ? ring_size - 2 : 0;
    return ring_size;
}

const char* to_string(DeliveryMode mode) {
    switch (mode) {
        case DeliveryMode::kLossless:
            return "lossless";
        case DeliveryMode::kLatest:
            return "latest";
    }
    return "unknown";
}

void check_sender_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
    for (char c : name) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-');
    }
    if (!ok) {
        throw InvalidArgumentError("sender name '" + name +
                                   "' must be 1-64 characters of letters, digits, '.', '_' and '-', not starting "
                                   "with '.'");
    }
}

std::string sender_socket_path(const std::string& name) {
    check_sender_name(name);
    return runtime_dir() + "/" + name + ".sock";
}

}  // namespace geyser
