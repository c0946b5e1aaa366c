// The versioned, length-prefixed wire format spoken on Geyser channels. The core owns it: C++ and
// Python peers interoperate only through the layout written down here, so any change to it must
// bump kWireVersion.
//
// A frame is a 16-byte header followed by the payload. Every integer is little-endian and is
// written byte by byte (never a memcpy of a host struct):
//
//   offset size field
//   0      4    magic         0x52535947, so the bytes on the wire spell "GYSR"
//   4      2    version       kWireVersion (1)
//   6      2    type          a MessageType value
//   8      4    payload_size  bytes that follow the header, at most kMaxPayloadSize
//   12     2    fd_count      file descriptors that travel with the frame (SCM_RIGHTS), at most
//                             kMaxFdsPerMessage; the receiver demands exactly this many
//   14     2    flags         reserved; must be 0 in version 1
//
// Payload fields use the same little-endian integers; variable-length bytes and strings carry a
// u32 length prefix; a UUID is its VK_UUID_SIZE raw bytes; a boolean is one byte, 0 or 1.
//
// Each handle has one codec here (encode_*/decode_*: MemoryHandle, SyncHandle, TimelineHandle),
// and it is the only serialisation of that handle: the channel (channel.hpp), the named-sender
// protocol and Python's pickling all carry these bytes, with the fd beside them. Every encoding
// is canonical: a payload that decodes re-encodes to the same bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "geyser/memory.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

/// The header's first four bytes, read as a little-endian u32 ("GYSR" on the wire).
constexpr uint32_t kWireMagic = 0x52535947u;
/// The only wire version this build speaks. A frame of any other version is a ProtocolError.
constexpr uint16_t kWireVersion = 1;
/// Size of the fixed frame header in bytes.
constexpr size_t kFrameHeaderSize = 16;
/// Largest payload one frame may carry (the header is not counted).
constexpr size_t kMaxPayloadSize = 64 * 1024;
/// Most file descriptors one frame may carry.
constexpr size_t kMaxFdsPerMessage = 16;
/// Longest string (in UTF-8 bytes) a WireReader accepts unless the caller asks for another limit.
constexpr size_t kMaxStringSize = 4096;

/// Message type numbers. They are part of the wire format: never renumber, only add.
/// Handle-carrying messages use 1-15, session control 16 and up.
enum class MessageType : uint16_t {
    kMemoryHandle = 1,  ///< encode_memory_handle payload + exactly one fd.
    /// encode_sync_handle payload (a semaphore or a fence) + one fd, or none for an
    /// already-signalled sync FD.
    kSyncHandle = 2,
    /// encode_timeline_handle payload + exactly one fd. The named-sender protocol's
    /// TimelineAnnounce travels under this type too, as a u8 role followed by that same payload
    /// (sender_protocol.hpp); only a sender session sends it.
    kTimelineHandle = 3,
    kHello = 16,
    kSubscribe = 17,
    kFrame = 18,
    kRelease = 19,
    kGoodbye = 20,
};

/// The snake_case name of a message type ("memory_handle"), or "unknown" for a number this build
/// does not define. For error messages.
const char* message_type_name(uint16_t type) noexcept;

/// One received frame. Move-only: it owns the fds that arrived with it and closes any that the
/// caller does not move out.
struct Message {
    uint16_t type = 0;
    std::vector<uint8_t> payload;
    std::vector<UniqueFd> fds;
};

/// A validated frame header (magic, version and flags are checked, so they are not kept).
struct FrameHeader {
    uint16_t type = 0;
    uint32_t payload_size = 0;
    uint16_t fd_count = 0;
};

/// Encodes a header. Throws InvalidArgumentError when `payload_size` exceeds kMaxPayloadSize or
/// `fd_count` exceeds kMaxFdsPerMessage.
std::array<uint8_t, kFrameHeaderSize> encode_header(uint16_t type, size_t payload_size, size_t fd_count);

/// Header followed by a copy of `payload`. Throws as encode_header does.
std::vector<uint8_t> encode_frame(uint16_t type, const std::vector<uint8_t>& payload, size_t fd_count);

/// Decodes and validates the header at the start of [data, data+size); bytes after the first
/// kFrameHeaderSize are ignored here (the caller checks them against payload_size). Throws
/// ProtocolError for a short buffer, wrong magic, unknown version, non-zero flags, or a payload
/// size or fd count over the limits.
FrameHeader decode_header(const uint8_t* data, size_t size);

/// Appends little-endian fields to a growing buffer. Not thread-safe; cheap to create per message.
class WireWriter {
public:
    void u8(uint8_t value);
    void u16(uint16_t value);
    void u32(uint32_t value);
    void u64(uint64_t value);
    void boolean(bool value);
    void uuid(const Uuid& value);
    /// u32 length, then the bytes. Throws InvalidArgumentError above kMaxPayloadSize bytes.
    void bytes(const uint8_t* data, size_t size, const char* field = "bytes");
    void bytes(const std::vector<uint8_t>& value, const char* field = "bytes") {
        bytes(value.data(), value.size(), field);
    }
    /// u32 length, then the UTF-8 bytes. Throws InvalidArgumentError when `value` is longer than
    /// `max_size` bytes or is not valid UTF-8 (Python peers decode strictly).
    void string(const std::string& value, const char* field = "string", size_t max_size = kMaxStringSize);

    const std::vector<uint8_t>& data() const noexcept { return data_; }
    /// Moves the encoded bytes out; the writer is empty afterwards.
    std::vector<uint8_t> take() noexcept;

private:
    std::vector<uint8_t> data_;
};

/// Strict reader over a borrowed buffer, which must outlive it. Every read is bounds-checked and
/// names its field: running past the end, a boolean other than 0/1, an over-long or non-UTF-8
/// string all throw ProtocolError. Call finish() after the last field to reject trailing bytes.
/// Not thread-safe.
class WireReader {
public:
    /// `what` names the message in error texts ("memory_handle").
    WireReader(const uint8_t* data, size_t size, std::string what);

    uint8_t u8(const char* field);
    uint16_t u16(const char* field);
    uint32_t u32(const char* field);
    uint64_t u64(const char* field);
    bool boolean(const char* field);
    Uuid uuid(const char* field);
    std::vector<uint8_t> bytes(const char* field, size_t max_size = kMaxPayloadSize);
    std::string string(const char* field, size_t max_size = kMaxStringSize);

    size_t offset() const noexcept { return offset_; }
    size_t remaining() const noexcept { return size_ - offset_; }
    /// Throws ProtocolError if any bytes are left unread.
    void finish() const;

private:
    const uint8_t* take(const char* field, size_t n);
    uint64_t little_endian(const char* field, size_t n);

    const uint8_t* data_;
    size_t size_;
    size_t offset_ = 0;
    std::string what_;
};

/// Encodes every field of `handle` except its fd (which travels as SCM_RIGHTS), in this order:
///   u32 kind, u32 handle_type, u64 size, u32 memory_type_index, u8 dedicated,
///   16 B device_uuid, 16 B driver_uuid, u32 width, u32 height, u32 vk_format, u32 vk_usage,
///   u32 vk_tiling, u32 vk_create_flags, u32 vk_layout, u32 texture_format, u32 texture_usage,
///   u64 buffer_size, u32 buffer_usage
/// (101 bytes; Python: struct "<IIQIB16s16sIIIIIIIIIQI"). Throws InvalidArgumentError if the
/// description would fail decode_memory_handle's checks, so a bad handle fails at its source.
std::vector<uint8_t> encode_memory_handle(const MemoryHandle& handle);

/// Decodes the payload of a kMemoryHandle message and pairs it with `fd`. Validates every field:
/// a known kind; exactly one handle-type bit, and one that travels as an fd (opaque fd or
/// dma-buf); size > 0; for textures width, height > 0, a format, a usage, a known tiling and
/// texture_format <= 21; for buffers 0 < buffer_size <= size and a usage; booleans 0/1; Vulkan
/// enums within int32; no trailing bytes. Throws ProtocolError naming the field; `fd` is closed
/// on every error path because it is owned by value.
MemoryHandle decode_memory_handle(const uint8_t* data, size_t size, UniqueFd fd);

/// Size of an encoded SyncHandle.
constexpr size_t kSyncHandlePayloadSize = 54;

/// Encodes every field of `handle` except its fd (which travels as SCM_RIGHTS), in this order:
///   u32 primitive (1 semaphore, 2 fence), u32 semaphore_type (1 binary, 2 timeline),
///   u32 handle_type, u8 already_signaled, u8 permanent, u64 initial_value,
///   16 B device_uuid, 16 B driver_uuid
/// (kSyncHandlePayloadSize bytes; Python: struct "<IIIBBQ16s16s"). Throws InvalidArgumentError if
/// the description would fail decode_sync_handle's checks, so a bad handle fails at its source.
/// The permanence and the handle types a device can import are the importer's to check
/// (Device::import_semaphore / import_fence), not the codec's.
std::vector<uint8_t> encode_sync_handle(const SyncHandle& handle);

/// Decodes the payload of a kSyncHandle message and pairs it with `fd`. Validates every field: a
/// known primitive and semaphore type (a fence's is binary); handle_type opaque fd (0x1) or sync
/// fd (0x10, the value SyncHandle uses for the sync FD of semaphores and fences alike), and opaque
/// fd for a timeline semaphore (a timeline has no sync FD, Vulkan spec);
/// initial_value 0 unless the handle is a timeline semaphore's; booleans 0/1; already_signaled
/// only for a sync fd, and then no fd, otherwise exactly one; no trailing bytes. Throws
/// ProtocolError naming the field; `fd` (empty for an already-signalled sync FD) is owned by value
/// and closed on every error path.
SyncHandle decode_sync_handle(const uint8_t* data, size_t size, UniqueFd fd);

/// Encodes a TimelineHandle except its fd (which travels as SCM_RIGHTS):
///   u8 kind (TimelineKind: 1 portable, 2 vulkan)
///   kVulkan only: u32 length, then encode_sync_handle of `handle.semaphore` (a timeline semaphore)
/// (1 byte for a portable timeline, 59 for a Vulkan one). Throws InvalidArgumentError for an
/// unknown kind or, for kVulkan, a semaphore description decode_timeline_handle would refuse.
std::vector<uint8_t> encode_timeline_handle(const TimelineHandle& handle);
/// The same encoding from a kind and, for kVulkan, the semaphore's description (its fd is not
/// read), for messages that embed a timeline without owning a TimelineHandle (the sender
/// protocol's TimelineAnnounce). Throws as above.
std::vector<uint8_t> encode_timeline_handle(TimelineKind kind, const SyncHandle& semaphore);

/// Decodes the payload of a kTimelineHandle message and pairs it with `fd`, which must be
/// present: it ends up in `semaphore.fd` for kVulkan and in `fd` for kPortable. Validates a known
/// kind, for kVulkan a semaphore payload that decode_sync_handle accepts and that describes a
/// timeline semaphore, and no trailing bytes. Throws ProtocolError naming the field; `fd` is
/// closed on every error path.
TimelineHandle decode_timeline_handle(const uint8_t* data, size_t size, UniqueFd fd);

}  // namespace geyser
