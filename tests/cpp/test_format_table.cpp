// The format table (geyser/formats.hpp) alone: its rows, host layouts, usages and descriptor
// checks. Portable and device-free, so it also runs in the Windows build under wine
// (tests/cpp/win32/CMakeLists.txt).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "geyser/error.hpp"
#include "geyser/formats.hpp"
#include "expect_throw.hpp"

namespace {

using geyser::testing_support::contains;
using geyser::testing_support::expect_throw;

using geyser::FormatInfo;
using geyser::TextureDescriptor;
using geyser::TextureFormat;

TextureDescriptor rgba8(uint32_t w, uint32_t h) {
    TextureDescriptor d;
    d.width = w;
    d.height = h;
    return d;
}

}  // namespace

TEST(FormatTable, TwentyOneRowsInTextureFormatOrder) {
    const auto& table = geyser::format_table();
    ASSERT_EQ(table.size(), 21u);
    std::set<std::string> names;
    for (size_t i = 0; i < table.size(); ++i) {
        const FormatInfo& r = table[i];
        EXPECT_EQ(static_cast<uint32_t>(r.format), i + 1);
        EXPECT_TRUE(names.insert(r.name).second) << r.name;
        EXPECT_NE(r.vk_formats[0], VK_FORMAT_UNDEFINED) << r.name;
        EXPECT_NE(r.mtl_format, 0u) << r.name;
        EXPECT_GT(r.texel_size(), 0u) << r.name;
        EXPECT_EQ(&geyser::format_info(r.format), &r);
        EXPECT_EQ(&geyser::format_info(std::string(r.name)), &r);
        EXPECT_TRUE(r.has_vk_format(r.vk_formats[0]));
        EXPECT_FALSE(r.has_vk_format(VK_FORMAT_UNDEFINED));
        const bool bgra = r.format == TextureFormat::kBgra8Unorm || r.format == TextureFormat::kBgra8Srgb;
        for (size_t k = 0; k < r.vk_formats.size(); ++k) {
            // GL formats are parallel to the Vulkan ones: one for each Vulkan format but BGRA8's.
            const bool has_gl = r.vk_formats[k] != VK_FORMAT_UNDEFINED && !bgra;
            EXPECT_EQ(r.gl_internal_formats[k] != 0, has_gl) << r.name << " entry " << k;
        }
    }
    EXPECT_EQ(std::string(geyser::format_info(TextureFormat::kRgba8Unorm).name), "RGBA8_UNORM");
    EXPECT_EQ(geyser::format_info(std::string("depth24_plus_stencil8")).format, TextureFormat::kDepth24PlusStencil8);
}

TEST(FormatTable, GlFormatFollowsTheVulkanFormatTheDevicePicked) {
    const FormatInfo& d24 = geyser::format_info(TextureFormat::kDepth24Plus);
    EXPECT_EQ(d24.gl_internal_format(VK_FORMAT_X8_D24_UNORM_PACK32), 0x81A6u);  // GL_DEPTH_COMPONENT24
    EXPECT_EQ(d24.gl_internal_format(VK_FORMAT_D32_SFLOAT), 0x8CACu);           // GL_DEPTH_COMPONENT32F
    const FormatInfo& d24s8 = geyser::format_info(TextureFormat::kDepth24PlusStencil8);
    EXPECT_EQ(d24s8.gl_internal_format(VK_FORMAT_D24_UNORM_S8_UINT), 0x88F0u);   // GL_DEPTH24_STENCIL8
    EXPECT_EQ(d24s8.gl_internal_format(VK_FORMAT_D32_SFLOAT_S8_UINT), 0x8CADu);  // GL_DEPTH32F_STENCIL8
    EXPECT_EQ(d24s8.gl_internal_format(VK_FORMAT_R8G8B8A8_UNORM), 0u);
    EXPECT_EQ(geyser::format_info(TextureFormat::kRgba8Unorm).gl_internal_format(VK_FORMAT_R8G8B8A8_UNORM), 0x8058u);
    EXPECT_EQ(geyser::format_info(TextureFormat::kBgra8Unorm).gl_internal_format(VK_FORMAT_B8G8R8A8_UNORM), 0u);
    // Metal has no 24-bit depth on Apple silicon: both use the 32-bit float formats.
    EXPECT_EQ(d24.mtl_format, 252u);
    EXPECT_EQ(d24s8.mtl_format, 260u);
}

TEST(FormatTable, UnknownFormatsAreInvalidArguments) {
    EXPECT_THROW(geyser::format_info(TextureFormat::kUnknown), geyser::InvalidArgumentError);
    EXPECT_THROW(geyser::format_info(static_cast<TextureFormat>(22)), geyser::InvalidArgumentError);
    const std::string msg = expect_throw<geyser::InvalidArgumentError>([] { geyser::format_info(std::string("RGB8")); });
    EXPECT_TRUE(contains(msg, "'RGB8'") && contains(msg, "RG11B10_FLOAT")) << msg;
}

TEST(FormatTable, TextureFormatForAVulkanFormat) {
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_R8G8B8A8_UNORM), TextureFormat::kRgba8Unorm);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_B10G11R11_UFLOAT_PACK32), TextureFormat::kRg11b10Float);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_X8_D24_UNORM_PACK32), TextureFormat::kDepth24Plus);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_D32_SFLOAT), TextureFormat::kDepth32Float);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_D32_SFLOAT_S8_UINT), TextureFormat::kDepth24PlusStencil8);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_R8G8B8_UNORM), TextureFormat::kUnknown);
    EXPECT_EQ(geyser::texture_format_for(VK_FORMAT_UNDEFINED), TextureFormat::kUnknown);
}

TEST(FormatTable, HostLayoutDependsOnTheChosenVulkanFormat) {
    using geyser::HostScalar;
    auto layout = [](TextureFormat f, VkFormat vk, VkImageAspectFlagBits a) { return geyser::host_layout(f, vk, a); };
    auto c = layout(TextureFormat::kRgba16Float, VK_FORMAT_R16G16B16A16_SFLOAT, VK_IMAGE_ASPECT_COLOR_BIT);
    EXPECT_EQ(c.scalar, HostScalar::kFloat16);
    EXPECT_EQ(c.channels, 4u);
    EXPECT_EQ(c.texel_size, 8u);
    auto d24 = layout(TextureFormat::kDepth24Plus, VK_FORMAT_X8_D24_UNORM_PACK32, VK_IMAGE_ASPECT_DEPTH_BIT);
    EXPECT_EQ(d24.scalar, HostScalar::kUint32);
    auto d32 = layout(TextureFormat::kDepth24Plus, VK_FORMAT_D32_SFLOAT, VK_IMAGE_ASPECT_DEPTH_BIT);
    EXPECT_EQ(d32.scalar, HostScalar::kFloat32);
    auto s8 = layout(TextureFormat::kDepth24PlusStencil8, VK_FORMAT_D32_SFLOAT_S8_UINT, VK_IMAGE_ASPECT_STENCIL_BIT);
    EXPECT_EQ(s8.scalar, HostScalar::kUint8);
    EXPECT_EQ(s8.texel_size, 1u);
    auto packed = layout(TextureFormat::kRgb10a2Unorm, VK_FORMAT_A2B10G10R10_UNORM_PACK32, VK_IMAGE_ASPECT_COLOR_BIT);
    EXPECT_EQ(packed.scalar, HostScalar::kUint32);
    EXPECT_EQ(packed.channels, 1u);
    EXPECT_STREQ(geyser::host_scalar_name(HostScalar::kInt16), "int16");
    EXPECT_THROW(layout(TextureFormat::kRgba8Unorm, VK_FORMAT_R8G8B8A8_UNORM, VK_IMAGE_ASPECT_DEPTH_BIT),
                 geyser::InvalidArgumentError);
    EXPECT_THROW(layout(TextureFormat::kRgba8Unorm, VK_FORMAT_R32_SFLOAT, VK_IMAGE_ASPECT_COLOR_BIT),
                 geyser::InvalidArgumentError);
    EXPECT_THROW(layout(TextureFormat::kDepth24PlusStencil8, VK_FORMAT_D24_UNORM_S8_UINT,
                        static_cast<VkImageAspectFlagBits>(VK_IMAGE_ASPECT_DEPTH_BIT | VK_IMAGE_ASPECT_STENCIL_BIT)),
                 geyser::InvalidArgumentError);
}

TEST(FormatTable, VulkanUsageFollowsTheAspects) {
    using geyser::vk_image_usage;
    EXPECT_EQ(vk_image_usage(TextureFormat::kRgba8Unorm, geyser::kTextureUsageAll),
              static_cast<VkImageUsageFlags>(VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                                             VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_STORAGE_BIT |
                                             VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT));
    EXPECT_EQ(vk_image_usage(TextureFormat::kDepth32Float, geyser::kTextureUsageRenderAttachment),
              static_cast<VkImageUsageFlags>(VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT));
    EXPECT_EQ(vk_image_usage(TextureFormat::kR8Unorm, 0), 0u);
    EXPECT_THROW(vk_image_usage(TextureFormat::kR8Unorm, 0x20), geyser::InvalidArgumentError);
    EXPECT_THROW(vk_image_usage(TextureFormat::kUnknown, 1), geyser::InvalidArgumentError);
    EXPECT_EQ(geyser::texture_usage_to_string(3), "COPY_SRC|COPY_DST");
    EXPECT_EQ(geyser::texture_usage_to_string(0x41), "COPY_SRC|0x40");
    EXPECT_STREQ(geyser::texture_usage_name(geyser::kTextureUsageStorageBinding), "STORAGE_BINDING");
    EXPECT_EQ(geyser::texture_usage_name(3), nullptr);
}

TEST(FormatTable, CheckDescriptorNamesTheField) {
    EXPECT_NO_THROW(geyser::check_descriptor(rgba8(1, geyser::kMaxTextureExtent)));
    struct Case {
        TextureDescriptor desc;
        const char* field;
    };
    std::vector<Case> cases;
    cases.push_back({rgba8(0, 4), "width"});
    cases.push_back({rgba8(4, geyser::kMaxTextureExtent + 1), "height"});
    TextureDescriptor d = rgba8(4, 4);
    d.format = TextureFormat::kUnknown;
    cases.push_back({d, "format"});
    d.format = static_cast<TextureFormat>(40);
    cases.push_back({d, "format"});
    d = rgba8(4, 4);
    d.usage = 0;
    cases.push_back({d, "usage"});
    d.usage = 0x100 | geyser::kTextureUsageCopySrc;
    cases.push_back({d, "usage"});
    for (const Case& c : cases) {
        const std::string msg = expect_throw<geyser::InvalidArgumentError>([&] { geyser::check_descriptor(c.desc); });
        EXPECT_EQ(msg.rfind(c.field, 0), 0u) << msg;
    }
}

TEST(FormatTable, TagMismatchNamesBoth) {
    EXPECT_EQ(geyser::format_tag_mismatch(TextureFormat::kRgba8Unorm, VK_FORMAT_R8G8B8A8_UNORM), "");
    EXPECT_EQ(geyser::format_tag_mismatch(TextureFormat::kUnknown, VK_FORMAT_R8G8B8_UNORM), "");
    EXPECT_EQ(geyser::format_tag_mismatch(TextureFormat::kDepth24Plus, VK_FORMAT_D32_SFLOAT), "");
    const std::string m = geyser::format_tag_mismatch(TextureFormat::kR32Float, VK_FORMAT_R8G8B8A8_UNORM);
    EXPECT_TRUE(contains(m, "R32_FLOAT") && contains(m, "37") && contains(m, "100")) << m;
    EXPECT_TRUE(contains(geyser::format_tag_mismatch(static_cast<TextureFormat>(22), VK_FORMAT_R8G8B8A8_UNORM),
                         "unknown texture format tag 22"));
}
