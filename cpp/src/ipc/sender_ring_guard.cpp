#include "ipc/sender_ring_guard.hpp"

namespace geyser {

MemoryHandle export_ring_texture(Device& device, Texture& texture) {
    MemoryHandle h = device.export_texture(texture);
    // A holder can rewrite it again right after this; docs/reliability.md says what that leaves.
    (void)device.repair_exported_memory_file(h.fd.get(), h.size);
    return h;
}

}  // namespace geyser
