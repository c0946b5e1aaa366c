#include "geyser/interrupt.hpp"

#include <algorithm>
#include <atomic>

namespace geyser {

namespace {

std::atomic<InterruptCheck> g_check{nullptr};
thread_local int t_shields = 0;

}  // namespace

void set_interrupt_check(InterruptCheck check) noexcept { g_check.store(check); }

InterruptCheck interrupt_check() noexcept { return g_check.load(); }

void check_interrupt() {
    if (t_shields != 0) return;
    if (InterruptCheck check = g_check.load()) check();
}

uint64_t interrupt_slice_ns(uint64_t remaining_ns) noexcept {
    if (t_shields != 0 || g_check.load() == nullptr) return remaining_ns;
    constexpr uint64_t slice = std::chrono::duration_cast<std::chrono::nanoseconds>(kInterruptSlice).count();
    return std::min(remaining_ns, slice);
}

InterruptShield::InterruptShield() noexcept { ++t_shields; }

InterruptShield::~InterruptShield() { --t_shields; }

}  // namespace geyser
