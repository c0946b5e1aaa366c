// The copy ring's codec (geyser/copy_ring.hpp): strict, no Vulkan, built alone by the fuzzer.
#include <string>

#include "geyser/copy_ring.hpp"
#include "geyser/error.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {

constexpr uint32_t kColor = 0x1;    // VK_IMAGE_ASPECT_COLOR_BIT
constexpr uint32_t kDepth = 0x2;    // VK_IMAGE_ASPECT_DEPTH_BIT
constexpr uint32_t kStencil = 0x4;  // VK_IMAGE_ASPECT_STENCIL_BIT

}  // namespace

std::vector<uint8_t> encode_copy_ring(const CopyRing& ring) {
    WireWriter w;
    w.u32(ring.slots);
    w.u64(ring.slot_size);
    w.u32(static_cast<uint32_t>(ring.planes.size()));
    for (const CopyPlane& p : ring.planes) {
        w.u32(p.aspect);
        w.u64(p.offset);
        w.u64(p.size);
    }
    return w.take();
}

CopyRing decode_copy_ring(const uint8_t* data, size_t size) {
    WireReader r(data, size, "copy_ring");
    CopyRing ring;
    ring.slots = r.u32("slots");
    ring.slot_size = r.u64("slot_size");
    const uint32_t count = r.u32("plane count");
    if (ring.slots == 0 || ring.slots > 64) {
        throw ProtocolError("copy_ring.slots must be 1..64, got " + std::to_string(ring.slots));
    }
    if (count == 0 || count > 2) throw ProtocolError("copy_ring has " + std::to_string(count) + " planes, not 1 or 2");
    if (ring.slot_size == 0 || ring.slot_size > kMaxCopySlotSize) {
        throw ProtocolError("copy_ring.slot_size " + std::to_string(ring.slot_size) + " is not 1.." +
                            std::to_string(kMaxCopySlotSize));
    }
    uint64_t end = 0;
    uint32_t last = 0;
    for (uint32_t i = 0; i < count; ++i) {
        CopyPlane p;
        p.aspect = r.u32("plane aspect");
        p.offset = r.u64("plane offset");
        p.size = r.u64("plane size");
        const bool single = p.aspect == kColor || p.aspect == kDepth || p.aspect == kStencil;
        const bool alone = p.aspect == kColor || p.aspect == kCopyPlaneBytes;
        if (!(single || p.aspect == kCopyPlaneBytes) || (i > 0 && p.aspect <= last) || (alone && count != 1)) {
            throw ProtocolError("copy_ring plane " + std::to_string(i) + " has aspect " + std::to_string(p.aspect) +
                                ": expected COLOR alone, DEPTH and/or STENCIL in that order, or a buffer's bytes "
                                "alone");
        }
        // Packed end to end: every byte of a slot belongs to exactly one plane, and none lies
        // outside the slot (the sizes are bounded, so the sum cannot wrap).
        if (p.size == 0 || p.offset != end || p.size > ring.slot_size - end) {
            throw ProtocolError("copy_ring plane " + std::to_string(i) + " [" + std::to_string(p.offset) + ", +" +
                                std::to_string(p.size) + ") is not packed after " + std::to_string(end) +
                                " within a slot of " + std::to_string(ring.slot_size) + " bytes");
        }
        end += p.size;
        last = p.aspect;
        ring.planes.push_back(p);
    }
    r.finish();
    if (end != ring.slot_size) {
        throw ProtocolError("copy_ring planes cover " + std::to_string(end) + " bytes of a slot of " +
                            std::to_string(ring.slot_size));
    }
    return ring;
}

}  // namespace geyser
