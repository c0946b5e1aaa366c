// Subscribes to a named sender published by examples/producer.py (or any Geyser producer) and
// checks every frame against the producer's pattern.
//
//   geyser_consumer NAME [FRAMES]
#include <chrono>
#include <geyser/geyser.hpp>

#include "example_support.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    example::ConsumerArgs args;
    if (!example::parse_consumer_args(argc, argv, args)) return 2;
    const std::string& name = args.name;
    const uint64_t frames = args.frames;
    try {
        auto device = geyser::Device::open();
        std::unique_ptr<geyser::Subscriber> sub = example::subscribe_rgba8(device, name, "geyser C++ consumer", "consumer");
        if (!sub) return 2;
        const geyser::SenderInfo& info = sub->info();
        std::printf("consumer: subscribed to '%s' (pid %u): %ux%u, ring %u, %s timelines\n", info.name.c_str(),
                    info.producer_pid, info.width, info.height, info.ring_size,
                    info.sync_kind == geyser::TimelineKind::kVulkan ? "vulkan" : "portable");
        std::vector<uint8_t> pixels(static_cast<size_t>(info.width) * info.height * 4);
        uint64_t seen = 0, bad = 0, expected = 0;
        while (frames == 0 || seen < frames) {
            geyser::Subscriber::Frame frame;
            try {
                frame = sub->next_frame(std::chrono::seconds(10));
            } catch (const geyser::PeerGoneError& e) {
                std::printf("consumer: %s\n", e.what());
                break;
            }
            frame.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, pixels.data(), pixels.size());
            const bool in_order = expected == 0 || frame.number() == expected;
            if (!in_order || !example::matches_pattern(pixels, info.width, info.height, frame.number())) ++bad;
            expected = frame.number() + 1;
            frame.release();  // or let it go out of scope
            ++seen;
        }
        std::printf("consumer: %llu/%llu frames verified\n", static_cast<unsigned long long>(seen - bad),
                    static_cast<unsigned long long>(seen));
        return seen > 0 && bad == 0 ? 0 : 1;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
