// Where a producer's end_frame spends its time per subscriber: the ready signals and the frame
// messages, for 1, 4 and 16 subscribers, timed in isolation (no consumer processes). Prints one
// JSON object of per-frame medians in microseconds.
//
//   geyser_bench_fanout [FRAMES]
//
// - "per_target_<kind>": what end_frame did before the fan-out was batched: for each subscriber,
//   read its timeline (the hostile check), then Timeline::signal (which reads it again, and for
//   Vulkan reads it a third time and calls vkSignalSemaphore).
// - "reads_<kind>": reading each target's value once (what the fan-out still does per target).
// - "fanout_<kind>": TimelineFanout::signal for all of them (Vulkan: one queue submission; the
//   time to the last target reaching the value is "fanout_<kind>_done").
// - "send": one frame message on each of N socket pairs, without waiting (MSG_DONTWAIT), the
//   reader side drained outside the clock.
// Vulkan timelines are exportable ones where the device exports them (NVIDIA), else local ones
// (lavapipe), whose signal cost may differ.
#include <geyser/geyser.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "sync/timeline_fanout.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace geyser;

double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double us_since(Clock::time_point a) { return std::chrono::duration<double, std::micro>(Clock::now() - a).count(); }

std::vector<std::shared_ptr<Timeline>> timelines(Device& dev, TimelineKind kind, size_t n) {
    std::vector<std::shared_ptr<Timeline>> out;
    const bool exportable =
        (dev.info().timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) != 0;
    for (size_t i = 0; i < n; ++i) {
        if (kind == TimelineKind::kPortable) {
            out.push_back(dev.create_shared_timeline(TimelineChoice::kPortable, 0));
        } else {
            out.push_back(exportable ? dev.create_shared_timeline(TimelineChoice::kVulkan, 0)
                                     : dev.create_timeline(TimelineChoice::kVulkan, 0));
        }
    }
    return out;
}

std::string run_kind(const std::shared_ptr<Device>& dev, TimelineKind kind, size_t n, int frames) {
    auto targets = timelines(*dev, kind, n);
    std::vector<Timeline*> raw;
    for (const auto& t : targets) raw.push_back(t.get());
    auto ready = kind == TimelineKind::kPortable ? dev->create_shared_timeline(TimelineChoice::kPortable, 0)
                                                 : dev->create_timeline(TimelineChoice::kVulkan, 0);
    uint64_t value = 0;
    std::vector<double> per_target, fanout, done;
    for (int i = 0; i < frames; ++i) {
        ++value;
        ready->signal(value);
        const auto a = Clock::now();
        for (Timeline* t : raw) {
            if (t->value() < value) t->signal(value);
        }
        per_target.push_back(us_since(a));
    }
    std::vector<double> reads;
    volatile uint64_t sink = 0;
    for (int i = 0; i < frames; ++i) {
        const auto a = Clock::now();
        for (Timeline* t : raw) sink = sink + t->value();
        reads.push_back(us_since(a));
    }
    TimelineFanout fan(dev);
    for (int i = 0; i < frames; ++i) {
        ++value;
        ready->signal(value);
        const auto a = Clock::now();
        fan.signal(raw, value, *ready);
        fanout.push_back(us_since(a));
        raw.back()->wait(value, std::chrono::seconds(5));
        done.push_back(us_since(a));
    }
    fan.drain(*ready, std::chrono::seconds(5));
    const char* k = kind == TimelineKind::kPortable ? "portable" : "vulkan";
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "\"per_target_%s\": %.3f, \"reads_%s\": %.3f, \"fanout_%s\": %.3f, \"fanout_%s_done\": %.3f", k,
                  median(per_target), k, median(reads), k, median(fanout), k, median(done));
    return buf;
}

double run_send(size_t n, int frames) {
    std::vector<std::pair<Channel, Channel>> pairs;
    for (size_t i = 0; i < n; ++i) pairs.push_back(Channel::pair());
    const std::vector<uint8_t> payload(12, 0);  // a frame message: number and slot
    std::vector<double> t;
    for (int i = 0; i < frames; ++i) {
        const auto a = Clock::now();
        for (auto& p : pairs) p.first.send(static_cast<uint16_t>(MessageType::kFrame), payload, {}, std::chrono::nanoseconds(0));
        t.push_back(us_since(a));
        for (auto& p : pairs) p.second.receive(std::chrono::seconds(1));
    }
    return median(t);
}

}  // namespace

int main(int argc, char** argv) {
    const int frames = argc > 1 ? std::atoi(argv[1]) : 500;
    try {
        auto dev = Device::open();
        std::printf("{\"device\": \"%s\", \"frames\": %d", dev->info().name.c_str(), frames);
        for (size_t n : {1, 4, 16}) {
            std::printf(", \"%zu\": {%s", n, run_kind(dev, TimelineKind::kPortable, n, frames).c_str());
            if (dev->info().timeline_semaphores) std::printf(", %s", run_kind(dev, TimelineKind::kVulkan, n, frames).c_str());
            std::printf(", \"send\": %.3f}", run_send(n, frames));
        }
        std::printf("}\n");
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "geyser_bench_fanout: %s\n", e.what());
        return 1;
    }
}
