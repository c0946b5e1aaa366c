// Core tests through ctest: devices, textures, buffers and the import checks, in C++ alone.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "geyser/geyser.hpp"
#include "device_support.hpp"
#include "support.hpp"
#include "validation_listener.hpp"

namespace {

using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;

std::vector<uint8_t> ramp(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
    return v;
}

}  // namespace

TEST(Validation, EnabledWhenAsked) {
    const char* env = std::getenv("GEYSER_VALIDATION");
    if (!env || std::string(env) != "1") GTEST_SKIP() << "GEYSER_VALIDATION is not 1";
    DEVICE_OR_SKIP(dev);
    EXPECT_TRUE(geyser::validation_enabled());
}

TEST(UniqueFd, OwnsAndReleases) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    close(p[1]);
    const size_t before = fd_count();
    {
        geyser::UniqueFd fd(p[0]);
        geyser::UniqueFd dup = fd.duplicate();
        EXPECT_NE(dup.get(), fd.get());
        geyser::UniqueFd moved = std::move(fd);
        EXPECT_FALSE(fd.valid());
        EXPECT_TRUE(moved.valid());
        EXPECT_EQ(fd_count(), before + 1);
    }
    EXPECT_EQ(fd_count(), before - 1);
    EXPECT_THROW(geyser::UniqueFd::duplicate_of(p[0]), geyser::InvalidHandleError);
    EXPECT_THROW(geyser::UniqueFd::duplicate_of(-1), geyser::InvalidHandleError);
}

TEST(Device, EnumeratesAndSelects) {
    DEVICE_OR_SKIP(dev);
    auto infos = geyser::enumerate_devices();
    ASSERT_FALSE(infos.empty());
    auto by_uuid = geyser::Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    EXPECT_EQ(by_uuid->info().device_uuid, dev->info().device_uuid);
    EXPECT_THROW(geyser::Device::open("no such device name"), geyser::VulkanUnavailableError);
    EXPECT_THROW(geyser::Device::open("999"), geyser::VulkanUnavailableError);
}

TEST(Texture, ExportImportRoundTrip) {
    DEVICE_OR_SKIP(dev);
    auto other = geyser::Device::open(geyser::uuid_to_hex(dev->info().device_uuid));
    auto tex = dev->create_shareable_texture(rgba8(17, 9));
    auto data = ramp(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT), 5);
    tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
    geyser::MemoryHandle h = dev->export_texture(*tex);
    EXPECT_GE(h.fd.get(), 0);
    EXPECT_GE(h.size, data.size());
    EXPECT_EQ(h.kind, geyser::ResourceKind::kTexture);
    auto imported = other->import_texture(h);
    EXPECT_TRUE(h.fd.valid()) << "import must not consume the caller's fd";
    std::vector<uint8_t> back(data.size());
    imported->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
    EXPECT_EQ(back, data);
    // Writes through the import are seen by the exporter: the memory is shared, not copied.
    auto data2 = ramp(data.size(), 99);
    imported->upload(VK_IMAGE_ASPECT_COLOR_BIT, data2.data(), data2.size());
    tex->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
    EXPECT_EQ(back, data2);
}

TEST(Texture, RejectsBadHandles) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(8, 8));
    geyser::MemoryHandle good = dev->export_texture(*tex);
    const size_t before = fd_count();

    geyser::MemoryHandle wrong_size = good.duplicate();
    wrong_size.size += 4096;
    EXPECT_THROW(dev->import_texture(wrong_size), geyser::InvalidHandleError);
    geyser::MemoryHandle wrong_type = good.duplicate();
    wrong_type.memory_type_index = 31;
    EXPECT_THROW(dev->import_texture(wrong_type), geyser::InvalidHandleError);
    geyser::MemoryHandle wrong_uuid = good.duplicate();
    wrong_uuid.device_uuid[0] ^= 0xFF;
    EXPECT_THROW(dev->import_texture(wrong_uuid), geyser::DeviceMismatchError);
    EXPECT_THROW(dev->import_buffer(good), geyser::InvalidHandleError);

    int p[2];
    ASSERT_EQ(pipe(p), 0);
    geyser::MemoryHandle piped = good.duplicate();
    piped.fd.reset(p[0]);
    close(p[1]);
    EXPECT_THROW(dev->import_texture(piped), geyser::InvalidHandleError);
    piped.close();
    wrong_size.close();
    wrong_type.close();
    wrong_uuid.close();
    EXPECT_EQ(fd_count(), before);
    EXPECT_NO_THROW(dev->import_texture(good));
}

TEST(Texture, RejectsBadDescriptors) {
    DEVICE_OR_SKIP(dev);
    EXPECT_THROW(dev->create_shareable_texture(rgba8(0, 4)), geyser::InvalidArgumentError);
    EXPECT_THROW(dev->create_shareable_texture(rgba8(1u << 20, 4)), geyser::InvalidArgumentError);
    auto bad = rgba8(4, 4);
    bad.format = static_cast<geyser::TextureFormat>(99);
    EXPECT_THROW(dev->create_shareable_texture(bad), geyser::InvalidArgumentError);
    bad.format = geyser::TextureFormat::kUnknown;
    EXPECT_THROW(dev->create_shareable_texture(bad), geyser::InvalidArgumentError);
    bad = rgba8(4, 4);
    bad.usage = 0;
    EXPECT_THROW(dev->create_shareable_texture(bad), geyser::InvalidArgumentError);
    bad.usage = 0x20;
    EXPECT_THROW(dev->create_shareable_texture(bad), geyser::InvalidArgumentError);
    auto tex = dev->create_shareable_texture(rgba8(4, 4));
    std::vector<uint8_t> wrong(3);
    EXPECT_THROW(tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, wrong.data(), wrong.size()), geyser::InvalidArgumentError);
}

TEST(Buffer, ExportImportRoundTrip) {
    DEVICE_OR_SKIP(dev);
    auto buf = dev->create_shareable_buffer(100003);
    auto data = ramp(1000, 1);
    buf->write(data.data(), data.size(), 5000);
    geyser::MemoryHandle h = dev->export_buffer(*buf);
    auto imported = dev->import_buffer(h);
    std::vector<uint8_t> back(data.size());
    imported->read(back.data(), back.size(), 5000);
    EXPECT_EQ(back, data);
    EXPECT_THROW(imported->read(back.data(), back.size(), 100000), geyser::InvalidArgumentError);
    EXPECT_THROW(dev->import_texture(h), geyser::InvalidHandleError);
}

TEST(Buffer, MapViewsTheSharedMemoryOrSaysWhyNot) {
    DEVICE_OR_SKIP(dev);
    auto buf = dev->create_shareable_buffer(4096);
    if (!buf->host_mappable()) {
        EXPECT_FALSE(buf->map_refusal().empty());
        EXPECT_THROW(buf->map(), geyser::UnsupportedOperationError);
        GTEST_SKIP() << buf->map_refusal();
    }
    EXPECT_EQ(buf->map_refusal(), "");
    auto data = ramp(4096, 3);
    buf->write(data.data(), data.size());
    auto* mapped = static_cast<uint8_t*>(buf->map());
    EXPECT_EQ(std::vector<uint8_t>(mapped, mapped + 4096), data);
    EXPECT_EQ(buf->map(), mapped);  // mapped once
    // Writes through the mapping are the memory an importer sees.
    geyser::MemoryHandle h = dev->export_buffer(*buf);
    auto imported = dev->import_buffer(h);
    mapped[7] = 0xA5;
    std::vector<uint8_t> back(16);
    imported->read(back.data(), back.size());
    EXPECT_EQ(back[7], 0xA5);
    auto* other = static_cast<uint8_t*>(imported->map());
    EXPECT_EQ(other[7], 0xA5);
}

TEST(Lifetime, CyclesLeakNoFds) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(16, 16));
    const size_t before = fd_count();
    for (int i = 0; i < 300; ++i) {
        geyser::MemoryHandle h = dev->export_texture(*tex);
        auto imported = dev->import_texture(h);
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(Lifetime, TextureOutlivesItsDeviceReference) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(4, 4));
    dev.reset();  // the texture holds the device alive
    auto data = ramp(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT), 3);
    tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
    std::vector<uint8_t> back(data.size());
    tex->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
    EXPECT_EQ(back, data);
}
