#include <mutex>
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/sync.hpp"
#include "posix/fd_kind.hpp"
#include "vulkan/external_memory/memory_file.hpp"

namespace geyser {

namespace {

const char* family_name(Device::FdFamily f) {
    switch (f) {
        case Device::FdFamily::kMemory: return "memory";
        case Device::FdFamily::kSemaphore: return "semaphore";
        case Device::FdFamily::kFence: return "fence";
    }
    return "?";
}

}  // namespace

const Device::LearntFdKind& Device::learnt_fd_kind(FdFamily family) {
    std::lock_guard<std::mutex> lock(fd_kind_mutex_);
    LearntFdKind& slot = fd_kinds_[static_cast<int>(family)];
    if (slot.learnt) return slot;
    // Export one small object of the family and look at the fd the driver gives back.
    UniqueFd sample;
    uint64_t sample_size = 0;
    switch (family) {
        case FdFamily::kMemory:
            if (info_.buffer_memory.exportable & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
                auto buffer = create_shareable_buffer(256);
                MemoryHandle h = export_buffer(*buffer);
                sample_size = h.size;
                sample = std::move(h.fd);
            }
            break;
        case FdFamily::kSemaphore:
            if (info_.binary_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
                auto s = create_shared_semaphore(SemaphoreType::kBinary);
                sample = std::move(export_semaphore(*s).fd);
            } else if (info_.timeline_semaphore.exportable & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
                auto s = create_shared_semaphore(SemaphoreType::kTimeline);
                sample = std::move(export_semaphore(*s).fd);
            }
            break;
        case FdFamily::kFence:
            if (info_.fence.exportable & VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT) {
                auto f = create_shared_fence();
                sample = std::move(export_fence(*f).fd);
            }
            break;
    }
    if (sample.valid()) {
        const FdKind k = FdKind::of(sample.get(), family_name(family));
        slot.known = true;
        slot.type = k.type;
        slot.dev = k.dev;
        slot.rdev = k.rdev;
        if (family == FdFamily::kMemory) memory_file_rules_ = learn_memory_file_rules(sample.get(), sample_size);
    }
    slot.learnt = true;
    return slot;
}

void Device::check_opaque_fd(int fd, FdFamily family) {
    require_owner_process("check an fd against this device");
    const FdKind kind = FdKind::of(fd, family_name(family));
    const LearntFdKind& learnt = learnt_fd_kind(family);
    if (!learnt.known) return;  // nothing to compare with; the import itself will be refused
    const FdKind expected{learnt.type, learnt.dev, learnt.rdev};
    if (!kind.same_as(expected)) {
        throw InvalidHandleError("fd " + std::to_string(fd) + " is " + kind.describe() + ", but '" + info_.name +
                                 "' exports " + family_name(family) + " as " + expected.describe() +
                                 ": it was not exported by this driver");
    }
}

void Device::check_opaque_memory_file(int fd, uint64_t allocation_size) {
    require_owner_process("check an fd against this device");
    // Learnt once and immutable after, so the rules are used outside the lock.
    if (learnt_fd_kind(FdFamily::kMemory).known) memory_file_rules_->check(fd, allocation_size);
}

bool Device::repair_memory_file(int fd, uint64_t allocation_size) {
    require_owner_process("repair exported memory");
    return learnt_fd_kind(FdFamily::kMemory).known && memory_file_rules_->repair(fd, allocation_size);
}

UniqueFd Device::keep_memory_file_for_free(int fd) {
    if (!learnt_fd_kind(FdFamily::kMemory).known || !memory_file_rules_->frees_by_file()) return {};
    return UniqueFd::duplicate_of(fd);
}

}  // namespace geyser
