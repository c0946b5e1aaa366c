// Plain value types shared by the core's public headers.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"  // TextureFormat

namespace geyser {

/// A Vulkan device or driver UUID (VK_UUID_SIZE bytes).
using Uuid = std::array<uint8_t, VK_UUID_SIZE>;

/// Lower-case hex, 32 characters, no dashes.
std::string uuid_to_hex(const Uuid& uuid);

/// Which Vulkan object an exported memory handle backs.
enum class ResourceKind : uint32_t {
    kTexture = 1,
    kBuffer = 2,
};

const char* to_string(ResourceKind kind);

/// How frames or a resource reach this process (explain.hpp decides; the numbers are part of the
/// sender protocol's Hello). The names (to_string) are what Python's `Subscriber.path` returns.
enum class SharePath : uint8_t {
    /// The producer's memory imported on this device: no copy at all.
    kZeroCopy = 1,
    /// Through host memory: the producer downloads each frame once into a sealed shared-memory
    /// ring (copy_ring.hpp), and this process uploads it into textures of its own device.
    kCopy = 2,
    /// Copied GPU to GPU: the producer's GPU is another one than this device's, and the producer
    /// copies each frame with CUDA (peer_copy.hpp) into a ring it allocated on this device's GPU,
    /// once per GPU however many subscribers are there; this process imports that ring
    /// zero-copy (docs/streams.md, "A consumer on another GPU").
    kPeerCopy = 3,
};

/// "zero-copy", "copy", "peer-copy".
const char* to_string(SharePath path);

/// The name of a single external handle type bit, such as "opaque_fd", "dma_buf", "sync_fd"
/// ("unknown" for a bit without one). Thread-safe.
const char* external_handle_type_name(uint32_t vk_handle_type_bit);

/// The bit external_handle_type_name calls `name`. Throws InvalidArgumentError, listing the
/// names, for any other string. Thread-safe.
uint32_t external_handle_type_bit(const std::string& name);

}  // namespace geyser
