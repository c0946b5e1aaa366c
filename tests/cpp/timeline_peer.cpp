// The second process of test_timeline's cross-process tests, started with fork+exec: it opens its
// own Device, imports a timeline from an fd it inherited and plays ping-pong on it. It reports
// through its exit code only (0: every round as expected).
//
//   timeline_peer DEVICE_UUID portable FD - ROUNDS
//   timeline_peer DEVICE_UUID vulkan FD SEMAPHORE_HEX ROUNDS   (encode_sync_handle's bytes, in hex)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/timeline.hpp"

namespace {

constexpr std::chrono::seconds kWait{10};

std::vector<uint8_t> unhex(const std::string& s) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return out;
}

int run(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: timeline_peer DEVICE_UUID portable|vulkan FD SEMAPHORE_HEX|- ROUNDS\n");
        return 3;
    }
    auto device = geyser::Device::open(argv[1]);
    const std::string kind = argv[2];
    geyser::UniqueFd fd(std::atoi(argv[3]));
    geyser::TimelineHandle handle;
    if (kind == "vulkan") {
        const std::vector<uint8_t> description = unhex(argv[4]);
        handle.kind = geyser::TimelineKind::kVulkan;
        handle.semaphore = geyser::decode_sync_handle(description.data(), description.size(), std::move(fd));
    } else {
        handle.kind = geyser::TimelineKind::kPortable;
        handle.fd = std::move(fd);
    }
    auto timeline = device->import_timeline(handle);
    handle.close();
    const uint64_t rounds = std::strtoull(argv[5], nullptr, 10);
    for (uint64_t i = 0; i < rounds; ++i) {
        timeline->wait(2 * i + 1, kWait);
        // Woken exactly at the parent's signal: the parent waits for ours before signalling again.
        if (timeline->value() != 2 * i + 1) return 2;
        timeline->signal(2 * i + 2);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "timeline_peer: %s\n", e.what());
        return 1;
    }
}
