// Windows only: the error a failed Win32 call throws. It sits beside OsError (errno) because a
// GetLastError() code is a different number space and needs FormatMessage, not strerror.
#pragma once

#include <cstdint>
#include <string>

#include "geyser/error.hpp"

namespace geyser {

/// A Win32 call failed. Carries the GetLastError() code and the name of the call; the message has
/// the system's text for the code (FormatMessageA, looked up once, in the constructor).
/// Thread-safety: an immutable value once constructed; const members may be called from any
/// thread. Constructing one is thread-safe (FormatMessageA is).
class Win32Error : public Error {
public:
    Win32Error(uint32_t code, std::string call, const std::string& detail = {});
    uint32_t error_code() const noexcept { return code_; }
    const std::string& call() const noexcept { return call_; }

private:
    uint32_t code_;
    std::string call_;
};

/// Throws Win32Error for `call` with the calling thread's GetLastError(). GetLastError() is
/// per-thread, so this is thread-safe, but it must run before anything else that may set the code:
/// `detail` is built before the call, so pass a string that was made before the failing call (or
/// capture GetLastError() yourself and throw Win32Error directly).
[[noreturn]] void throw_last_error(const char* call, const std::string& detail = {});

}  // namespace geyser
