#include "ipc/sender_ring_guard.hpp"

namespace geyser {

MemoryHandle export_ring_texture(Device& device, Texture& texture) {
    MemoryHandle h = device.export_texture(texture);
    // A holder can rewrite it again right after this; docs/reliability.md says what that leaves.
    (void)device.repair_memory_file(h.fd.get(), h.size);
    return h;
}

MemoryHandle export_ring_buffer(Device& device, Buffer& buffer) {
    MemoryHandle h = device.export_buffer(buffer);
    (void)device.repair_memory_file(h.fd.get(), h.size);
    return h;
}

void restore_ring_before_free(Device& device, const std::vector<std::shared_ptr<Buffer>>& ring) noexcept {
    if (device.inherited_across_fork()) return;
    for (const auto& buffer : ring) {
        try {
            (void)export_ring_buffer(device, *buffer);
        } catch (...) {
            // As for textures: the others are still restored.
        }
    }
}

void restore_ring_before_free(Device& device, const std::vector<std::shared_ptr<Texture>>& ring) noexcept {
    if (device.inherited_across_fork()) return;  // the parent's ring is the parent's
    for (const auto& texture : ring) {
        try {
            (void)export_ring_texture(device, *texture);
        } catch (...) {
            // Nothing more can be done for it; the others are still restored.
        }
    }
}

}  // namespace geyser
