// The format table (geyser/formats.hpp): portable, no Vulkan loader or device involved. The
// VkFormat values come from vulkan_core.h; the Metal and GL values are written as numbers so
// that no Metal or GL header is needed on any platform.
#include "geyser/formats.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "geyser/error.hpp"

namespace geyser {

namespace {

// MTLPixelFormat values (Metal's MTLPixelFormat.h), for the Metal backend (cpp/src/metal/,
// untested: docs/platforms.md). Apple-silicon GPUs have no Depth24Unorm_Stencil8, so DEPTH24_PLUS
// maps to Depth32Float and DEPTH24_PLUS_STENCIL8 to Depth32Float_Stencil8 on every Mac: the same
// formats as the second Vulkan choice, so a Vulkan peer that picked those agrees bit for bit.
namespace mtl {
constexpr uint32_t R8Unorm = 10;
constexpr uint32_t R16Uint = 23;
constexpr uint32_t R16Sint = 24;
constexpr uint32_t R16Float = 25;
constexpr uint32_t RG8Unorm = 30;
constexpr uint32_t R32Uint = 53;
constexpr uint32_t R32Sint = 54;
constexpr uint32_t R32Float = 55;
constexpr uint32_t RG16Float = 65;
constexpr uint32_t RGBA8Unorm = 70;
constexpr uint32_t RGBA8Unorm_sRGB = 71;
constexpr uint32_t BGRA8Unorm = 80;
constexpr uint32_t BGRA8Unorm_sRGB = 81;
constexpr uint32_t RGB10A2Unorm = 90;
constexpr uint32_t RG11B10Float = 92;
constexpr uint32_t RG32Float = 105;
constexpr uint32_t RGBA16Float = 115;
constexpr uint32_t RGBA32Float = 125;
constexpr uint32_t Depth32Float = 252;
constexpr uint32_t Depth32Float_Stencil8 = 260;
}  // namespace mtl

// Sized internal formats of OpenGL 4.x (glcorearb.h), for glTexStorageMem2DEXT over memory
// imported with GL_EXT_memory_object_fd. Core GL has no sized BGRA8 format (GL_BGRA8_EXT is an
// OpenGL ES extension), so the BGRA8 rows have 0.
namespace gl {
constexpr uint32_t RGBA8 = 0x8058;
constexpr uint32_t RGB10_A2 = 0x8059;
constexpr uint32_t DEPTH_COMPONENT24 = 0x81A6;
constexpr uint32_t R8 = 0x8229;
constexpr uint32_t RG8 = 0x822B;
constexpr uint32_t R16F = 0x822D;
constexpr uint32_t R32F = 0x822E;
constexpr uint32_t RG16F = 0x822F;
constexpr uint32_t RG32F = 0x8230;
constexpr uint32_t R16I = 0x8233;
constexpr uint32_t R16UI = 0x8234;
constexpr uint32_t R32I = 0x8235;
constexpr uint32_t R32UI = 0x8236;
constexpr uint32_t RGBA32F = 0x8814;
constexpr uint32_t RGBA16F = 0x881A;
constexpr uint32_t DEPTH24_STENCIL8 = 0x88F0;
constexpr uint32_t R11F_G11F_B10F = 0x8C3A;
constexpr uint32_t SRGB8_ALPHA8 = 0x8C43;
constexpr uint32_t DEPTH_COMPONENT32F = 0x8CAC;
constexpr uint32_t DEPTH32F_STENCIL8 = 0x8CAD;
}  // namespace gl

constexpr VkImageAspectFlags C = VK_IMAGE_ASPECT_COLOR_BIT;
constexpr VkImageAspectFlags D = VK_IMAGE_ASPECT_DEPTH_BIT;
constexpr VkImageAspectFlags DS = VK_IMAGE_ASPECT_DEPTH_BIT | VK_IMAGE_ASPECT_STENCIL_BIT;
constexpr VkFormat kNone = VK_FORMAT_UNDEFINED;

FormatInfo row(TextureFormat f, const char* name, VkFormat vk0, VkFormat vk1, VkImageAspectFlags aspects,
               HostScalar scalar, uint32_t channels, bool packed, uint32_t mtl_format, uint32_t gl0, uint32_t gl1) {
    FormatInfo r;
    r.format = f;
    r.name = name;
    r.vk_formats = {vk0, vk1};
    r.aspects = aspects;
    r.scalar = scalar;
    r.channels = channels;
    r.packed = packed;
    r.mtl_format = mtl_format;
    r.gl_internal_formats = {gl0, gl1};
    return r;
}

std::vector<FormatInfo> make_table() {
    using F = TextureFormat;
    using S = HostScalar;
    return {
        row(F::kRgba8Unorm, "RGBA8_UNORM", VK_FORMAT_R8G8B8A8_UNORM, kNone, C, S::kUint8, 4, false, mtl::RGBA8Unorm,
            gl::RGBA8, 0),
        row(F::kBgra8Unorm, "BGRA8_UNORM", VK_FORMAT_B8G8R8A8_UNORM, kNone, C, S::kUint8, 4, false, mtl::BGRA8Unorm,
            0, 0),
        row(F::kRgba8Srgb, "RGBA8_SRGB", VK_FORMAT_R8G8B8A8_SRGB, kNone, C, S::kUint8, 4, false,
            mtl::RGBA8Unorm_sRGB, gl::SRGB8_ALPHA8, 0),
        row(F::kBgra8Srgb, "BGRA8_SRGB", VK_FORMAT_B8G8R8A8_SRGB, kNone, C, S::kUint8, 4, false,
            mtl::BGRA8Unorm_sRGB, 0, 0),
        row(F::kR8Unorm, "R8_UNORM", VK_FORMAT_R8_UNORM, kNone, C, S::kUint8, 1, false, mtl::R8Unorm, gl::R8, 0),
        row(F::kRg8Unorm, "RG8_UNORM", VK_FORMAT_R8G8_UNORM, kNone, C, S::kUint8, 2, false, mtl::RG8Unorm, gl::RG8, 0),
        row(F::kR16Float, "R16_FLOAT", VK_FORMAT_R16_SFLOAT, kNone, C, S::kFloat16, 1, false, mtl::R16Float,
            gl::R16F, 0),
        row(F::kRg16Float, "RG16_FLOAT", VK_FORMAT_R16G16_SFLOAT, kNone, C, S::kFloat16, 2, false, mtl::RG16Float,
            gl::RG16F, 0),
        row(F::kRgba16Float, "RGBA16_FLOAT", VK_FORMAT_R16G16B16A16_SFLOAT, kNone, C, S::kFloat16, 4, false,
            mtl::RGBA16Float, gl::RGBA16F, 0),
        row(F::kR16Uint, "R16_UINT", VK_FORMAT_R16_UINT, kNone, C, S::kUint16, 1, false, mtl::R16Uint, gl::R16UI, 0),
        row(F::kR16Sint, "R16_SINT", VK_FORMAT_R16_SINT, kNone, C, S::kInt16, 1, false, mtl::R16Sint, gl::R16I, 0),
        row(F::kR32Float, "R32_FLOAT", VK_FORMAT_R32_SFLOAT, kNone, C, S::kFloat32, 1, false, mtl::R32Float,
            gl::R32F, 0),
        row(F::kRg32Float, "RG32_FLOAT", VK_FORMAT_R32G32_SFLOAT, kNone, C, S::kFloat32, 2, false, mtl::RG32Float,
            gl::RG32F, 0),
        row(F::kRgba32Float, "RGBA32_FLOAT", VK_FORMAT_R32G32B32A32_SFLOAT, kNone, C, S::kFloat32, 4, false,
            mtl::RGBA32Float, gl::RGBA32F, 0),
        row(F::kR32Uint, "R32_UINT", VK_FORMAT_R32_UINT, kNone, C, S::kUint32, 1, false, mtl::R32Uint, gl::R32UI, 0),
        row(F::kR32Sint, "R32_SINT", VK_FORMAT_R32_SINT, kNone, C, S::kInt32, 1, false, mtl::R32Sint, gl::R32I, 0),
        row(F::kDepth32Float, "DEPTH32_FLOAT", VK_FORMAT_D32_SFLOAT, kNone, D, S::kFloat32, 1, false,
            mtl::Depth32Float, gl::DEPTH_COMPONENT32F, 0),
        // WebGPU's "24 bits or more": X8_D24 where the device can share it, else D32 float.
        row(F::kDepth24Plus, "DEPTH24_PLUS", VK_FORMAT_X8_D24_UNORM_PACK32, VK_FORMAT_D32_SFLOAT, D, S::kUint32, 1,
            false, mtl::Depth32Float, gl::DEPTH_COMPONENT24, gl::DEPTH_COMPONENT32F),
        row(F::kDepth24PlusStencil8, "DEPTH24_PLUS_STENCIL8", VK_FORMAT_D24_UNORM_S8_UINT, VK_FORMAT_D32_SFLOAT_S8_UINT,
            DS, S::kUint32, 1, false, mtl::Depth32Float_Stencil8, gl::DEPTH24_STENCIL8, gl::DEPTH32F_STENCIL8),
        row(F::kRgb10a2Unorm, "RGB10A2_UNORM", VK_FORMAT_A2B10G10R10_UNORM_PACK32, kNone, C, S::kUint32, 1, true,
            mtl::RGB10A2Unorm, gl::RGB10_A2, 0),
        row(F::kRg11b10Float, "RG11B10_FLOAT", VK_FORMAT_B10G11R11_UFLOAT_PACK32, kNone, C, S::kUint32, 1, true,
            mtl::RG11B10Float, gl::R11F_G11F_B10F, 0),
    };
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string known_names() {
    std::string s;
    for (const FormatInfo& r : format_table()) s += (s.empty() ? "" : ", ") + std::string(r.name);
    return s;
}

std::string hex(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}

bool is_d24(VkFormat vk) { return vk == VK_FORMAT_X8_D24_UNORM_PACK32 || vk == VK_FORMAT_D24_UNORM_S8_UINT; }

constexpr struct {
    uint32_t bit;
    const char* name;
} kUsageNames[] = {
    {kTextureUsageCopySrc, "COPY_SRC"},
    {kTextureUsageCopyDst, "COPY_DST"},
    {kTextureUsageTextureBinding, "TEXTURE_BINDING"},
    {kTextureUsageStorageBinding, "STORAGE_BINDING"},
    {kTextureUsageRenderAttachment, "RENDER_ATTACHMENT"},
};

}  // namespace

const char* texture_usage_name(uint32_t bit) noexcept {
    for (const auto& u : kUsageNames) {
        if (u.bit == bit) return u.name;
    }
    return nullptr;
}

std::string texture_usage_to_string(uint32_t usage) {
    if (usage == 0) return "0";
    std::string s;
    for (const auto& u : kUsageNames) {
        if (usage & u.bit) s += (s.empty() ? "" : "|") + std::string(u.name);
    }
    if (usage & ~uint32_t{kTextureUsageAll}) s += (s.empty() ? "" : "|") + hex(usage & ~uint32_t{kTextureUsageAll});
    return s;
}

uint32_t host_scalar_size(HostScalar s) noexcept {
    switch (s) {
        case HostScalar::kUint8: return 1;
        case HostScalar::kUint16:
        case HostScalar::kInt16:
        case HostScalar::kFloat16: return 2;
        case HostScalar::kUint32:
        case HostScalar::kInt32:
        case HostScalar::kFloat32: return 4;
    }
    return 0;
}

const char* host_scalar_name(HostScalar s) noexcept {
    switch (s) {
        case HostScalar::kUint8: return "uint8";
        case HostScalar::kUint16: return "uint16";
        case HostScalar::kInt16: return "int16";
        case HostScalar::kUint32: return "uint32";
        case HostScalar::kInt32: return "int32";
        case HostScalar::kFloat16: return "float16";
        case HostScalar::kFloat32: return "float32";
    }
    return "";
}

bool FormatInfo::has_vk_format(VkFormat vk) const noexcept {
    return vk != VK_FORMAT_UNDEFINED && std::find(vk_formats.begin(), vk_formats.end(), vk) != vk_formats.end();
}

uint32_t FormatInfo::gl_internal_format(VkFormat vk) const noexcept {
    for (size_t i = 0; i < vk_formats.size(); ++i) {
        if (vk != VK_FORMAT_UNDEFINED && vk_formats[i] == vk) return gl_internal_formats[i];
    }
    return 0;
}

const std::vector<FormatInfo>& format_table() {
    static const std::vector<FormatInfo> table = make_table();
    return table;
}

const FormatInfo& format_info(TextureFormat format) {
    const auto& t = format_table();
    const auto n = static_cast<uint32_t>(format);
    // The rows are in TextureFormat order, 1..21.
    if (n == 0 || n > t.size()) {
        throw InvalidArgumentError("unknown texture format value " + std::to_string(n) + " (expected 1.." +
                                   std::to_string(t.size()) + ")");
    }
    return t[n - 1];
}

const FormatInfo& format_info(const std::string& name) {
    const std::string want = upper(name);
    for (const FormatInfo& r : format_table()) {
        if (want == r.name) return r;
    }
    throw InvalidArgumentError("unknown texture format '" + name + "'; known: " + known_names());
}

TextureFormat texture_format_for(VkFormat vk) noexcept {
    for (const FormatInfo& r : format_table()) {
        if (r.has_vk_format(vk)) return r.format;
    }
    return TextureFormat::kUnknown;
}

std::string format_tag_mismatch(TextureFormat tag, VkFormat vk_format) {
    if (tag == TextureFormat::kUnknown) return {};
    const auto n = static_cast<uint32_t>(tag);
    if (n > format_table().size()) {
        return "carries unknown texture format tag " + std::to_string(n) + " (expected 0.." +
               std::to_string(format_table().size()) + ")";
    }
    const FormatInfo& info = format_table()[n - 1];
    if (info.has_vk_format(vk_format)) return {};
    std::string choices;
    for (VkFormat vk : info.vk_formats) {
        if (vk != VK_FORMAT_UNDEFINED) choices += (choices.empty() ? "" : " or ") + std::to_string(vk);
    }
    return std::string("says ") + info.name + " but its VkFormat is " +
           std::to_string(static_cast<int64_t>(vk_format)) + "; " + info.name + " is VkFormat " + choices;
}

HostLayout host_layout(TextureFormat format, VkFormat vk_format, VkImageAspectFlagBits aspect) {
    const FormatInfo& info = format_info(format);
    if (!info.has_vk_format(vk_format)) {
        throw InvalidArgumentError(std::string(info.name) + " is never stored as VkFormat " +
                                   std::to_string(static_cast<int64_t>(vk_format)));
    }
    if (!(info.aspects & aspect) || (aspect & (aspect - 1)) != 0) {
        throw InvalidArgumentError(std::string(info.name) + " has aspects " + hex(info.aspects) + ", not " +
                                   hex(static_cast<uint32_t>(aspect)));
    }
    HostLayout l;
    if (aspect == VK_IMAGE_ASPECT_STENCIL_BIT) {
        l.scalar = HostScalar::kUint8;
        l.channels = 1;
    } else if (aspect == VK_IMAGE_ASPECT_DEPTH_BIT) {
        // vkCmdCopyImageToBuffer writes D24 depth as 32-bit words (top 8 bits undefined), D32 as floats.
        l.scalar = is_d24(vk_format) ? HostScalar::kUint32 : HostScalar::kFloat32;
        l.channels = 1;
    } else {
        l.scalar = info.scalar;
        l.channels = info.channels;
    }
    l.texel_size = host_scalar_size(l.scalar) * l.channels;
    return l;
}

VkImageUsageFlags vk_image_usage(TextureFormat format, uint32_t texture_usage) {
    const FormatInfo& info = format_info(format);
    if (texture_usage & ~uint32_t{kTextureUsageAll}) {
        throw InvalidArgumentError("usage " + texture_usage_to_string(texture_usage) +
                                   " has bits that are not TextureUsage flags");
    }
    VkImageUsageFlags bits = 0;
    if (texture_usage & kTextureUsageCopySrc) bits |= VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    if (texture_usage & kTextureUsageCopyDst) bits |= VK_IMAGE_USAGE_TRANSFER_DST_BIT;
    if (texture_usage & kTextureUsageTextureBinding) bits |= VK_IMAGE_USAGE_SAMPLED_BIT;
    if (texture_usage & kTextureUsageStorageBinding) bits |= VK_IMAGE_USAGE_STORAGE_BIT;
    if (texture_usage & kTextureUsageRenderAttachment) {
        bits |= info.is_depth() ? VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT : VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
    }
    return bits;
}

void check_descriptor(const TextureDescriptor& desc) {
    const struct {
        const char* name;
        uint32_t value;
    } extents[] = {{"width", desc.width}, {"height", desc.height}};
    for (const auto& e : extents) {
        if (e.value == 0 || e.value > kMaxTextureExtent) {
            throw InvalidArgumentError(std::string(e.name) + " must be in 1.." + std::to_string(kMaxTextureExtent) +
                                       ", got " + std::to_string(e.value));
        }
    }
    const auto f = static_cast<uint32_t>(desc.format);
    if (f == 0 || f > format_table().size()) {
        throw InvalidArgumentError("format must be a TextureFormat (1.." + std::to_string(format_table().size()) +
                                   "), got " + std::to_string(f));
    }
    if (desc.usage == 0) throw InvalidArgumentError("usage must not be empty");
    if (desc.usage & ~uint32_t{kTextureUsageAll}) {
        throw InvalidArgumentError("usage " + texture_usage_to_string(desc.usage) +
                                   " has bits that are not TextureUsage flags");
    }
}

}  // namespace geyser
