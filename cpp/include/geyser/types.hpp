// Plain value types shared by the core's public headers.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <vulkan/vulkan_core.h>

namespace geyser {

/// A Vulkan device or driver UUID (VK_UUID_SIZE bytes).
using Uuid = std::array<uint8_t, VK_UUID_SIZE>;

/// Lower-case hex, 32 characters, no dashes.
std::string uuid_to_hex(const Uuid& uuid);

/// The original project's 21 texture formats. The numbers are part of the wire format and match
/// geyser.TextureFormat in Python; the Vulkan mapping lives in Python's format table. kUnknown
/// marks a texture described only by its VkFormat (a C++ producer that chose its own format).
enum class TextureFormat : uint32_t {
    kUnknown = 0,
    kRgba8Unorm = 1,
    kBgra8Unorm = 2,
    kRgba8Srgb = 3,
    kBgra8Srgb = 4,
    kR8Unorm = 5,
    kRg8Unorm = 6,
    kR16Float = 7,
    kRg16Float = 8,
    kRgba16Float = 9,
    kR16Uint = 10,
    kR16Sint = 11,
    kR32Float = 12,
    kRg32Float = 13,
    kRgba32Float = 14,
    kR32Uint = 15,
    kR32Sint = 16,
    kDepth32Float = 17,
    kDepth24Plus = 18,
    kDepth24PlusStencil8 = 19,
    kRgb10a2Unorm = 20,
    kRg11b10Float = 21,
};

/// Which Vulkan object an exported memory handle backs.
enum class ResourceKind : uint32_t {
    kTexture = 1,
    kBuffer = 2,
};

const char* to_string(ResourceKind kind);

/// The name of a single external handle type bit, such as "opaque_fd", "dma_buf", "sync_fd".
const char* external_handle_type_name(uint32_t vk_handle_type_bit);

}  // namespace geyser
