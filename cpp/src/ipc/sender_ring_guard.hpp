// Internal to the Sender: what it does to its own ring before handing it to a subscriber.
#pragma once

#include <memory>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"

namespace geyser {

/// A new export of the ring texture `texture` for the next subscriber, after the ring's file was
/// checked and, where a subscriber changed what the driver keeps in it (every subscriber holds
/// the ring's fds, and Mesa's header sits in the shared file), restored
/// (Device::repair_memory_file). Without it one subscriber could make every later
/// import of the ring fail, or crash the producer when it frees its ring. The caller owns the
/// handle's fd. Throws what export_texture throws, and OsError when the file cannot be written.
MemoryHandle export_ring_texture(Device& device, Texture& texture);
/// The same for a tensor stream's ring buffer.
MemoryHandle export_ring_buffer(Device& device, Buffer& buffer);

/// Before the ring is freed: the same restoration for every texture of `ring`, since the
/// driver frees memory by what it keeps in the file (Mesa unmaps the size its header names,
/// found through the offset kept before the data), and a subscriber may have rewritten both
/// since the last handshake. Does nothing in a fork() child. Never throws.
void restore_ring_before_free(Device& device, const std::vector<std::shared_ptr<Texture>>& ring) noexcept;
void restore_ring_before_free(Device& device, const std::vector<std::shared_ptr<Buffer>>& ring) noexcept;

}  // namespace geyser
