// Internal: deadlines on CLOCK_MONOTONIC in nanoseconds, for waits cut into interrupt slices.
#pragma once

#include <chrono>
#include <cstdint>

namespace geyser {

/// CLOCK_MONOTONIC now, in nanoseconds.
inline uint64_t monotonic_now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

/// now + timeout_ns, saturating at UINT64_MAX.
inline uint64_t deadline_after_ns(uint64_t timeout_ns) {
    const uint64_t now = monotonic_now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/// Nanoseconds left until `deadline` (0 once it has passed).
inline uint64_t ns_until(uint64_t deadline) {
    const uint64_t now = monotonic_now_ns();
    return deadline > now ? deadline - now : 0;
}

}  // namespace geyser
