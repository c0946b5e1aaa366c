#include "geyser/win32_error.hpp"

#include <windows.h>

#include <string>

namespace geyser {

namespace {

std::string system_text(uint32_t code) {
    char* text = nullptr;
    const DWORD n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                                       FORMAT_MESSAGE_IGNORE_INSERTS,
                                   nullptr, code, 0, reinterpret_cast<char*>(&text), 0, nullptr);
    std::string out = n != 0 && text != nullptr ? std::string(text, n) : std::string("unknown error");
    if (text != nullptr) LocalFree(text);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '.')) {
        out.pop_back();
    }
    return out;
}

std::string win32_message(uint32_t code, const std::string& call, const std::string& detail) {
    std::string msg = call + " failed: " + system_text(code) + " (Win32 error " + std::to_string(code) + ")";
    if (!detail.empty()) msg += ": " + detail;
    return msg;
}

}  // namespace

Win32Error::Win32Error(uint32_t code, std::string call, const std::string& detail)
    : Error(win32_message(code, call, detail)), code_(code), call_(std::move(call)) {}

void throw_last_error(const char* call, const std::string& detail) {
    throw Win32Error(static_cast<uint32_t>(GetLastError()), call, detail);
}

}  // namespace geyser
