// Interrupting blocking waits. Every wait Geyser offers its users (channel receive, send and
// connect, timeline, semaphore and fence waits, a subscriber's connect and next_frame, a sender's
// begin_frame) sleeps at most kInterruptSlice at a time while an interrupt check is installed, and
// calls it between slices. A check interrupts the wait by throwing; the wait ends with that
// exception, and the object it was waiting on is left as it was before the call (usable). With no
// check installed a wait sleeps in one piece. The Python binding installs a check that runs
// PyErr_CheckSignals under the GIL, so Ctrl-C raises KeyboardInterrupt in a wait.
#pragma once

#include <chrono>
#include <cstdint>

namespace geyser {

/// A function every blocking wait calls at least every kInterruptSlice while it waits, in the
/// waiting thread. It returns to let the wait go on, or throws (any exception) to end it.
using InterruptCheck = void (*)();

/// The longest a wait sleeps between two calls of the installed check (so Ctrl-C lands within
/// about this long, and an idle wait wakes 50 times a second at most).
constexpr std::chrono::milliseconds kInterruptSlice{20};

/// Installs `check` for every thread (nullptr removes it). Thread-safe.
void set_interrupt_check(InterruptCheck check) noexcept;
/// The check installed now (nullptr if none).
InterruptCheck interrupt_check() noexcept;
/// Calls the installed check, unless this thread is inside an InterruptShield.
void check_interrupt();
/// How long a wait with `remaining_ns` to go may sleep before it calls check_interrupt():
/// all of it when no check is installed (or shielded), at most kInterruptSlice otherwise.
uint64_t interrupt_slice_ns(uint64_t remaining_ns) noexcept;

/// While one is alive, waits in this thread are not interrupted: for work that must finish once
/// begun (closing a sender, announcing a frame to every subscriber). Nests. Not movable.
class InterruptShield {
public:
    InterruptShield() noexcept;
    ~InterruptShield();
    InterruptShield(const InterruptShield&) = delete;
    InterruptShield& operator=(const InterruptShield&) = delete;
};

}  // namespace geyser
