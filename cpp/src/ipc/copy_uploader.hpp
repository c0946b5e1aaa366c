// Internal to the Subscriber: the consumer's side of the copy path (copy_ring.hpp). Maps the
// producer's shared-memory ring, checked against the sender's description and against what a
// texture of that description takes on this device, and uploads a slot into a texture of this
// device's own ring when its frame is taken.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "geyser/copy_ring.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

class Device;
class Buffer;
class Texture;

class CopyUploader {
public:
    /// Creates info.ring_size shareable textures of the sender's descriptor on `device`, then
    /// maps `fd` (taken; CopyRingMapping::open's checks). ProtocolError when `ring` does not
    /// describe those textures (another slot count, other aspects or sizes) or the sender
    /// carries no portable format; UnsupportedFormatError when this device cannot make them.
    CopyUploader(const std::shared_ptr<Device>& device, const SenderInfo& info, const CopyRing& ring, UniqueFd fd);

    const std::vector<std::shared_ptr<Texture>>& textures() const noexcept { return textures_; }
    /// A tensor stream's: info.ring_size shareable buffers of info.layout.size() bytes (the ring
    /// must then be one plane of kCopyPlaneBytes of that size, ProtocolError otherwise).
    const std::vector<std::shared_ptr<Buffer>>& buffers() const noexcept { return buffers_; }
    /// Uploads copy slot `slot` (in range: the Subscriber checks frame slots) into textures()[slot]
    /// (or buffers()[slot]).
    void upload(uint32_t slot);

private:
    std::vector<std::shared_ptr<Texture>> textures_;
    std::vector<std::shared_ptr<Buffer>> buffers_;
    CopyRingMapping mapping_;
};

}  // namespace geyser
