// Helpers shared by the C++ test programs that open a Vulkan device.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "geyser/geyser.hpp"

namespace geyser::testing_support {

/// The default device, or nullptr where there is no Vulkan driver (the test then skips).
inline std::shared_ptr<geyser::Device> open_or_skip() {
    try {
        return geyser::Device::open();
    } catch (const geyser::VulkanUnavailableError&) {
        return nullptr;
    }
}

/// A sampled RGBA8 texture that can be copied to and from.
inline geyser::TextureDesc rgba8(uint32_t w, uint32_t h) {
    geyser::TextureDesc d;
    d.width = w;
    d.height = h;
    d.format = VK_FORMAT_R8G8B8A8_UNORM;
    d.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT;
    d.texture_format = geyser::TextureFormat::kRgba8Unorm;
    return d;
}

/// With GEYSER_VALIDATION=1, fails every test on any validation-layer message it caused. A test
/// program appends one to its listeners once (install_validation_listener).
class ValidationListener : public ::testing::EmptyTestEventListener {
    void OnTestStart(const ::testing::TestInfo&) override { geyser::clear_validation_messages(); }
    void OnTestEnd(const ::testing::TestInfo&) override {
        for (const auto& m : geyser::validation_messages()) ADD_FAILURE() << "validation: " << m;
    }
};

/// Appends a ValidationListener; gtest owns it. Call it from one static initialiser per program.
inline bool install_validation_listener() {
    ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener);
    return true;
}

}  // namespace geyser::testing_support

#define DEVICE_OR_SKIP(name)                                        \
    auto name = ::geyser::testing_support::open_or_skip();          \
    if (!name) GTEST_SKIP() << "no Vulkan device: install a Vulkan driver"
