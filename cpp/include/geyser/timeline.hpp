// Shared timelines: "frame N is ready" across processes, on any Vulkan driver, behind one class.
//
// A Timeline is either a Vulkan timeline semaphore (TimelineKind::kVulkan: the GPU itself waits
// and signals, no CPU round trip) or Geyser's PortableTimeline (kPortable: a 64-bit counter in a
// sealed memfd with futex wake-up, for drivers such as lavapipe that cannot export semaphores).
// Both have value(), signal(), wait(), and Device::export_timeline / import_timeline, and both
// order Geyser's GPU submissions through SubmitSync: a Vulkan timeline is waited and signalled by
// the GPU; a portable one is waited on the host before the work is submitted and signalled on
// the host after the work has completed (Geyser's operations wait for their own completion), so
// the order is the same either way.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "geyser/portable_timeline.hpp"
#include "geyser/sync.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

class Device;

/// Which implementation a Timeline has. The numbers are part of the wire format.
enum class TimelineKind : uint8_t {
    kPortable = 1,  ///< PortableTimeline: the fd is its memfd.
    kVulkan = 2,    ///< An exported timeline semaphore: the fd is its opaque FD.
};

const char* to_string(TimelineKind kind);

/// What Device::create_shared_timeline (and create_timeline) makes.
enum class TimelineChoice : uint8_t {
    kAuto = 0,  ///< kVulkan where the device can export timeline semaphores as opaque FD, else kPortable.
    kPortable = 1,
    kVulkan = 2,
};

/// An exported Timeline: its kind and the OS handle. Move-only; owns its fd (in `semaphore.fd`
/// for kVulkan, in `fd` for kPortable) and closes it on destruction. Not thread-safe.
struct TimelineHandle {
    TimelineKind kind = TimelineKind::kPortable;
    SyncHandle semaphore;  ///< kVulkan: the timeline semaphore's handle (it owns the fd).
    UniqueFd fd;           ///< kPortable: the memfd.

    /// The fd this handle owns, borrowed (-1 once closed).
    int native_fd() const noexcept { return kind == TimelineKind::kVulkan ? semaphore.fd.get() : fd.get(); }
    /// Closes the fd now.
    void close() noexcept;
    /// A copy with a duplicate of the fd (none where this handle has none).
    TimelineHandle duplicate() const;
};

/// A 64-bit counter that only moves forward, shared between processes. Created by
/// Device::create_shared_timeline, Device::create_timeline (local) or Device::import_timeline;
/// holds its Device alive. Export it with Device::export_timeline.
///
/// Thread-safe: value(), signal(), wait() and export may run at once from any thread.
///
/// fork(): in a child of the process that created or imported it, every operation throws
/// UnsupportedOperationError naming fork() (Device::require_owner_process), and destroying it
/// there leaves the parent's timeline alone.
class Timeline {
public:
    ~Timeline();
    Timeline(const Timeline&) = delete;
    Timeline& operator=(const Timeline&) = delete;

    TimelineKind kind() const noexcept { return kind_; }
    bool imported() const noexcept { return imported_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }

    /// The current value.
    uint64_t value() const;
    /// Moves the counter to `value` from the host and wakes waiters. Equal to the current value is
    /// a no-op; lower throws InvalidArgumentError and changes nothing.
    void signal(uint64_t value);
    /// Returns once the counter is at least `value`. TimeoutError after `timeout`;
    /// PeerGoneError when a portable timeline was marked abandoned before reaching it. Blocks the
    /// calling thread: a caller holding a lock such as the Python GIL releases it first.
    void wait(uint64_t value, std::chrono::nanoseconds timeout) const;
    /// Portable timelines: wakes every waiter whose value was not reached with PeerGoneError
    /// (a producer shutting down). Vulkan timelines have no such state: a no-op.
    void mark_abandoned();
    /// Whether a portable timeline was marked abandoned (by any process); false for kVulkan.
    bool abandoned() const;

    /// kVulkan: the semaphore the GPU waits on and signals (null for kPortable). Valid for the
    /// Timeline's lifetime; put it in your own VkTimelineSemaphoreSubmitInfo.
    Semaphore* semaphore() const noexcept { return semaphore_.get(); }
    /// kPortable: the shared counter (null for kVulkan).
    PortableTimeline* portable() const noexcept { return portable_.get(); }

private:
    friend class Device;
    Timeline(std::shared_ptr<Device> device, std::shared_ptr<Semaphore> semaphore, bool imported);
    Timeline(std::shared_ptr<Device> device, std::unique_ptr<PortableTimeline> portable, bool imported);

    std::shared_ptr<Device> device_;
    TimelineKind kind_;
    std::shared_ptr<Semaphore> semaphore_;
    std::unique_ptr<PortableTimeline> portable_;
    bool imported_ = false;
    // kVulkan: makes signal's read-compare-signal one step for this process's signallers
    // (vkSignalSemaphore requires a value above the current one).
    std::mutex signal_mutex_;
};

}  // namespace geyser
