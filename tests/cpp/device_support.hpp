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
inline geyser::TextureDescriptor rgba8(uint32_t w, uint32_t h) {
    geyser::TextureDescriptor d;
    d.width = w;
    d.height = h;
    d.format = geyser::TextureFormat::kRgba8Unorm;
    d.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageTextureBinding;
    return d;
}

}  // namespace geyser::testing_support

#define DEVICE_OR_SKIP(name)                                        \
    auto name = ::geyser::testing_support::open_or_skip();          \
    if (!name) GTEST_SKIP() << "no Vulkan device: install a Vulkan driver"
