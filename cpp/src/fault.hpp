// Internal: fault injection. With the CMake option GEYSER_FAULT_INJECTION (off by default, and
// never on in a release package) the core asks, before each call it can fail, whether a test armed
// that call to fail; without it, injected() is a constant false the compiler removes.
#pragma once

namespace geyser::fault {

#if defined(GEYSER_FAULT_INJECTION)
/// True when `point` (a Vulkan entry point such as "vkAllocateMemory(import)" or a syscall name)
/// is armed and this is the call it was armed for. A point armed as "vkAllocateMemory" matches
/// every "vkAllocateMemory(...)" site. Thread-safe.
bool injected(const char* point) noexcept;
/// Blocks the calling thread at `point` while a test holds it (testing::hold_point), so that a
/// test can stop a thread of the core at a known place. Thread-safe.
void hold(const char* point) noexcept;
#else
constexpr bool injected(const char*) noexcept { return false; }
constexpr void hold(const char*) noexcept {}
#endif

}  // namespace geyser::fault
