// The named-sender protocol (like Spout and Syphon, for Linux): the messages a producer and its
// subscribers exchange over a Unix socket, and their strict codecs. No Vulkan is called here (the
// fuzzer builds the codecs alone with the wire format). Handles travel in the wire layer's own
// encodings (wire.hpp): textures as kMemoryHandle messages, timelines inside TimelineAnnounce.
//
// A producer (Sender, sender.hpp) publishes a ring of N shareable textures (or, for a tensor
// stream, N buffers described by a TensorLayout: SenderInfo::payload) under a name, at
// runtime_dir()/<name>.sock. A subscriber (Subscriber, subscriber.hpp) connects, says Hello, and
// receives once: SenderInfo, N texture handles (kMemoryHandle, one fd each) and the "frame ready"
// timeline (kTimelineHandle, one fd). From then on it receives Frame messages (frame number and
// ring slot, no fds); each Frame it receives is a frame it holds until it sends Release with that
// number (in any order). The producer never writes a slot a subscriber holds.
//
// The producer's DeliveryMode (in SenderInfo) decides which frames a subscriber receives:
// - kLossless: every frame, in order, pushed as it is published; the producer waits for the
//   slot it needs to be released. A subscriber joining after frame F gets Frame F at once
//   (unless F's slot is being written again), then every later frame.
// - kLatest: the subscriber asks with FrameRequest(after), and the producer answers with the
//   newest frame above `after`, at once when there is one, else when it is published. The
//   producer never waits for subscribers: it writes a slot that holds neither the newest frame
//   nor a frame a subscriber holds. So a ring of N lets each subscriber hold N-2 frames.
//
// Protocol 3 adds the copy path (copy_ring.hpp): a subscriber whose device cannot import the ring
// (explain.hpp) says path kCopy in its Hello and receives, in place of the N texture handles, one
// kCopyRingMessage (a CopyRing and its memfd), and a portable ready timeline of its own. The
// producer downloads each frame into that shared-memory ring once, for every copy subscriber.
//
// Protocol 4 adds peer-copy delivery (docs/streams.md, "A consumer on another GPU"): a subscriber
// whose device is another GPU than the producer's says path kPeerCopy and its device UUID in its
// Hello. After SenderInfo the producer answers with one kPeerAnswerMessage (PeerAnswer, no fds):
// - accepted: N handles of the ring the producer keeps on that GPU (kMemoryHandle, as for
//   zero-copy) and a Vulkan ready timeline of that GPU, of the subscriber's own;
// - refused (why in the answer): the copy path follows on the same connection, exactly as for a
//   Hello with path kCopy (kCopyRingMessage, a portable ready timeline).
//
// A subscriber waits for "ready" to reach the frame, reads the slot, and releases. One that holds
// a frame past the producer's release timeout is dropped (kLatest may skip it instead), and told
// why with Dropped before its socket closes. A producer that shuts down sends Goodbye; one that
// dies closes the socket. Either way a subscriber's next wait ends with PeerGoneError, and the
// textures it imported stay valid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"
#include "geyser/sync.hpp"
#include "geyser/tensor_layout.hpp"
#include "geyser/timeline.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"
#include "geyser/wire.hpp"

namespace geyser {

/// The sender protocol's version; Hello and SenderInfo carry it and a mismatch is refused.
constexpr uint16_t kSenderProtocolVersion = 4;
/// Message type of SenderInfo (the other types are MessageType's: kHello, kFrame, kRelease with
/// a FrameNumber, kGoodbye).
constexpr uint16_t kSenderInfoMessage = 21;
/// Message type of a kLatest subscriber's FrameRequest (a FrameNumber: the newest frame it has).
constexpr uint16_t kFrameRequestMessage = 22;
/// Message type of Dropped (a Dropped payload), the producer's last message to a subscriber it
/// ends.
constexpr uint16_t kDroppedMessage = 23;
/// Message type of a copy subscriber's ring (a CopyRing, copy_ring.hpp, with the memfd beside it).
constexpr uint16_t kCopyRingMessage = 24;
/// Message type of the producer's answer to a peer-copy Hello (a PeerAnswer, no fds).
constexpr uint16_t kPeerAnswerMessage = 25;

/// Which frames reach a subscriber (the numbers are part of the wire format).
enum class DeliveryMode : uint8_t {
    /// Every frame reaches every subscriber, in order; the producer waits for the slowest.
    kLossless = 1,
    /// Each subscriber gets the newest frame when it asks; the producer never waits for
    /// subscribers, and a subscriber counts the frames it was too slow for as dropped.
    kLatest = 2,
};

const char* to_string(DeliveryMode mode);
/// SenderInfo::max_held for a ring of `ring_size` in `mode` (0: kLatest needs a ring of 3 or more).
uint32_t max_held_for(DeliveryMode mode, uint32_t ring_size);

enum class TimelineRole : uint8_t {
    kReady = 1,
    kReleased = 2,
};

struct Hello {
    uint16_t protocol = kSenderProtocolVersion;
    uint32_t pid = 0;
    bool subscribe = true;  ///< false: only ask for SenderInfo (listing)
    std::string client;
    /// How the subscriber takes the ring (protocol 3; u8 after `client`): kZeroCopy imports the
    /// textures, kCopy receives the shared-memory copy ring, kPeerCopy (protocol 4) asks the
    /// producer to copy frames GPU to GPU onto the GPU `device_uuid` names.
    SharePath path = SharePath::kZeroCopy;
    /// Protocol 4; 16 bytes after `path`: the subscriber's Vulkan device UUID for kPeerCopy (not
    /// all zero), all zero for every other path.
    Uuid device_uuid{};
};

/// The producer's answer to a Hello with path kPeerCopy. Plain data.
struct PeerAnswer {
    /// Whether frames will be copied GPU to GPU onto the subscriber's GPU (then its ring handles
    /// follow); false: the copy path follows.
    bool accepted = false;
    /// accepted: how the frames are copied (one sentence); refused: why peer copy is not possible.
    /// 1..1024 bytes.
    std::string message;
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
    /// What the ring holds: kTexture (width, height and the formats describe it; `layout` is
    /// empty) or kBuffer (a tensor stream: `layout` describes each slot's buffer, of
    /// layout.size() bytes, and width, height, the formats and the usage are 0).
    ResourceKind payload = ResourceKind::kTexture;
    TensorLayout layout;
    TimelineKind sync_kind = TimelineKind::kPortable;
    DeliveryMode mode = DeliveryMode::kLossless;
    /// Frames one subscriber may hold at once: ring_size for kLossless (the producer then waits
    /// for a release), ring_size - 2 for kLatest (the producer never waits).
    uint32_t max_held = 0;
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

/// Frame (protocol 4: u64 number, u32 slot, u8 flags; a flag bit not defined here is a
/// ProtocolError).
struct FrameMessage {
    uint64_t number = 0;
    uint32_t slot = 0;
    /// The frame's writes had completed when the producer sent this (a host-signalled frame, a copy
    /// subscriber's downloaded one, a GPU-signalled one whose signal had landed): nothing is left
    /// to wait for, and the producer may signal the subscriber's ready timeline after sending.
    bool ready = false;
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
/// Release and FrameRequest: one u64 frame number (0 only in a FrameRequest: "none yet").
std::vector<uint8_t> encode_frame_number(uint64_t number);
uint64_t decode_frame_number(const uint8_t* data, size_t size, const char* what);
/// PeerAnswer: u8 accepted (0 or 1), then the message (a string of 1..1024 bytes).
std::vector<uint8_t> encode_peer_answer(const PeerAnswer& m);
PeerAnswer decode_peer_answer(const uint8_t* data, size_t size);
/// Dropped: the producer's reason, a string of at most 1024 bytes.
std::vector<uint8_t> encode_dropped(const std::string& reason);
std::string decode_dropped(const uint8_t* data, size_t size);

/// Sender names are 1-64 characters of [A-Za-z0-9._-], not starting with '.'; anything else
/// throws InvalidArgumentError (names become file names).
void check_sender_name(const std::string& name);
/// runtime_dir()/<name>.sock
std::string sender_socket_path(const std::string& name);

}  // namespace geyser
