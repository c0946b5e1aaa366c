// Named senders (like Spout and Syphon, for Linux): the messages a producer and its subscribers
// exchange over a Unix socket, and the subscriber side.
//
// A producer publishes a ring of N shareable textures under a name, at
// runtime_dir()/<name>.sock. A subscriber connects, says Hello, and receives once: SenderInfo,
// N texture handles (kMemoryHandle, one fd each), the "frame ready" timeline and its own "slot
// released" timeline (kTimelineHandle, one fd each). From then on it receives only Frame
// messages (frame number and ring slot, no fds). It waits for "ready" to reach the frame, reads
// the slot, and signals "released" with the frame number; the producer does not write a slot
// again until every subscriber has released the frame that was in it. A producer that shuts
// down sends Goodbye; one that dies closes the socket. Either way a subscriber's next wait ends
// with PeerGoneError, and the textures it imported stay valid.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/channel.hpp"
#include "geyser/sync.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

class Device;
class Texture;
class PortableTimeline;

/// The sender protocol's version; Hello and SenderInfo carry it and a mismatch is refused.
constexpr uint16_t kSenderProtocolVersion = 1;
/// Message type of SenderInfo (the other types are MessageType's).
constexpr uint16_t kSenderInfoMessage = 21;

enum class TimelineKind : uint8_t {
    kPortable = 1,  ///< PortableTimeline: the fd is its memfd.
    kVulkan = 2,    ///< An exported timeline semaphore: the fd is its opaque FD.
};
enum class TimelineRole : uint8_t {
    kReady = 1,
    kReleased = 2,
};

struct Hello {
    uint16_t protocol = kSenderProtocolVersion;
    uint32_t pid = 0;
    bool subscribe = true;  ///< false: only ask for SenderInfo (listing)
    std::string client;
};

struct SenderInfo {
    uint16_t protocol = kSenderProtocolVersion;
    std::string name;
    uint32_t producer_pid = 0;
    uint32_t ring_size = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    VkFormat vk_format = VK_FORMAT_UNDEFINED;
    TextureFormat texture_format = TextureFormat::kUnknown;
    uint32_t texture_usage = 0;
    TimelineKind sync_kind = TimelineKind::kPortable;
    uint64_t current_frame = 0;  ///< Last frame published when the message was sent.
    uint32_t subscribers = 0;
    Uuid device_uuid{};
    Uuid driver_uuid{};
};

/// Announces a timeline; the fd travels beside it. For kVulkan, `semaphore` describes it.
struct TimelineAnnounce {
    TimelineRole role = TimelineRole::kReady;
    TimelineKind kind = TimelineKind::kPortable;
    SyncHandle semaphore;  ///< kVulkan only; its fd is not encoded
};

struct FrameMessage {
    uint64_t number = 0;
    uint32_t slot = 0;
};

std::vector<uint8_t> encode_hello(const Hello& m);
Hello decode_hello(const uint8_t* data, size_t size);
std::vector<uint8_t> encode_sender_info(const SenderInfo& m);
SenderInfo decode_sender_info(const uint8_t* data, size_t size);
std::vector<uint8_t> encode_sync_handle(const SyncHandle& h);
/// Takes ownership of `fd` (empty for an already-signalled sync FD).
SyncHandle decode_sync_handle(const uint8_t* data, size_t size, UniqueFd fd);
std::vector<uint8_t> encode_timeline_announce(const TimelineAnnounce& m);
/// Takes ownership of `fd`, which must be present; it ends up in `semaphore.fd` for kVulkan, and
/// is returned through `portable_fd` for kPortable.
TimelineAnnounce decode_timeline_announce(const uint8_t* data, size_t size, UniqueFd fd, UniqueFd& portable_fd);
std::vector<uint8_t> encode_frame_message(const FrameMessage& m);
FrameMessage decode_frame_message(const uint8_t* data, size_t size);

/// Sender names are 1-64 characters of [A-Za-z0-9._-], not starting with '.'; anything else
/// throws InvalidArgumentError (names become file names).
void check_sender_name(const std::string& name);
/// runtime_dir()/<name>.sock
std::string sender_socket_path(const std::string& name);

/// Asks the sender `name` for its SenderInfo without subscribing. Throws PeerGoneError when no
/// producer is listening there (or its socket is stale).
SenderInfo query_sender(const std::string& name, uint64_t timeout_ns);
/// Every sender currently answering in runtime_dir(), by name. Stale sockets are skipped.
std::vector<SenderInfo> list_senders(uint64_t timeout_ns_each);

/// One subscription to a named sender: the ring imported once, then frame numbers only.
/// Not thread-safe; use one Subscriber per thread.
class Subscriber {
public:
    struct Frame {
        uint64_t number = 0;
        uint32_t slot = 0;
        std::shared_ptr<Texture> texture;
    };

    /// Connects to `name` on `device` (which must be the producer's device: DeviceMismatchError
    /// otherwise) and imports the ring and both timelines.
    static std::unique_ptr<Subscriber> connect(const std::shared_ptr<Device>& device, const std::string& name,
                                               uint64_t timeout_ns, const std::string& client = {});
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    const SenderInfo& info() const noexcept { return info_; }
    const std::vector<std::shared_ptr<Texture>>& ring() const noexcept { return ring_; }

    /// The next frame, in order: waits for its Frame message and for the ready timeline to reach
    /// it. TimeoutError after `timeout_ns`; PeerGoneError when the producer has gone.
    /// UnsupportedOperationError in a fork() child of the subscribing process (so is release).
    Frame next_frame(uint64_t timeout_ns);
    /// Tells the producer this subscriber is done with `frame` (and every earlier one).
    void release(uint64_t frame);

private:
    struct TimelineRef;
    Subscriber(Channel channel, std::shared_ptr<Device> device);

    Channel channel_;
    // In a fork() child the subscription is the parent's: next_frame and release refuse before
    // touching the shared socket or timelines (Device::inherited_across_fork).
    std::shared_ptr<Device> device_;
    SenderInfo info_;
    std::vector<std::shared_ptr<Texture>> ring_;
    std::unique_ptr<TimelineRef> ready_;
    std::unique_ptr<TimelineRef> released_;
    bool gone_ = false;
};

}  // namespace geyser
