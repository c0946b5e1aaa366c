// Exportable Vulkan semaphores (binary and timeline) and fences, and the handle that carries one
// to another process.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

class Device;
class Timeline;

enum class SyncPrimitive : uint32_t {
    kSemaphore = 1,
    kFence = 2,
};

enum class SemaphoreType : uint32_t {
    kBinary = 1,
    kTimeline = 2,
};

const char* to_string(SyncPrimitive p);
const char* to_string(SemaphoreType t);

/// An exported semaphore or fence: the OS handle plus what an importer must know. Move-only; owns
/// `fd`. A sync FD of -1 is a valid payload meaning "already signalled" and is represented by
/// `already_signaled` (with `fd` empty), never by a bare -1.
struct SyncHandle {
    SyncPrimitive primitive = SyncPrimitive::kSemaphore;
    SemaphoreType semaphore_type = SemaphoreType::kBinary;  ///< Semaphores only.
    /// One VkExternalSemaphoreHandleTypeFlagBits bit, for fences too: it names the handle type
    /// (a fence's own VkExternalFenceHandleTypeFlagBits agree for opaque FD, but its SYNC_FD bit
    /// is 0x8 where the semaphore's, used here, is 0x10).
    uint32_t handle_type = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
    UniqueFd fd;
    bool already_signaled = false;
    /// Opaque FD imports are permanent (they replace the payload for good); sync FD imports are
    /// temporary (copy semantics: the payload is restored after the next wait).
    bool permanent = true;
    uint64_t initial_value = 0;  ///< Timeline value when exported (informational).
    Uuid device_uuid{};
    Uuid driver_uuid{};

    void close() noexcept { fd.reset(); }
    SyncHandle duplicate() const;
};

/// An exportable (or imported) VkSemaphore. Holds its Device alive. Thread-safe.
class Semaphore {
public:
    ~Semaphore();
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    SemaphoreType type() const noexcept { return type_; }
    bool imported() const noexcept { return imported_; }
    bool exportable() const noexcept { return export_types_ != 0; }
    VkSemaphore vk_semaphore() const noexcept { return semaphore_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }

    /// Timeline only: the current counter (vkGetSemaphoreCounterValue).
    uint64_t value() const;
    /// Timeline only: signals `value` from the host. It must be greater than the current value.
    void signal(uint64_t value);
    /// Timeline only: waits until the counter reaches `value`; TimeoutError after `timeout`.
    void wait(uint64_t value, std::chrono::nanoseconds timeout) const;

private:
    friend class Device;
    Semaphore(std::shared_ptr<Device> device, SemaphoreType type);
    void require_timeline(const char* what) const;

    std::shared_ptr<Device> device_;
    SemaphoreType type_;
    VkSemaphore semaphore_ = VK_NULL_HANDLE;
    uint32_t export_types_ = 0;
    bool imported_ = false;
};

/// An exportable (or imported) VkFence. Holds its Device alive. Thread-safe.
class Fence {
public:
    ~Fence();
    Fence(const Fence&) = delete;
    Fence& operator=(const Fence&) = delete;

    bool imported() const noexcept { return imported_; }
    VkFence vk_fence() const noexcept { return fence_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }

    bool signaled() const;
    /// Waits until signalled; TimeoutError after `timeout`.
    void wait(std::chrono::nanoseconds timeout) const;
    void reset();

private:
    friend class Device;
    explicit Fence(std::shared_ptr<Device> device);

    std::shared_ptr<Device> device_;
    VkFence fence_ = VK_NULL_HANDLE;
    uint32_t export_types_ = 0;
    bool imported_ = false;
};

/// One wait or signal of a submission: a semaphore or a Timeline, and a value (ignored for binary
/// semaphores). Borrows both: they must outlive the operation it is given to (Geyser's
/// operations return once their work has completed). Plain data.
struct SyncPoint {
    SyncPoint(Semaphore* semaphore, uint64_t value = 0) noexcept : semaphore(semaphore), value(value) {}
    SyncPoint(Timeline* timeline, uint64_t value) noexcept : timeline(timeline), value(value) {}

    Semaphore* semaphore = nullptr;  ///< A binary or timeline semaphore (or null: `timeline` is set).
    Timeline* timeline = nullptr;    ///< A Timeline of either kind (or null: `semaphore` is set).
    uint64_t value = 0;
};

/// How long a submission waits on the host for its portable timelines unless told otherwise.
constexpr std::chrono::nanoseconds kDefaultHostWaitTimeout = std::chrono::seconds(10);

/// The ordering of one of Geyser's own submissions (Texture::upload/download, Buffer::write/read,
/// Device::copy_texture/copy_buffer_to_texture): wait for each `wait` point before the work,
/// signal each `signal` point after it, and optionally signal a fence. Plain data.
///
/// Semaphores, Vulkan timelines (TimelineKind::kVulkan) and the fence go to the GPU with the
/// submission and must belong to the submitting Device (DeviceMismatchError). Portable timelines
/// are host objects: they are waited on from the host before the work is submitted (at most
/// `host_wait_timeout` for all of them together: TimeoutError, or PeerGoneError for an
/// abandoned one, and nothing is submitted) and signalled from the host once the work has
/// completed. Either way the work runs after every wait and before every signal.
///
/// Signal values are checked before anything waits or is submitted (InvalidArgumentError): a
/// timeline semaphore's must be above its current value (Vulkan requires it); a Timeline's, of
/// either kind, must not be below its current value, and one equal to it is left out (as
/// Timeline::signal does).
struct SubmitSync {
    std::vector<SyncPoint> wait;
    std::vector<SyncPoint> signal;
    Fence* fence = nullptr;
    std::chrono::nanoseconds host_wait_timeout = kDefaultHostWaitTimeout;
};

}  // namespace geyser
