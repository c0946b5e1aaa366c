// Internal: the formatting helpers the core's error messages share.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace geyser {

/// `v` in hex with a 0x prefix, as messages about flag masks print it.
inline std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}

/// `ns` in whole milliseconds, as messages about timeouts print it ("1500 ms").
inline std::string ms(uint64_t ns) { return std::to_string(ns / 1000000) + " ms"; }

}  // namespace geyser
