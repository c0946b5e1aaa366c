#include "ipc/copy_uploader.hpp"

#include <string>
#include <utility>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"

namespace geyser {

namespace {

std::vector<std::shared_ptr<Texture>> make_ring(const std::shared_ptr<Device>& device, const SenderInfo& info) {
    if (info.texture_format == TextureFormat::kUnknown) {
        throw ProtocolError("sender '" + info.name + "' describes its textures only by VkFormat " +
                            std::to_string(info.vk_format) + ", so no texture of this device can be made to match: "
                            "the copy path needs a portable TextureFormat");
    }
    TextureDescriptor desc;
    desc.width = info.width;
    desc.height = info.height;
    desc.format = info.texture_format;
    desc.usage = info.texture_usage;
    std::vector<std::shared_ptr<Texture>> out;
    for (uint32_t i = 0; i < info.ring_size; ++i) out.push_back(device->create_shareable_texture(desc));
    return out;
}

// The description the producer sent must be the one these textures take: the same slots, the
// same aspects, each of exactly the host size this device's download and upload use.
const CopyRing& check_layout(const CopyRing& ring, const SenderInfo& info, const Texture& t) {
    std::string diff;
    if (ring.slots != info.ring_size) {
        diff += "; " + std::to_string(ring.slots) + " slots for a ring of " + std::to_string(info.ring_size);
    }
    size_t i = 0;
    for (uint32_t bit = VK_IMAGE_ASPECT_COLOR_BIT; bit <= VK_IMAGE_ASPECT_STENCIL_BIT; bit <<= 1) {
        if (!(t.aspects() & bit)) continue;
        const uint64_t want = t.host_size(static_cast<VkImageAspectFlagBits>(bit));
        if (i >= ring.planes.size() || ring.planes[i].aspect != bit || ring.planes[i].size != want) {
            diff += "; aspect " + std::to_string(bit) + " needs a plane of " + std::to_string(want) + " bytes";
        }
        ++i;
    }
    if (i != ring.planes.size()) diff += "; " + std::to_string(ring.planes.size()) + " planes for " + std::to_string(i) + " aspects";
    if (!diff.empty()) {
        throw ProtocolError("the copy ring of sender '" + info.name + "' does not describe its " +
                            std::to_string(info.width) + "x" + std::to_string(info.height) + " textures: " +
                            diff.substr(2));
    }
    return ring;
}

// A tensor stream's copy ring: one plane of the slot's bytes, as many as its layout takes.
const CopyRing& check_layout(const CopyRing& ring, const SenderInfo& info) {
    const uint64_t want = info.layout.size();
    if (ring.slots != info.ring_size || ring.planes.size() != 1 || ring.planes[0].aspect != kCopyPlaneBytes ||
        ring.planes[0].size != want) {
        throw ProtocolError("the copy ring of sender '" + info.name + "' does not describe its tensor stream: " +
                            std::to_string(info.ring_size) + " slots of one plane of " + std::to_string(want) +
                            " bytes expected");
    }
    return ring;
}

}  // namespace

CopyUploader::CopyUploader(const std::shared_ptr<Device>& device, const SenderInfo& info, const CopyRing& ring,
                           UniqueFd fd) {
    if (info.payload == ResourceKind::kBuffer) {
        for (uint32_t i = 0; i < info.ring_size; ++i) {
            buffers_.push_back(device->create_shareable_buffer(info.layout.size(), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT));
        }
        mapping_ = CopyRingMapping::open(check_layout(ring, info), std::move(fd));
        return;
    }
    textures_ = make_ring(device, info);
    mapping_ = CopyRingMapping::open(check_layout(ring, info, *textures_.front()), std::move(fd));
}

void CopyUploader::upload(uint32_t slot) {
    const CopyRing& r = mapping_.ring();
    if (!buffers_.empty()) {
        buffers_[slot]->write(mapping_.plane(slot, 0), static_cast<size_t>(r.planes[0].size));
        return;
    }
    for (size_t i = 0; i < r.planes.size(); ++i) {
        textures_[slot]->upload(static_cast<VkImageAspectFlagBits>(r.planes[i].aspect), mapping_.plane(slot, i),
                                static_cast<size_t>(r.planes[i].size));
    }
}

}  // namespace geyser
