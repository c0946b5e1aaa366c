// What the C++ consumer examples share: subscribing while the producer may still be starting, and
// the check of geyser.demo.pattern's RGBA8 frames.
#pragma once

#include <chrono>
#include <geyser/geyser.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace example {

/// A consumer example's command line, `NAME [FRAMES]` (FRAMES 0 or omitted: until the producer goes).
struct ConsumerArgs {
    std::string name;
    uint64_t frames = 0;
};

/// Parses it; false, with the usage printed, when the name is missing.
inline bool parse_consumer_args(int argc, char** argv, ConsumerArgs& out) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s NAME [FRAMES]\n", argv[0]);
        return false;
    }
    out.name = argv[1];
    out.frames = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
    return true;
}

/// Subscribes to `name`, trying for about 40 s while nobody publishes it yet.
inline std::unique_ptr<geyser::Subscriber> subscribe(const std::shared_ptr<geyser::Device>& device,
                                                     const std::string& name, const std::string& client) {
    for (int attempt = 0;; ++attempt) {
        try {
            return geyser::Subscriber::connect(device, name, std::chrono::seconds(2), client);
        } catch (const geyser::PeerGoneError&) {
            if (attempt >= 20) throw;  // the producer may still be starting
        }
    }
}

/// subscribe(), then the check these examples need: RGBA8 frames. Null (with the reason printed,
/// prefixed with `who`) for another format.
inline std::unique_ptr<geyser::Subscriber> subscribe_rgba8(const std::shared_ptr<geyser::Device>& device,
                                                           const std::string& name, const std::string& client,
                                                           const char* who) {
    std::unique_ptr<geyser::Subscriber> sub = subscribe(device, name, client);
    if (sub->info().vk_format != VK_FORMAT_R8G8B8A8_UNORM) {
        std::fprintf(stderr, "%s: this example checks RGBA8 frames only\n", who);
        return nullptr;
    }
    return sub;
}

/// Whether RGBA8 `px` (w x h, tightly packed) is geyser.demo.pattern's frame `f`: it moves with the
/// frame number.
inline bool matches_pattern(const std::vector<uint8_t>& px, uint32_t w, uint32_t h, uint64_t f) {
    for (uint32_t y = 0; y < h; ++y) {
        for (uint32_t x = 0; x < w; ++x) {
            const uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 4];
            if (p[0] != static_cast<uint8_t>(x + 3 * f) || p[1] != static_cast<uint8_t>(y + 5 * f) ||
                p[2] != static_cast<uint8_t>((x ^ y) + 7 * f) || p[3] != static_cast<uint8_t>(2 * x + y + 11 * f)) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace example
