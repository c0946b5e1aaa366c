// A cross-process timeline that needs no driver support: a 64-bit monotonic counter in a sealed
// memfd page, with futex wake-up. Geyser uses it where the Vulkan driver (lavapipe) cannot export
// semaphores; it travels between processes as an fd, like every other Geyser handle. Linux only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "geyser/unique_fd.hpp"

namespace geyser {

namespace detail {
struct TimelinePage;
}  // namespace detail

/// A cross-process timeline: a 64-bit counter that only moves forward, shared through one page of
/// a sealed memfd. Every process that holds the fd sees the same counter; signal() in one process
/// wakes wait() in any other.
///
/// Ownership: a PortableTimeline is a move-only owner of one fd and one mapping of the shared
/// page; the destructor unmaps and closes both. The shared page itself lives until the last fd
/// and the last mapping in any process are gone. A moved-from timeline holds nothing: it may only
/// be destroyed or assigned to; valid() is false and the other members throw InvalidHandleError.
///
/// Thread safety: value(), try_wait(), signal(), wait(), mark_abandoned(), abandoned() and
/// export_fd() may be called at the same time from any number of threads and processes, on this
/// object or on any other timeline that maps the same page. Moving, assigning or destroying the
/// object must not race with any other use of that same object.
///
/// Memory ordering: signal() is a release and a successful wait() or try_wait() (or a value()
/// that reads at least the signalled value) is an acquire. Writes made before signal(N) to memory
/// shared with the waiting process (shared memory, host-visible coherent memory) are visible once
/// wait(N) returns. Device work needs its own barriers; this timeline orders only host accesses.
///
/// Abandonment: a producer calls mark_abandoned() when it shuts down, so waiters whose value was
/// never reached fail at once with PeerGoneError instead of waiting out their timeout. A process
/// that dies without calling it leaves waiters to their timeout, which is why every wait has one.
class PortableTimeline {
public:
    /// Creates a new timeline at `initial_value` in a fresh sealed memfd. Throws OsError if
    /// memfd_create, ftruncate, sealing or mmap fails.
    static PortableTimeline create(uint64_t initial_value = 0);

    /// Opens a timeline from an fd that another timeline exported. `fd` is borrowed: it is
    /// duplicated first, and the caller still owns (and must close) it, on success and on every
    /// failure. Throws InvalidHandleError if the fd is not open, is not a memfd, is not sealed
    /// against shrinking, is not opened read-write, or does not hold a Geyser timeline page of
    /// this layout version; nothing is leaked on any failure.
    static PortableTimeline import_fd(int fd);

    PortableTimeline(PortableTimeline&& other) noexcept;
    PortableTimeline& operator=(PortableTimeline&& other) noexcept;
    PortableTimeline(const PortableTimeline&) = delete;
    PortableTimeline& operator=(const PortableTimeline&) = delete;
    /// Unmaps the page and closes this owner's fd. Does not mark the timeline abandoned: other
    /// processes may still be signalling it.
    ~PortableTimeline();

    /// False only for a moved-from timeline.
    bool valid() const noexcept { return page_ != nullptr; }

    /// A new fd for the same timeline (close-on-exec). The caller owns it; pass it to another
    /// process (fork, SCM_RIGHTS) and open it there with import_fd().
    UniqueFd export_fd() const;

    /// The current counter value (an acquire load).
    uint64_t value() const;

    /// Raises the counter to `value` and wakes every waiter in every process. Signalling the
    /// current value again is allowed and still wakes; a lower value throws InvalidArgumentError
    /// and changes nothing. Concurrent signallers never move the counter backwards.
    void signal(uint64_t value);

    /// Returns once the counter is at least `value`. Throws TimeoutError if that has not happened
    /// within `timeout` (0 checks once without sleeping), and PeerGoneError if the
    /// timeline has been marked abandoned and the value is not reached. There is no wait without
    /// a timeout. Blocks the calling thread in the kernel; a caller holding a lock such as the
    /// Python GIL should release it first.
    void wait(uint64_t value, std::chrono::nanoseconds timeout);

    /// True if the counter is at least `value` (an acquire when true). Never blocks or throws on
    /// an abandoned timeline.
    bool try_wait(uint64_t value) const;

    /// Marks the timeline abandoned for every process and wakes every waiter; waiters whose value
    /// is not reached then throw PeerGoneError. Permanent: there is no way to clear it. signal()
    /// keeps working, so a value reached before a waiter looks still counts as reached.
    void mark_abandoned();

    /// True once any process has called mark_abandoned() on this timeline.
    bool abandoned() const;

private:
    PortableTimeline(UniqueFd fd, detail::TimelinePage* page, std::size_t map_size) noexcept;
    /// The shared page; throws InvalidHandleError on a moved-from timeline.
    detail::TimelinePage& page() const;
    /// Unmaps the page and closes the fd; leaves the moved-from state.
    void reset() noexcept;

    UniqueFd fd_;
    detail::TimelinePage* page_ = nullptr;
    std::size_t map_size_ = 0;
};

}  // namespace geyser
