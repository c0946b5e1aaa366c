// Helpers for the C++ tests that check an error's message: free of Vulkan and POSIX, so the
// Windows test program (tests/cpp/win32) uses them too.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace geyser::testing_support {

/// Runs `f`, which must throw E; returns E's message (a test failure, and "", otherwise).
template <typename E, typename F>
std::string expect_throw(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw the wrong error: " << e.what();
        return {};
    }
    ADD_FAILURE() << "did not throw";
    return {};
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace geyser::testing_support
