// Internal to the Sender: the producer's side of the copy path (copy_ring.hpp). Made when the
// first copy subscriber joins; from then on each frame a copy subscriber is given is downloaded
// from its ring texture into the same slot of the shared-memory ring, once per frame however
// many copy subscribers there are. Frames no copy subscriber is given are never downloaded.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "geyser/copy_ring.hpp"

namespace geyser {

class Buffer;
class Texture;

class CopyFeeder {
public:
    /// The copy ring for `ring` (the Sender's textures, all of one descriptor): a sealed memfd
    /// of ring.size() slots, each the tightly packed host copy of every aspect. OsError when the
    /// memfd cannot be made.
    explicit CopyFeeder(std::vector<std::shared_ptr<Texture>> ring);
    /// The copy ring for a tensor stream's `ring` of buffers (all of one size): one plane of
    /// kCopyPlaneBytes per slot, the buffer's bytes as they are.
    explicit CopyFeeder(std::vector<std::shared_ptr<Buffer>> ring);

    const CopyRing& ring() const noexcept { return mapping_.ring(); }
    /// The memfd (borrowed), sent to each copy subscriber beside encode_copy_ring(ring()).
    int fd() const noexcept { return mapping_.fd(); }
    /// Makes copy slot `slot` hold frame `number`, downloading ring texture `slot` unless it holds
    /// that frame already; returns whether it downloaded. The caller guarantees that nobody
    /// writes the texture meanwhile (the Sender calls it under its state lock, for a slot that
    /// is published and not being written) and that no copy subscriber holds the slot's previous
    /// frame (the release rules: the slot is only written again once every holder released it).
    /// Thread-safe: concurrent calls for one frame download it once (end_frame fills without the
    /// Sender's state lock, a late joiner's handshake under it).
    bool fill(uint32_t slot, uint64_t number);

private:
    std::vector<std::shared_ptr<Texture>> textures_;  // a texture ring's, or
    std::vector<std::shared_ptr<Buffer>> buffers_;    // a tensor stream's
    CopyRingMapping mapping_;
    std::mutex mutex_;  // guards frame_in_slot_ and the downloads
    std::vector<uint64_t> frame_in_slot_;  // 0: none yet
};

}  // namespace geyser
