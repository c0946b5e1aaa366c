// Internal: the public API's std::chrono::nanoseconds timeouts as the nanosecond integers the
// waits count with. Converted once, at the API boundary.
#pragma once

#include <chrono>
#include <cstdint>

#include "geyser/error.hpp"

namespace geyser {

/// `timeout` in nanoseconds: std::chrono::nanoseconds::max() (kInfiniteTimeout) is UINT64_MAX,
/// "no limit"; a negative timeout is an InvalidArgumentError.
inline uint64_t nanoseconds_of(std::chrono::nanoseconds timeout) {
    if (timeout < std::chrono::nanoseconds::zero()) throw InvalidArgumentError("a timeout must not be negative");
    if (timeout == std::chrono::nanoseconds::max()) return UINT64_MAX;
    return static_cast<uint64_t>(timeout.count());
}

/// The other way, for internals that hand a nanosecond count on to a public wait: UINT64_MAX, and
/// anything past what std::chrono::nanoseconds holds, is kInfiniteTimeout.
inline std::chrono::nanoseconds timeout_of(uint64_t ns) {
    if (ns >= static_cast<uint64_t>(std::chrono::nanoseconds::max().count())) return std::chrono::nanoseconds::max();
    return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

}  // namespace geyser
