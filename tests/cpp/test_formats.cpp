// What the core does with the format table on a device: which VkFormat a device picks, every row
// round-tripped through export and import, and the format-tag check in Device::import_texture and
// Subscriber::connect. The table alone: test_format_table.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "device_support.hpp"
#include "expect_throw.hpp"
#include "geyser/geyser.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/subscriber.hpp"
#include "support.hpp"
#include "validation_listener.hpp"
#include "vulkan/format_support.hpp"
#include <chrono>

using namespace std::chrono_literals;

namespace {

using geyser::testing_support::contains;
using geyser::testing_support::expect_throw;

using geyser::FormatInfo;
using geyser::TextureDescriptor;
using geyser::TextureFormat;
using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;

constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);
constexpr uint32_t kDefaultUsage =
    geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageTextureBinding;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Which VkFormat a device picks.

TEST(FormatSupport, PicksTheFirstShareableCandidate) {
    DEVICE_OR_SKIP(dev);
    for (const FormatInfo& row : geyser::format_table()) {
        const geyser::FormatSupport s = dev->format_support(row.format, kDefaultUsage);
        EXPECT_EQ(s.format, row.format);
        EXPECT_EQ(s.usage, kDefaultUsage);
        if (!s.shareable()) {
            EXPECT_FALSE(s.reason.empty()) << row.name << " is not shareable but no reason is given";
            EXPECT_TRUE(s.vk_format == VK_FORMAT_UNDEFINED || row.has_vk_format(s.vk_format)) << row.name;
            continue;
        }
        EXPECT_TRUE(s.reason.empty()) << row.name << ": " << s.reason;
        ASSERT_TRUE(row.has_vk_format(s.vk_format)) << row.name;
        const geyser::HandleTypeSupport& fd = s.handle_types.at(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
        EXPECT_GE(fd.max_width, 1u);
        EXPECT_GE(fd.max_height, 1u);
        // Every earlier candidate cannot be both exported and imported as an opaque FD.
        const VkImageUsageFlags vk_usage = geyser::vk_image_usage(row.format, kDefaultUsage);
        for (VkFormat vk : row.vk_formats) {
            if (vk == s.vk_format) break;
            geyser::HandleTypeSupport earlier;
            std::string reason;
            const bool creatable = geyser::query_image_format(*dev, vk, vk_usage,
                                                              VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, earlier,
                                                              reason);
            EXPECT_FALSE(creatable && earlier.exportable && earlier.importable) << row.name << " VkFormat " << vk;
        }
    }
    EXPECT_THROW(dev->format_support(TextureFormat::kUnknown, kDefaultUsage), geyser::InvalidArgumentError);
    EXPECT_THROW(dev->format_support(TextureFormat::kRgba8Unorm, 0x40), geyser::InvalidArgumentError);
    const geyser::FormatSupport empty = dev->format_support(TextureFormat::kRgba8Unorm, 0);
    EXPECT_FALSE(empty.shareable());
    EXPECT_EQ(empty.reason, "usage is empty");
}

TEST(FormatSupport, CreateUsesThePickedFormatAndUsage) {
    DEVICE_OR_SKIP(dev);
    TextureDescriptor d = rgba8(8, 8);
    d.format = TextureFormat::kDepth24PlusStencil8;
    d.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageRenderAttachment;
    d.label = "depth";
    const geyser::FormatSupport s = dev->format_support(d.format, d.usage);
    if (!s.shareable()) GTEST_SKIP() << "DEPTH24_PLUS_STENCIL8 is not shareable here: " << s.reason;
    auto tex = dev->create_shareable_texture(d);
    EXPECT_EQ(tex->vk_format(), s.vk_format);
    EXPECT_EQ(tex->vk_usage(), static_cast<VkImageUsageFlags>(VK_IMAGE_USAGE_TRANSFER_SRC_BIT |
                                                              VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                                                              VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT));
    EXPECT_EQ(tex->descriptor(), d);
    geyser::MemoryHandle h = dev->export_texture(*tex);
    EXPECT_EQ(h.texture_format, d.format);
    EXPECT_EQ(h.texture_usage, d.usage);
    EXPECT_EQ(h.vk_format, s.vk_format);
    auto imported = dev->import_texture(h);
    EXPECT_EQ(imported->descriptor().format, d.format);
    EXPECT_EQ(imported->descriptor().usage, d.usage);
    EXPECT_EQ(imported->descriptor().label, "");
}

// ---------------------------------------------------------------------------------------------
// The format-tag check on import.

TEST(FormatTag, ImportRefusesATagThatContradictsTheVulkanFormat) {
    DEVICE_OR_SKIP(dev);
    auto other = geyser::Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    auto tex = dev->create_shareable_texture(rgba8(16, 4));
    std::vector<uint8_t> data(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 1);
    tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
    geyser::MemoryHandle good = dev->export_texture(*tex);
    (void)other->import_texture(good);  // warm up: the fd-kind probe has run before the count
    const size_t before = fd_count();
    {
        // An RGBA8 image tagged R32_FLOAT would download as float32 (issue 14).
        geyser::MemoryHandle r32 = good.duplicate();
        r32.texture_format = TextureFormat::kR32Float;
        const std::string msg = expect_throw<geyser::InvalidHandleError>([&] { other->import_texture(r32); });
        EXPECT_TRUE(contains(msg, "R32_FLOAT") && contains(msg, "37")) << msg;
        geyser::MemoryHandle unknown = good.duplicate();
        unknown.texture_format = static_cast<TextureFormat>(22);
        EXPECT_TRUE(contains(expect_throw<geyser::InvalidHandleError>([&] { other->import_texture(unknown); }),
                             "unknown texture format tag 22"));
        // The check does not depend on the rest of the handle being good: it runs first.
        geyser::MemoryHandle closed = r32.duplicate();
        closed.close();
        EXPECT_TRUE(contains(expect_throw<geyser::InvalidHandleError>([&] { other->import_texture(closed); }),
                             "R32_FLOAT"));
        EXPECT_TRUE(r32.fd.valid() && unknown.fd.valid()) << "a refused import must not take the caller's fd";
    }
    EXPECT_EQ(fd_count(), before);
    auto imported = other->import_texture(good);
    EXPECT_EQ(imported->descriptor().format, TextureFormat::kRgba8Unorm);
    std::vector<uint8_t> back(data.size());
    imported->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
    EXPECT_EQ(back, data);
    // An untagged handle is described by its VkFormat alone, and imports.
    geyser::MemoryHandle untagged = good.duplicate();
    untagged.texture_format = TextureFormat::kUnknown;
    untagged.texture_usage = 0;
    auto plain = other->import_texture(untagged);
    EXPECT_EQ(plain->descriptor().format, TextureFormat::kUnknown);
    EXPECT_EQ(plain->vk_format(), VK_FORMAT_R8G8B8A8_UNORM);
}

// ---------------------------------------------------------------------------------------------
// Every row of the table through create, export, import, upload and download.

namespace {

uint16_t finite_half(std::mt19937& rng) {
    const uint16_t exponent = static_cast<uint16_t>(rng() % 31);  // 31 is Inf/NaN
    return static_cast<uint16_t>(((rng() & 1) << 15) | (exponent << 10) | (rng() & 0x3FF));
}

uint32_t finite_ufloat(std::mt19937& rng, uint32_t mantissa_bits) {
    return ((rng() % 31) << mantissa_bits) | (rng() & ((1u << mantissa_bits) - 1));
}

// Host bytes of `aspect` holding only values the format defines, so that the copy is bit-exact.
std::vector<uint8_t> pattern(const FormatInfo& row, VkFormat vk, VkImageAspectFlagBits aspect, size_t texels,
                             std::mt19937& rng) {
    const geyser::HostLayout l = geyser::host_layout(row.format, vk, aspect);
    std::vector<uint8_t> bytes(texels * l.texel_size);
    const size_t scalars = texels * l.channels;
    if (row.format == TextureFormat::kRg11b10Float) {
        for (size_t i = 0; i < scalars; ++i) {
            const uint32_t v = finite_ufloat(rng, 6) | (finite_ufloat(rng, 6) << 11) | (finite_ufloat(rng, 5) << 22);
            std::memcpy(&bytes[i * 4], &v, 4);
        }
    } else if (l.scalar == geyser::HostScalar::kFloat16) {
        for (size_t i = 0; i < scalars; ++i) {
            const uint16_t v = finite_half(rng);
            std::memcpy(&bytes[i * 2], &v, 2);
        }
    } else if (l.scalar == geyser::HostScalar::kFloat32) {
        // Depth floats must be in [0, 1] without VK_EXT_depth_range_unrestricted.
        const bool depth = aspect == VK_IMAGE_ASPECT_DEPTH_BIT;
        std::uniform_real_distribution<float> dist(depth ? 0.0f : -1e4f, depth ? 1.0f : 1e4f);
        for (size_t i = 0; i < scalars; ++i) {
            const float v = dist(rng);
            std::memcpy(&bytes[i * 4], &v, 4);
        }
    } else {
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    }
    return bytes;
}

// D24 depth: only the low 24 bits of each 32-bit word are defined.
void mask_undefined(VkFormat vk, VkImageAspectFlagBits aspect, std::vector<uint8_t>& bytes) {
    if (aspect != VK_IMAGE_ASPECT_DEPTH_BIT ||
        (vk != VK_FORMAT_X8_D24_UNORM_PACK32 && vk != VK_FORMAT_D24_UNORM_S8_UINT)) {
        return;
    }
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
        uint32_t w;
        std::memcpy(&w, &bytes[i], 4);
        w &= geyser::kD24Mask;
        std::memcpy(&bytes[i], &w, 4);
    }
}

std::vector<VkImageAspectFlagBits> aspects_of(const FormatInfo& row) {
    std::vector<VkImageAspectFlagBits> a;
    for (VkImageAspectFlagBits bit : {VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_ASPECT_DEPTH_BIT, VK_IMAGE_ASPECT_STENCIL_BIT}) {
        if (row.aspects & bit) a.push_back(bit);
    }
    return a;
}

class EveryFormat : public ::testing::TestWithParam<TextureFormat> {};

}  // namespace

TEST_P(EveryFormat, RoundTripsThroughExportAndImport) {
    DEVICE_OR_SKIP(dev);
    const FormatInfo& row = geyser::format_info(GetParam());
    const geyser::FormatSupport s = dev->format_support(row.format, kDefaultUsage);
    if (!s.shareable()) GTEST_SKIP() << row.name << " cannot be shared on '" << dev->info().name << "': " << s.reason;
    auto other = geyser::Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    TextureDescriptor d = rgba8(17, 9);
    d.format = row.format;
    auto tex = dev->create_shareable_texture(d);
    ASSERT_EQ(tex->vk_format(), s.vk_format);
    std::mt19937 rng(static_cast<uint32_t>(row.format) * 7919u);
    std::vector<std::pair<VkImageAspectFlagBits, std::vector<uint8_t>>> written;
    for (VkImageAspectFlagBits a : aspects_of(row)) {
        std::vector<uint8_t> bytes = pattern(row, tex->vk_format(), a, size_t{d.width} * d.height, rng);
        ASSERT_EQ(bytes.size(), tex->host_size(a)) << row.name;
        tex->upload(a, bytes.data(), bytes.size());
        written.emplace_back(a, std::move(bytes));
    }
    geyser::MemoryHandle h = dev->export_texture(*tex);
    EXPECT_EQ(h.texture_format, row.format);
    EXPECT_EQ(h.vk_format, s.vk_format);
    auto imported = other->import_texture(h);
    EXPECT_EQ(imported->vk_format(), tex->vk_format());
    EXPECT_EQ(imported->descriptor().format, row.format);
    for (auto& [a, expected] : written) {
        std::vector<uint8_t> back(imported->host_size(a));
        imported->download(a, back.data(), back.size());
        mask_undefined(tex->vk_format(), a, expected);
        mask_undefined(tex->vk_format(), a, back);
        EXPECT_EQ(back, expected) << row.name << " aspect " << a;
    }
}

INSTANTIATE_TEST_SUITE_P(AllRows, EveryFormat, ::testing::ValuesIn([] {
                             std::vector<TextureFormat> all;
                             for (const FormatInfo& r : geyser::format_table()) all.push_back(r.format);
                             return all;
                         }()),
                         [](const ::testing::TestParamInfo<TextureFormat>& p) {
                             return std::string(geyser::format_info(p.param).name);
                         });

// ---------------------------------------------------------------------------------------------
// Subscriber::connect checks the SenderInfo's tag against its VkFormat the same way.

namespace {

// A sender that answers one subscriber with `info` and then `ring` (one texture handle), and
// then waits for the subscriber to hang up.
void serve_once(geyser::Listener& listener, const geyser::SenderInfo& info, const geyser::MemoryHandle* ring) {
    try {
        geyser::Channel ch = listener.accept(5s);
        (void)ch.receive(5s);  // Hello
        ch.send(geyser::kSenderInfoMessage, geyser::encode_sender_info(info), {}, 5s);
        if (ring) {
            ch.send(static_cast<uint16_t>(geyser::MessageType::kMemoryHandle), geyser::encode_memory_handle(*ring),
                    {ring->fd.get()}, 5s);
        }
        (void)ch.receive(5s);  // the subscriber's hang-up
    } catch (const geyser::PeerGoneError&) {
    }
}

}  // namespace

TEST(FormatTag, SubscriberRefusesASenderWhoseTagContradictsItsFormat) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(8, 8));
    geyser::MemoryHandle handle = dev->export_texture(*tex);
    const std::string name = "formats-tag-" + std::to_string(::getpid());
    geyser::SenderInfo info;
    info.name = name;
    info.producer_pid = static_cast<uint32_t>(::getpid());
    info.ring_size = 1;
    info.max_held = 1;
    info.width = 8;
    info.height = 8;
    info.vk_format = VK_FORMAT_R8G8B8A8_UNORM;
    info.texture_format = TextureFormat::kR32Float;
    info.texture_usage = kDefaultUsage;
    info.device_uuid = dev->info().device_uuid;
    info.driver_uuid = dev->info().driver_uuid;
    (void)geyser::sender_socket_path(name);  // creates the runtime directory before the count
    const size_t before = fd_count();
    {
        geyser::Listener listener = geyser::Listener::bind(geyser::sender_socket_path(name));
        std::thread sender([&] { serve_once(listener, info, &handle); });
        const std::string msg = expect_throw<geyser::ProtocolError>(
            [&] { geyser::Subscriber::connect(dev, name, 5s); });
        sender.join();
        EXPECT_TRUE(contains(msg, "R32_FLOAT") && contains(msg, "37")) << msg;

        // A consistent SenderInfo whose ring texture carries another tag than it announced.
        info.texture_format = TextureFormat::kRgba8Unorm;
        geyser::MemoryHandle untagged = handle.duplicate();
        untagged.texture_format = TextureFormat::kUnknown;
        std::thread sender2([&] { serve_once(listener, info, &untagged); });
        const std::string msg2 = expect_throw<geyser::ProtocolError>(
            [&] { geyser::Subscriber::connect(dev, name, 5s); });
        sender2.join();
        EXPECT_TRUE(contains(msg2, "does not match the sender's description")) << msg2;
    }
    EXPECT_EQ(fd_count(), before);
}
