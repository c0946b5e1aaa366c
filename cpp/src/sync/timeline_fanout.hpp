// Internal to the named sender: one frame's ready signal, fanned out to every subscriber's own
// ready timeline in one step. Free of volk, so tests can include it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "geyser/timeline.hpp"

namespace geyser {

/// Signals many Timelines of one Device to one value at once, after another Timeline (the
/// producer's ready timeline) has reached that value.
///
/// - Vulkan timelines: ONE vkQueueSubmit with no command buffers, waiting on `after` at `value`
///   and signalling every target to `value` (VkTimelineSemaphoreSubmitInfo), instead of one
///   vkSignalSemaphore (an ioctl on NVIDIA) per target. Nothing waits on the host: when `after` is
///   signalled by the caller's GPU work (Sender's ReadySignal::kGpu), the device forwards it. The
///   submission is ordered after everything submitted to the device's queue before it (Vulkan's
///   signal operation scope), and a wait that is never satisfied holds up the queue: drain() says
///   how that ends.
///   Where `after` is there already (a frame the host declared ready) and at most
///   kHostSignalMax Vulkan targets need a signal, with no submission of this fan-out still
///   pending, each is signalled from the host instead: on the
///   NVIDIA H200 a vkSignalSemaphore takes about 6 us, a submission about 47 us to complete.
/// - Portable timelines (host memory): signalled on the host in one pass, each one atomic and at
///   most one FUTEX_WAKE (none when nobody sleeps on it). `after` must already be at `value`
///   (only the host signals a portable timeline): InvalidArgumentError otherwise.
///
/// Targets are untrusted (another process can write each one): a target already past `value` or
/// marked abandoned is left out and reported in the returned failures, a target equal to `value`
/// is left out silently (Timeline::signal's rule), and none of that reaches the others. A target
/// that moves past `value` between the check and the GPU's signal breaks Vulkan's rule that a
/// signal raises the value; only that target's own timeline is affected.
///
/// Lifetime: a Vulkan target must outlive every submission that signals it (vkDestroySemaphore's
/// rule): hand a target that goes to retire(), which keeps it until those have completed. The
/// owner calls drain() before the Device goes (Device's destructor waits for its queue to idle).
///
/// Thread-safety: none; the caller serialises every call (the Sender's state mutex). The queue
/// submission takes Device::queue_mutex().
class TimelineFanout {
public:
    /// Why a target was left out.
    struct Failure {
        enum class Kind : uint8_t {
            kAhead = 1,      ///< Its value was already past `value` (`found`).
            kAbandoned = 2,  ///< A portable timeline marked abandoned.
            kError = 3,      ///< Reading or signalling it failed (`message`).
        };
        size_t index = 0;  ///< Into the targets given to signal().
        Kind kind = Kind::kError;
        uint64_t found = 0;
        std::string message;
    };

    /// The most Vulkan targets signalled from the host, one by one, when `after` is ready.
    static constexpr size_t kHostSignalMax = 4;

    explicit TimelineFanout(std::shared_ptr<Device> device);
    ~TimelineFanout();
    TimelineFanout(const TimelineFanout&) = delete;
    TimelineFanout& operator=(const TimelineFanout&) = delete;

    /// Signals every target to `value` once `after` has reached it (see the class comment). The
    /// failures stay valid until the next call. Throws (VulkanError from vkQueueSubmit,
    /// InvalidArgumentError for a portable target with `after` not yet at `value`, or for a
    /// target of another Device) with nothing signalled.
    const std::vector<Failure>& signal(const std::vector<Timeline*>& targets, uint64_t value, Timeline& after);

    /// Creates now what the first Vulkan signal() would (the timeline that tells when each
    /// submission has completed), so that an owner whose ready timeline is a Vulkan one holds the
    /// same objects, and fds (NVIDIA's semaphores hold one each), from its creation on.
    void prepare();

    /// Keeps `target` alive until every submission made so far has completed (freed here when
    /// they have, with whatever earlier calls kept for submissions completed since).
    void retire(std::shared_ptr<Timeline> target);

    /// Waits up to `timeout` for every submission to complete and frees what retire() kept.
    /// When the submissions are still held up by a wait on `after` that never came (a producer
    /// whose GPU never signalled), signals `after` from the host to the highest value waited
    /// for, so that the queue can go idle, and waits up to `timeout` again. Returns whether all
    /// completed; when not (a device that does not finish), what retire() kept is left alive on
    /// purpose rather than destroyed while the device may still use it.
    bool drain(Timeline& after, std::chrono::nanoseconds timeout);

    /// Submissions made (one per signal() with a Vulkan target).
    uint64_t submissions() const noexcept { return submitted_; }

private:
    void collect();  // frees what retire() kept for submissions that have completed

    std::shared_ptr<Device> device_;
    // A local timeline the submissions signal in turn (1, 2, ...): how completion is known.
    std::shared_ptr<Timeline> done_;
    uint64_t submitted_ = 0;
    uint64_t highest_wait_ = 0;  // the highest value of `after` a submission waited for
    std::vector<std::pair<uint64_t, std::shared_ptr<Timeline>>> retired_;  // (submission, target)
    // Reused every call, so a steady stream of frames allocates nothing.
    std::vector<Failure> failures_;
    std::vector<VkSemaphore> semaphores_;
    std::vector<uint64_t> values_;
    std::vector<size_t> portable_;  // indices of the portable targets to signal
    std::vector<size_t> vulkan_;    // indices of the Vulkan targets to signal (semaphores_ order)
};

}  // namespace geyser
