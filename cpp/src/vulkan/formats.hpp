// Internal: per-VkFormat facts the core needs for copies (aspects and packed texel sizes), for
// every VkFormat a texture can have: those of the format table (geyser/formats.hpp,
// cpp/src/format_table.cpp) and the few more an importer accepts in a handle that carries no
// TextureFormat tag.
#pragma once

#include <cstdint>

#include "vulkan/vk.hpp"

namespace geyser {

/// COLOR, or the DEPTH/STENCIL bits the format has. Throws UnsupportedFormatError for formats
/// the core does not know how to copy.
VkImageAspectFlags format_aspects(VkFormat format);

/// Bytes per texel of `aspect` in a tightly packed buffer copy (vkCmdCopyImageToBuffer rules:
/// D24 depth takes 4 bytes, stencil 1).
uint32_t aspect_texel_size(VkFormat format, VkImageAspectFlagBits aspect);

}  // namespace geyser
