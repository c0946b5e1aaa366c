// Shared by the C++ tests of named senders: unique sender names, a small RGBA8 descriptor and a
// frame's test pattern.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "geyser/geyser.hpp"

namespace geyser::testing_support {

/// A sender name no other test process uses at the same time.
inline std::string unique_name(const char* what) {
    return std::string("cpp-") + what + "-" + std::to_string(::getpid());
}

inline TextureDescriptor rgba8_descriptor(uint32_t w, uint32_t h) {
    TextureDescriptor d;
    d.width = w;
    d.height = h;
    d.format = TextureFormat::kRgba8Unorm;
    return d;
}

/// Frame `number`'s pixels for `t`, different for every frame.
inline std::vector<uint8_t> frame_bytes(const Texture& t, uint64_t number) {
    std::vector<uint8_t> px(t.host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7 + number * 13) & 0xFF);
    return px;
}

}  // namespace geyser::testing_support
