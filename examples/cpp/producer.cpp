// Publishes a named sender and renders every frame with a Vulkan compute shader: the GPU draws a
// moving pattern (pattern.comp) into each ring slot, with no host upload. The shader's work is
// recorded between Texture::begin_access and end_access (docs/access.md) and signals the frame's
// ready timeline from the GPU where the timelines are Vulkan ones.
//
//   geyser_producer NAME [FRAMES [WIDTH HEIGHT [SUBSCRIBERS]]]
//
// FRAMES defaults to 600, the extent to 1280x720; frame 1 waits (up to 60 s) for SUBSCRIBERS
// subscribers (1). Any consumer checks the frames: examples/consumer.py and geyser_consumer
// compare each with geyser.demo.pattern, which pattern.comp draws for RGBA8. With
// GEYSER_VALIDATION=1 it exits 1 if the validation layer reported anything.
#include <geyser/geyser.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "pattern_renderer.hpp"

namespace {

constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);

uint32_t number_arg(int argc, char** argv, int i, uint32_t fallback) {
    return argc > i ? static_cast<uint32_t>(std::strtoul(argv[i], nullptr, 10)) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s NAME [FRAMES [WIDTH HEIGHT [SUBSCRIBERS]]]\n", argv[0]);
        return 2;
    }
    const std::string name = argv[1];
    const uint64_t frames = number_arg(argc, argv, 2, 600);
    geyser::TextureDescriptor desc;
    desc.width = number_arg(argc, argv, 3, 1280);
    desc.height = number_arg(argc, argv, 4, 720);
    desc.format = geyser::TextureFormat::kRgba8Unorm;
    // STORAGE_BINDING: the compute shader writes the ring's textures as storage images.
    desc.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageTextureBinding |
                 geyser::kTextureUsageStorageBinding;
    const uint32_t wait_for = number_arg(argc, argv, 5, 1);
    try {
        auto device = geyser::Device::open();
        geyser_example::PatternRenderer renderer(device);
        auto sender = geyser::Sender::create(device, name, desc);
        const bool gpu_signals = sender->ready()->kind() == geyser::TimelineKind::kVulkan;
        std::printf("producer: publishing '%s' on %s: %ux%u RGBA8, ring %zu, %s timelines, drawn by a compute shader\n",
                    name.c_str(), device->info().name.c_str(), desc.width, desc.height, sender->ring().size(),
                    gpu_signals ? "vulkan" : "portable");
        std::fflush(stdout);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (sender->subscribers() < wait_for && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        for (uint64_t n = 1; n <= frames; ++n) {
            // The slot is free: every subscriber has released the frame that was in it.
            geyser::Sender::Frame frame = sender->begin_frame();
            try {
                // begin_access, the dispatch and end_access (which leaves the image in
                // frame.layout, released to VK_QUEUE_FAMILY_EXTERNAL) in one submission.
                if (frame.ready_semaphore != VK_NULL_HANDLE) {
                    // A Vulkan timeline: the submission signals frame.number itself, and
                    // subscribers' GPU work waits for it; no host wait here.
                    renderer.render(frame.texture, frame.number, frame.ready_semaphore, frame.number);
                    sender->end_frame(frame, geyser::ReadySignal::kGpu);
                } else {
                    // A portable timeline is signalled by the host, once the writes are done.
                    renderer.render(frame.texture, frame.number);
                    renderer.finish(10 * kSecond);
                    sender->end_frame(frame, geyser::ReadySignal::kHost);
                }
            } catch (...) {
                sender->abandon_frame(frame);
                throw;
            }
        }
        renderer.finish(10 * kSecond);
        std::printf("producer: published %llu frames\n", static_cast<unsigned long long>(frames));
        // Give the last subscribers a moment to read the final frames before the ring goes.
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        sender->close();
        // With GEYSER_VALIDATION=1 (CI), the Khronos layer checked every barrier recorded here.
        const auto messages = geyser::validation_messages();
        for (const auto& m : messages) std::fprintf(stderr, "producer: validation: %s\n", m.c_str());
        return messages.empty() ? 0 : 1;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "producer: %s\n", e.what());
        return 1;
    }
}
