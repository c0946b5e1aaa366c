#include "ipc/copy_feeder.hpp"

#include <utility>

#include "geyser/memory.hpp"

namespace geyser {

namespace {

CopyRing layout_of(const std::vector<std::shared_ptr<Texture>>& ring) {
    CopyRing out;
    out.slots = static_cast<uint32_t>(ring.size());
    const Texture& t = *ring.front();
    for (uint32_t bit = VK_IMAGE_ASPECT_COLOR_BIT; bit <= VK_IMAGE_ASPECT_STENCIL_BIT; bit <<= 1) {
        if (!(t.aspects() & bit)) continue;
        const uint64_t size = t.host_size(static_cast<VkImageAspectFlagBits>(bit));
        out.planes.push_back(CopyPlane{bit, out.slot_size, size});
        out.slot_size += size;
    }
    return out;
}

CopyRing layout_of(const std::vector<std::shared_ptr<Buffer>>& ring) {
    CopyRing out;
    out.slots = static_cast<uint32_t>(ring.size());
    out.slot_size = ring.front()->size();
    out.planes.push_back(CopyPlane{kCopyPlaneBytes, 0, out.slot_size});
    return out;
}

}  // namespace

CopyFeeder::CopyFeeder(std::vector<std::shared_ptr<Buffer>> ring)
    : buffers_(std::move(ring)),
      mapping_(CopyRingMapping::create(layout_of(buffers_))),
      frame_in_slot_(buffers_.size(), 0) {}

CopyFeeder::CopyFeeder(std::vector<std::shared_ptr<Texture>> ring)
    : textures_(std::move(ring)),
      mapping_(CopyRingMapping::create(layout_of(textures_))),
      frame_in_slot_(textures_.size(), 0) {}

bool CopyFeeder::fill(uint32_t slot, uint64_t number) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (frame_in_slot_.at(slot) == number) return false;
    const CopyRing& r = mapping_.ring();
    // Marked empty first: a download that fails half-way leaves no frame number on torn bytes.
    frame_in_slot_[slot] = 0;
    if (!buffers_.empty()) {
        buffers_[slot]->read(mapping_.plane(slot, 0), static_cast<size_t>(r.planes[0].size));
        frame_in_slot_[slot] = number;
        return true;
    }
    Texture& t = *textures_[slot];
    for (size_t i = 0; i < r.planes.size(); ++i) {
        t.download(static_cast<VkImageAspectFlagBits>(r.planes[i].aspect), mapping_.plane(slot, i),
                   static_cast<size_t>(r.planes[i].size));
    }
    frame_in_slot_[slot] = number;
    return true;
}

}  // namespace geyser
