// Test-only hooks of a core built with -DGEYSER_FAULT_INJECTION=ON (never in release builds).
#pragma once

#include <string>

namespace geyser::testing {

/// Makes the `nth` call (1 = the next) to `point` fail: a Vulkan entry point returns
/// VK_ERROR_OUT_OF_DEVICE_MEMORY without being called, a syscall fails with EIO. `point` is a
/// name such as "vkCreateImage", "vkAllocateMemory(import)", "memfd_create", "sendmsg".
/// Replaces any earlier arming. Thread-safe.
void arm_fault(const std::string& point, int nth = 1);
/// Disarms; returns how many times the armed point was reached (whether or not it fired).
int disarm_fault();

}  // namespace geyser::testing
