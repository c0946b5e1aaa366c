// The loops `python -m geyser bench` also times from Python, driven from C++ against geyser::core,
// to measure what the binding adds. Prints one JSON object: per-iteration medians in
// microseconds.
//
//   geyser_bench_core [ITERATIONS]
#include <geyser/geyser.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double median_us(int iterations, F&& body) {
    std::vector<double> t;
    t.reserve(iterations);
    for (int i = 0; i < iterations; ++i) {
        const auto a = Clock::now();
        body(i);
        t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
    try {
        auto device = geyser::Device::open();
        auto other = geyser::Device::open(geyser::uuid_to_hex(device->info().device_uuid));
        geyser::TextureDescriptor desc;  // RGBA8, COPY_SRC|COPY_DST|TEXTURE_BINDING
        desc.width = 256;
        desc.height = 256;
        auto tex = device->create_shareable_texture(desc);
        const double export_import = median_us(n, [&](int) {
            geyser::MemoryHandle h = device->export_texture(*tex);
            auto imported = other->import_texture(h);
        });
        auto timeline = geyser::PortableTimeline::create();
        const double signal_wait = median_us(n, [&](int i) {
            timeline.signal(static_cast<uint64_t>(i) + 1);
            timeline.wait(static_cast<uint64_t>(i) + 1, std::chrono::seconds(1));
        });
        volatile uint64_t sink = 0;
        const double value = median_us(n, [&](int) { sink = sink + timeline.value(); });
        std::printf("{\"iterations\": %d, \"export_import_us\": %.3f, \"timeline_signal_wait_us\": %.3f, "
                    "\"timeline_value_us\": %.3f}\n",
                    n, export_import, signal_wait, value);
        return 0;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "geyser_bench_core: %s\n", e.what());
        return 1;
    }
}
