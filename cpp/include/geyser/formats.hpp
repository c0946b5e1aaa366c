// The format table: Geyser's 21 texture formats (the original project's TextureFormat), their
// Vulkan formats, aspects, host layouts, and the Metal and OpenGL equivalents. This is the one
// place that maps the portable vocabulary (TextureFormat, TextureUsage, TextureDescriptor) onto
// the APIs; Python reads it through the binding. Everything here is plain data and pure
// functions over constant tables: safe to call from any thread, no Vulkan device needed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

namespace geyser {

/// The original project's 21 texture formats. The numbers are part of the wire format (they
/// travel in handles and SenderInfo). kUnknown marks a texture described only by its VkFormat.
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

/// How a texture may be used: WebGPU's names and bit values (part of the wire format).
enum TextureUsage : uint32_t {
    kTextureUsageCopySrc = 0x01,
    kTextureUsageCopyDst = 0x02,
    kTextureUsageTextureBinding = 0x04,
    kTextureUsageStorageBinding = 0x08,
    kTextureUsageRenderAttachment = 0x10,
    kTextureUsageAll = 0x1F,
};

/// The name of one TextureUsage bit ("COPY_SRC", the Python flag's name); nullptr for anything
/// that is not exactly one of the five bits.
const char* texture_usage_name(uint32_t bit) noexcept;
/// A usage as its bit names joined by '|' ("COPY_SRC|COPY_DST"), unknown bits in hex, "0" if empty.
std::string texture_usage_to_string(uint32_t usage);

/// The scalar type of one host channel (numpy's dtype of a host copy).
enum class HostScalar : uint8_t {
    kUint8 = 1,
    kUint16 = 2,
    kInt16 = 3,
    kUint32 = 4,
    kInt32 = 5,
    kFloat16 = 6,
    kFloat32 = 7,
};

/// Bytes of one HostScalar (0 for a value outside the enum).
uint32_t host_scalar_size(HostScalar s) noexcept;
/// numpy's name for it: "uint8", "float16", ... ("" for a value outside the enum).
const char* host_scalar_name(HostScalar s) noexcept;

/// One row of the format table. Plain data; the rows live for the whole program.
struct FormatInfo {
    TextureFormat format = TextureFormat::kUnknown;
    /// "RGBA8_UNORM": the Python enum member's name.
    const char* name = "";
    /// Vulkan formats in order of preference: a device uses the first it can share (only the
    /// DEPTH24_PLUS formats have two; WebGPU lets an implementation choose, and the choice
    /// travels in the handle so both sides agree). Unused entries are VK_FORMAT_UNDEFINED.
    std::array<VkFormat, 2> vk_formats{VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED};
    /// VK_IMAGE_ASPECT_COLOR_BIT, or DEPTH and/or STENCIL.
    VkImageAspectFlags aspects = 0;
    /// The host copy of the colour or depth aspect for vk_formats[0]: scalar type and channels.
    HostScalar scalar = HostScalar::kUint8;
    uint32_t channels = 0;
    /// One integer holds every channel (RGB10A2, RG11B10).
    bool packed = false;
    /// The MTLPixelFormat the Metal backend uses (one: Apple-silicon GPUs have no 24-bit depth,
    /// so both DEPTH24_PLUS formats use the 32-bit float depth that is vk_formats[1]).
    uint32_t mtl_format = 0;
    /// The sized GL internal format for glTexStorageMem2DEXT, parallel to vk_formats: the GL
    /// format depends on the VkFormat the device chose (DEPTH24_PLUS is GL_DEPTH_COMPONENT24 over
    /// X8_D24_UNORM_PACK32 but GL_DEPTH_COMPONENT32F over D32_SFLOAT). 0 where GL has no sized
    /// equivalent (the BGRA8 formats) and for unused entries.
    std::array<uint32_t, 2> gl_internal_formats{0, 0};

    bool is_depth() const noexcept { return (aspects & VK_IMAGE_ASPECT_DEPTH_BIT) != 0; }
    bool has_stencil() const noexcept { return (aspects & VK_IMAGE_ASPECT_STENCIL_BIT) != 0; }
    /// Bytes per texel of the colour or depth aspect in host memory.
    uint32_t texel_size() const noexcept { return host_scalar_size(scalar) * channels; }
    /// Whether `vk` is one of vk_formats.
    bool has_vk_format(VkFormat vk) const noexcept;
    /// The GL internal format that goes with `vk` (one of vk_formats), 0 if none.
    uint32_t gl_internal_format(VkFormat vk) const noexcept;
};

/// Every row, in TextureFormat order (21 rows; kUnknown has none).
const std::vector<FormatInfo>& format_table();
/// The row for `format`. Throws InvalidArgumentError for kUnknown or a number outside the table
/// (not UnsupportedFormatError, which says a device cannot share a format: this is no format).
const FormatInfo& format_info(TextureFormat format);
/// The row whose name is `name` (case-insensitive); InvalidArgumentError naming the known ones.
const FormatInfo& format_info(const std::string& name);
/// The first TextureFormat (in table order) whose vk_formats list `vk`; kUnknown if none.
/// D32_SFLOAT is DEPTH32_FLOAT's, although DEPTH24_PLUS may use it too.
TextureFormat texture_format_for(VkFormat vk) noexcept;

/// Why a description tagged `tag` cannot be of a texture stored as `vk_format`, as a predicate to
/// follow its subject ("says R32_FLOAT but its VkFormat is 37; R32_FLOAT is VkFormat 100", or
/// "carries unknown texture format tag 99 (expected 0..21)"); empty when it can be, or when `tag`
/// is kUnknown (a texture described only by its VkFormat). The importers' check that a portable
/// tag and a Vulkan format agree: each caller throws its own error with it.
std::string format_tag_mismatch(TextureFormat tag, VkFormat vk_format);

/// The host copy of one aspect of a texture: scalar type, channels, and bytes per texel.
struct HostLayout {
    HostScalar scalar = HostScalar::kUint8;
    uint32_t channels = 1;
    uint32_t texel_size = 1;
};
/// How `aspect` of a texture of `format` stored as `vk_format` looks in host memory. The depth
/// layout depends on the VkFormat the device chose (D24 formats: uint32 words whose top 8 bits
/// are undefined; D32: float32); stencil is uint8. Throws InvalidArgumentError when the format
/// has no such aspect (or `aspect` is not a single bit), or `vk_format` is not one of its
/// vk_formats.
HostLayout host_layout(TextureFormat format, VkFormat vk_format, VkImageAspectFlagBits aspect);
/// Bits of a D24 depth texel that hold data; the upper 8 bits of its 32-bit host word are undefined.
constexpr uint32_t kD24Mask = 0x00FFFFFFu;

/// The VkImageUsageFlags for a portable usage on a format (RENDER_ATTACHMENT becomes colour or
/// depth-stencil attachment by the format's aspects). Throws as format_info, and
/// InvalidArgumentError for bits that are not TextureUsage bits.
VkImageUsageFlags vk_image_usage(TextureFormat format, uint32_t texture_usage);

/// The largest width or height a TextureDescriptor may have. Every device's own limit is checked
/// as well when a texture is created; this one keeps extents far from arithmetic overflow.
constexpr uint32_t kMaxTextureExtent = 1u << 16;

/// A 2D texture: extent, format and usage (the original project's TextureDescriptor). Plain data.
struct TextureDescriptor {
    uint32_t width = 0;
    uint32_t height = 0;
    TextureFormat format = TextureFormat::kRgba8Unorm;
    uint32_t usage = kTextureUsageCopySrc | kTextureUsageCopyDst | kTextureUsageTextureBinding;
    std::string label;

    /// Field by field, label included (as Python's TextureDescriptor compares).
    bool operator==(const TextureDescriptor& o) const noexcept {
        return width == o.width && height == o.height && format == o.format && usage == o.usage &&
               label == o.label;
    }
    bool operator!=(const TextureDescriptor& o) const noexcept { return !(*this == o); }
};

/// Throws InvalidArgumentError naming the field unless width and height are 1..kMaxTextureExtent,
/// the format is in the table, and usage is non-empty with only TextureUsage bits.
void check_descriptor(const TextureDescriptor& desc);

}  // namespace geyser
