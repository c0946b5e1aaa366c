// Every error path of the core, forced by fault injection (-DGEYSER_FAULT_INJECTION=ON): each
// must throw the right exception and leave no fd and no Vulkan object behind, and the object
// that failed an operation must work again afterwards.
#include <gtest/gtest.h>
#include <dirent.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "geyser/geyser.hpp"
#include "geyser/testing.hpp"
#include "support.hpp"

namespace {

using geyser::testing_support::fd_count;

geyser::TextureDescriptor rgba8() {
    geyser::TextureDescriptor d;
    d.width = 16;
    d.height = 8;
    d.format = geyser::TextureFormat::kRgba8Unorm;
    d.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst;
    return d;
}

struct Case {
    const char* point;
    std::function<void(geyser::Device&)> operation;
    enum Expect { kVulkan, kInvalidHandle, kOs } expect;
};

class Faults : public ::testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        try {
            device_ = geyser::Device::open();
        } catch (const geyser::VulkanUnavailableError& e) {
            GTEST_SKIP() << e.what();
        }
        geyser::clear_validation_messages();
    }
    void TearDown() override { geyser::testing::disarm_fault(); }
    std::shared_ptr<geyser::Device> device_;
};

std::vector<uint8_t> pixels(size_t n) { return std::vector<uint8_t>(n, 0x5a); }

TEST_P(Faults, ThrowsTheRightErrorAndLeavesNothingBehind) {
    const Case& c = GetParam();
    // Warm up: whatever the driver opens once is open before the count.
    c.operation(*device_);
    const size_t before = fd_count();
    geyser::testing::arm_fault(c.point, 1);
    try {
        c.operation(*device_);
        ADD_FAILURE() << c.point << ": the operation did not fail";
    } catch (const geyser::VulkanError& e) {
        EXPECT_EQ(c.expect, Case::kVulkan) << e.what();
        EXPECT_EQ(e.result(), VK_ERROR_OUT_OF_DEVICE_MEMORY);
    } catch (const geyser::InvalidHandleError& e) {
        EXPECT_EQ(c.expect, Case::kInvalidHandle) << e.what();
    } catch (const geyser::OsError& e) {
        EXPECT_EQ(c.expect, Case::kOs) << e.what();
        EXPECT_EQ(e.error_code(), EIO);
    }
    EXPECT_GE(geyser::testing::disarm_fault(), 1) << c.point << " was never reached";
    EXPECT_EQ(fd_count(), before) << c.point << " leaked an fd";
    // The same operation works again: no lock, pool or half-built object was left behind.
    EXPECT_NO_THROW(c.operation(*device_));
    EXPECT_EQ(fd_count(), before);
    // Destroying the device makes the validation layer (GEYSER_VALIDATION=1) report any Vulkan
    // object the failure left behind.
    device_.reset();
    for (const auto& m : geyser::validation_messages()) ADD_FAILURE() << "validation: " << m;
}

void create_texture(geyser::Device& d) { d.create_shareable_texture(rgba8()); }
void create_buffer(geyser::Device& d) { d.create_shareable_buffer(4096); }
void upload(geyser::Device& d) {
    auto t = d.create_shareable_texture(rgba8());
    auto p = pixels(t->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    t->upload(VK_IMAGE_ASPECT_COLOR_BIT, p.data(), p.size());
}
void export_texture(geyser::Device& d) {
    auto t = d.create_shareable_texture(rgba8());
    geyser::MemoryHandle h = d.export_texture(*t);
}
void import_texture(geyser::Device& d) {
    auto t = d.create_shareable_texture(rgba8());
    geyser::MemoryHandle h = d.export_texture(*t);
    try {
        d.import_texture(h);
    } catch (...) {
        EXPECT_TRUE(h.fd.valid()) << "a failed import must leave the caller's fd open";
        throw;
    }
}
void create_timeline(geyser::Device&) { geyser::PortableTimeline::create(); }
void channel_send(geyser::Device&) {
    auto p = geyser::Channel::pair();
    p.first.send(static_cast<uint16_t>(geyser::MessageType::kFrame), std::vector<uint8_t>(12, 0), {});
    p.second.receive(1000000000ull);
}
void channel_receive(geyser::Device& d) { channel_send(d); }

INSTANTIATE_TEST_SUITE_P(
    Core, Faults,
    ::testing::Values(Case{"vkCreateImage", create_texture, Case::kVulkan},
                      Case{"vkAllocateMemory(export)", create_texture, Case::kVulkan},
                      Case{"vkBindImageMemory", create_texture, Case::kVulkan},
                      Case{"vkCreateBuffer", create_buffer, Case::kVulkan},
                      Case{"vkBindBufferMemory", create_buffer, Case::kVulkan},
                      Case{"vkAllocateMemory(staging)", upload, Case::kVulkan},
                      Case{"vkMapMemory(staging)", upload, Case::kVulkan},
                      Case{"vkAllocateCommandBuffers", upload, Case::kVulkan},
                      Case{"vkCreateFence", upload, Case::kVulkan},
                      Case{"vkQueueSubmit", upload, Case::kVulkan},
                      Case{"vkEndCommandBuffer", upload, Case::kVulkan},
                      Case{"vkGetMemoryFdKHR", export_texture, Case::kVulkan},
                      Case{"vkAllocateMemory(import)", import_texture, Case::kInvalidHandle},
                      Case{"memfd_create", create_timeline, Case::kOs},
                      Case{"sendmsg", channel_send, Case::kOs},
                      Case{"recvmsg", channel_receive, Case::kOs}),
    [](const ::testing::TestParamInfo<Case>& info) {
        std::string n = info.param.point;
        for (char& ch : n)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        return n;
    });

}  // namespace
