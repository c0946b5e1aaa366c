#include "vulkan/formats.hpp"

#include <string>

namespace geyser {

namespace {

struct FormatFacts {
    VkImageAspectFlags aspects;
    uint32_t color_or_depth_size;  // bytes per texel of COLOR, or of DEPTH
    uint32_t stencil_size;
};

bool facts(VkFormat f, FormatFacts& out) {
    constexpr VkImageAspectFlags C = VK_IMAGE_ASPECT_COLOR_BIT;
    constexpr VkImageAspectFlags D = VK_IMAGE_ASPECT_DEPTH_BIT;
    constexpr VkImageAspectFlags S = VK_IMAGE_ASPECT_STENCIL_BIT;
    switch (f) {
        case VK_FORMAT_R8_UNORM: out = {C, 1, 0}; return true;
        case VK_FORMAT_R8G8_UNORM: out = {C, 2, 0}; return true;
        case VK_FORMAT_R8G8B8_UNORM: out = {C, 3, 0}; return true;
        case VK_FORMAT_R8G8B8A8_UNORM:
        case VK_FORMAT_R8G8B8A8_SRGB:
        case VK_FORMAT_B8G8R8A8_UNORM:
        case VK_FORMAT_B8G8R8A8_SRGB:
        case VK_FORMAT_A2B10G10R10_UNORM_PACK32:
        case VK_FORMAT_A2R10G10B10_UNORM_PACK32:
        case VK_FORMAT_B10G11R11_UFLOAT_PACK32:
        case VK_FORMAT_R16G16_SFLOAT:
        case VK_FORMAT_R32_SFLOAT:
        case VK_FORMAT_R32_UINT:
        case VK_FORMAT_R32_SINT: out = {C, 4, 0}; return true;
        case VK_FORMAT_R16_SFLOAT:
        case VK_FORMAT_R16_UINT:
        case VK_FORMAT_R16_SINT:
        case VK_FORMAT_R16_UNORM: out = {C, 2, 0}; return true;
        case VK_FORMAT_R16G16B16A16_SFLOAT:
        case VK_FORMAT_R32G32_SFLOAT: out = {C, 8, 0}; return true;
        case VK_FORMAT_R32G32B32A32_SFLOAT: out = {C, 16, 0}; return true;
        case VK_FORMAT_D16_UNORM: out = {D, 2, 0}; return true;
        case VK_FORMAT_X8_D24_UNORM_PACK32:
        case VK_FORMAT_D32_SFLOAT: out = {D, 4, 0}; return true;
        case VK_FORMAT_S8_UINT: out = {S, 0, 1}; return true;
        case VK_FORMAT_D16_UNORM_S8_UINT: out = {D | S, 2, 1}; return true;
        case VK_FORMAT_D24_UNORM_S8_UINT:
        case VK_FORMAT_D32_SFLOAT_S8_UINT: out = {D | S, 4, 1}; return true;
        default: return false;
    }
}

FormatFacts require(VkFormat f) {
    FormatFacts ff{};
    if (!facts(f, ff)) {
        throw UnsupportedFormatError("VkFormat " + std::to_string(static_cast<int>(f)) +
                                     " is not one Geyser can copy to or from the host");
    }
    return ff;
}

}  // namespace

VkImageAspectFlags format_aspects(VkFormat format) { return require(format).aspects; }

uint32_t aspect_texel_size(VkFormat format, VkImageAspectFlagBits aspect) {
    const FormatFacts ff = require(format);
    if (!(ff.aspects & aspect)) {
        throw InvalidArgumentError("VkFormat " + std::to_string(static_cast<int>(format)) + " has no aspect 0x" +
                                   std::to_string(static_cast<unsigned>(aspect)));
    }
    return aspect == VK_IMAGE_ASPECT_STENCIL_BIT ? ff.stencil_size : ff.color_or_depth_size;
}

}  // namespace geyser
