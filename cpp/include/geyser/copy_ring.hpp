// The copy path's shared-memory ring (sender_protocol.hpp, protocol 3): what a producer fills for
// subscribers whose device cannot import its textures, and how it is described on the wire. One
// memfd of `slots` slots of `slot_size` bytes, slot i holding the frame in ring slot i; each slot
// holds the texture's aspects (planes) tightly packed, as Texture::download writes them. The
// producer seals its size (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so that no mapping can
// lose its pages, and its writes (F_SEAL_FUTURE_WRITE): only the producer's own mapping writes, so
// no copy subscriber can change what another reads. The codec has no Vulkan in it (the fuzzer builds it alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "geyser/unique_fd.hpp"

namespace geyser {

/// One aspect of a slot: its VkImageAspectFlagBits bit (kCopyPlaneBytes for a tensor stream's
/// buffer: the slot's bytes as they are), and where in the slot its bytes are.
struct CopyPlane {
    uint32_t aspect = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
};

/// The aspect of a buffer ring's one plane: a tensor stream's slot, byte for byte.
constexpr uint32_t kCopyPlaneBytes = 0;

/// A copy ring's description. Plain data.
struct CopyRing {
    uint32_t slots = 0;      ///< 1..64, the sender's ring_size
    uint64_t slot_size = 0;  ///< bytes of one slot: the planes, end to end
    std::vector<CopyPlane> planes;  ///< 1 or 2 (depth and stencil), in aspect-bit order

    /// slots * slot_size: the memfd's size.
    uint64_t file_size() const noexcept { return static_cast<uint64_t>(slots) * slot_size; }
};

/// The largest slot a copy ring may have (a 16384x16384 RGBA32F texture is 4 GiB; this is 4 GiB).
constexpr uint64_t kMaxCopySlotSize = uint64_t{1} << 32;

/// u32 slots, u64 slot_size, u32 plane count, then per plane u32 aspect, u64 offset, u64 size.
std::vector<uint8_t> encode_copy_ring(const CopyRing& ring);
/// Strict: ProtocolError for anything but 1..64 slots, 1..2 planes of distinct single aspect bits
/// in increasing order (COLOR alone, DEPTH and/or STENCIL, or kCopyPlaneBytes alone), each non-empty, packed end to end
/// from offset 0 and filling slot_size exactly, slot_size at most kMaxCopySlotSize.
CopyRing decode_copy_ring(const uint8_t* data, size_t size);

/// The shared-memory file and its mapping. Move-only: unmapped and closed on destruction.
class CopyRingMapping {
public:
    CopyRingMapping() = default;
    CopyRingMapping(CopyRingMapping&& other) noexcept;
    CopyRingMapping& operator=(CopyRingMapping&& other) noexcept;
    CopyRingMapping(const CopyRingMapping&) = delete;
    CopyRingMapping& operator=(const CopyRingMapping&) = delete;
    ~CopyRingMapping();

    /// The producer's side: a new memfd of ring.file_size() bytes, sealed, mapped read-write.
    /// OsError when memfd_create, ftruncate or mmap fail.
    static CopyRingMapping create(const CopyRing& ring);
    /// The subscriber's side: maps `fd` (taken) read-only after checking it against `ring`: it
    /// must be a sealed shared-memory file (F_SEAL_SHRINK, so a peer can never truncate it under
    /// the mapping: SIGBUS) of exactly ring.file_size() bytes. ProtocolError otherwise, `fd`
    /// closed on every error path.
    static CopyRingMapping open(const CopyRing& ring, UniqueFd fd);

    const CopyRing& ring() const noexcept { return ring_; }
    int fd() const noexcept { return fd_.get(); }
    /// Slot `slot`'s plane `plane` (ring().planes[plane]); slot and plane must be in range.
    uint8_t* plane(uint32_t slot, size_t plane) const noexcept;

private:
    CopyRing ring_;
    UniqueFd fd_;
    uint8_t* base_ = nullptr;
    size_t length_ = 0;
};

}  // namespace geyser
