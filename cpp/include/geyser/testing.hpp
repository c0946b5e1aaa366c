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

/// Holds `point` (a place in the core that calls fault::hold, such as "make_feeder"): a thread
/// reaching it blocks there until release_point(). Replaces any earlier hold. Thread-safe.
void hold_point(const std::string& point);
/// Waits up to `timeout_ms` for a thread to block at the held point; returns whether one did.
bool wait_for_holder(int timeout_ms);
/// Lets every thread held go on, and holds nothing more.
void release_point();

}  // namespace geyser::testing
