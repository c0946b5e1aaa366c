// The named-sender protocol (like Spout and Syphon, for Linux): the messages a producer and its
// subscribers exchange over a Unix socket, and their strict codecs. No Vulkan is called here (the
// fuzzer builds the codecs alone with the wire format). Handles travel in the wire layer's own
// encodings (wire.hpp): textures as kMemoryHandle messages, timelines inside TimelineAnnounce.
//
// A producer (Sender, sender.hpp) publishes a ring of N shareable textures under a name, at
// runtime_dir()/<name>.sock. A subscriber (Subscriber, subscriber.hpp) connects, says Hello, and
// receives once: SenderInfo, N texture handles (kMemoryHandle, one fd each), the "frame ready"
// timeline and its own "slot released" timeline (kTimelineHandle, one fd each). From then on it
// receives only Frame messages (frame number and ring slot, no fds). It waits for "ready" to
// reach the frame, reads the slot, and signals "released" with the frame number; the producer
// does not write a slot again until every subscriber has released the frame that was in it. A
// producer that shuts down sends Goodbye; one that dies closes the socket. Either way a
// subscriber's next wait ends with PeerGoneError, and the textures it imported stay valid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"
#include "geyser/wire.hpp"

namespace geyser {

/// The sender protocol's version; Hello and SenderInfo carry it and a mismatch is refused.
constexpr uint16_t kSenderProtocolVersion = 1;
/// Message type of SenderInfo (the other types are MessageType's).
constexpr uint16_t kSenderInfoMessage = 21;

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
/// u8 role, then the timeline itself exactly as encode_timeline_handle writes it (wire.hpp):
/// u8 kind and, for kVulkan, the u32-length-prefixed encode_sync_handle payload. Sent as a
/// kTimelineHandle message with the timeline's fd. Throws as encode_timeline_handle does.
std::vector<uint8_t> encode_timeline_announce(const TimelineAnnounce& m);
/// Takes ownership of `fd`, which must be present; it ends up in `semaphore.fd` for kVulkan, and
/// is returned through `portable_fd` for kPortable. Checks the role, then the rest as
/// decode_timeline_handle does (ProtocolError; `fd` closed on every error path).
TimelineAnnounce decode_timeline_announce(const uint8_t* data, size_t size, UniqueFd fd, UniqueFd& portable_fd);
std::vector<uint8_t> encode_frame_message(const FrameMessage& m);
FrameMessage decode_frame_message(const uint8_t* data, size_t size);

/// Sender names are 1-64 characters of [A-Za-z0-9._-], not starting with '.'; anything else
/// throws InvalidArgumentError (names become file names).
void check_sender_name(const std::string& name);
/// runtime_dir()/<name>.sock
std::string sender_socket_path(const std::string& name);

}  // namespace geyser
