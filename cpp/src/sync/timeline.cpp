// geyser::Timeline: a Vulkan timeline semaphore or a PortableTimeline behind one class, and the
// Device's timeline operations (create, export, import, a texture's frame timeline).
#include "geyser/timeline.hpp"

#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "vulkan/external_sync/fd.hpp"
#include "../timeout.hpp"

namespace geyser {

namespace {

std::string decrease(uint64_t current, uint64_t asked) {
    return "timeline value must not decrease: current " + std::to_string(current) + ", asked " +
           std::to_string(asked);
}

}  // namespace

const char* to_string(TimelineKind kind) {
    switch (kind) {
        case TimelineKind::kPortable: return "portable";
        case TimelineKind::kVulkan: return "vulkan";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------------------------
// TimelineHandle

void TimelineHandle::close() noexcept {
    semaphore.close();
    fd.reset();
}

TimelineHandle TimelineHandle::duplicate() const {
    TimelineHandle h;
    h.kind = kind;
    h.semaphore = semaphore.duplicate();
    if (fd.valid()) h.fd = fd.duplicate();
    return h;
}

// ---------------------------------------------------------------------------------------------
// Timeline

Timeline::Timeline(std::shared_ptr<Device> device, std::shared_ptr<Semaphore> semaphore, bool imported)
    : device_(std::move(device)), kind_(TimelineKind::kVulkan), semaphore_(std::move(semaphore)), imported_(imported) {}

Timeline::Timeline(std::shared_ptr<Device> device, std::unique_ptr<PortableTimeline> portable, bool imported)
    : device_(std::move(device)), kind_(TimelineKind::kPortable), portable_(std::move(portable)), imported_(imported) {}

// The semaphore leaves a fork() child's inherited objects alone itself; a PortableTimeline unmaps
// and closes only this process's mapping and fd.
Timeline::~Timeline() = default;

uint64_t Timeline::value() const {
    device_->require_owner_process("read a timeline");
    return semaphore_ ? semaphore_->value() : portable_->value();
}

void Timeline::signal(uint64_t value) {
    device_->require_owner_process("signal a timeline");
    if (portable_) {
        portable_->signal(value);  // atomic: equal wakes and changes nothing, lower throws
        return;
    }
    std::lock_guard<std::mutex> lock(signal_mutex_);
    const uint64_t current = semaphore_->value();
    if (value == current) return;
    if (value < current) throw InvalidArgumentError(decrease(current, value));
    semaphore_->signal(value);
}

void Timeline::wait(uint64_t value, std::chrono::nanoseconds timeout) const {
    device_->require_owner_process("wait on a timeline");
    if (semaphore_) {
        semaphore_->wait(value, timeout);
    } else {
        portable_->wait(value, timeout);
    }
}

void Timeline::mark_abandoned() {
    device_->require_owner_process("mark a timeline abandoned");
    if (portable_) portable_->mark_abandoned();
}

bool Timeline::abandoned() const {
    device_->require_owner_process("read a timeline");
    return portable_ && portable_->abandoned();
}

// ---------------------------------------------------------------------------------------------
// Device: creation, export and import of timelines.

std::shared_ptr<Timeline> Device::make_timeline(TimelineChoice choice, uint64_t initial_value, bool shared) {
    require_owner_process("create a timeline");
    bool vulkan = false;
    switch (choice) {
        case TimelineChoice::kAuto:
            vulkan = shared ? (info_.timeline_semaphore.exportable & default_sync_service().handle_type()) != 0
                            : info_.timeline_semaphores;
            break;
        case TimelineChoice::kPortable: vulkan = false; break;
        case TimelineChoice::kVulkan: vulkan = true; break;
        default:
            throw InvalidArgumentError("unknown timeline choice " + std::to_string(static_cast<int>(choice)) +
                                       " (auto is 0, portable 1, vulkan 2)");
    }
    if (vulkan) {
        auto semaphore = shared ? create_shared_semaphore(SemaphoreType::kTimeline, initial_value)
                                : create_semaphore(SemaphoreType::kTimeline, initial_value);
        return std::shared_ptr<Timeline>(new Timeline(shared_from_this(), std::move(semaphore), false));
    }
    auto portable = std::make_unique<PortableTimeline>(PortableTimeline::create(initial_value));
    return std::shared_ptr<Timeline>(new Timeline(shared_from_this(), std::move(portable), false));
}

std::shared_ptr<Timeline> Device::create_shared_timeline(TimelineChoice choice, uint64_t initial_value) {
    return make_timeline(choice, initial_value, true);
}

std::shared_ptr<Timeline> Device::create_timeline(TimelineChoice choice, uint64_t initial_value) {
    return make_timeline(choice, initial_value, false);
}

TimelineHandle Device::export_timeline(Timeline& timeline) {
    require_owner_process("export a timeline");
    if (timeline.device_.get() != this) throw DeviceMismatchError("timeline belongs to another Device object");
    TimelineHandle h;
    h.kind = timeline.kind_;
    if (timeline.portable_) {
        h.fd = timeline.portable_->export_fd();
        return h;
    }
    if (!timeline.semaphore_->exportable()) {
        throw UnsupportedOperationError("this Vulkan timeline is local (made by create_timeline) and cannot be "
                                        "exported; make it with create_shared_timeline to share it");
    }
    h.semaphore = export_semaphore(*timeline.semaphore_);
    return h;
}

std::shared_ptr<Timeline> Device::import_timeline(const TimelineHandle& h) {
    require_owner_process("import a timeline");
    switch (h.kind) {
        case TimelineKind::kVulkan:
            // NVIDIA's driver imports a binary semaphore's fd as a timeline and a memory fd as a
            // semaphore (DRIVER_FACTS.md): the description is checked first, then import_semaphore
            // checks the rest and imports a duplicate.
            if (h.fd.valid()) {
                throw InvalidHandleError("a vulkan timeline handle carries its fd in its semaphore handle, but it "
                                         "holds a portable timeline's fd");
            }
            if (h.semaphore.primitive != SyncPrimitive::kSemaphore) {
                throw InvalidHandleError(std::string("a vulkan timeline handle must describe a timeline semaphore, "
                                                     "not a ") + to_string(h.semaphore.primitive));
            }
            if (h.semaphore.semaphore_type != SemaphoreType::kTimeline) {
                throw InvalidHandleError("a vulkan timeline handle must describe a timeline semaphore, not a " +
                                         std::string(h.semaphore.semaphore_type == SemaphoreType::kBinary
                                                         ? "binary one"
                                                         : "semaphore of unknown type " +
                                                               std::to_string(static_cast<uint32_t>(
                                                                   h.semaphore.semaphore_type))));
            }
            return std::shared_ptr<Timeline>(new Timeline(shared_from_this(), import_semaphore(h.semaphore), true));
        case TimelineKind::kPortable: {
            if (h.semaphore.fd.valid()) {
                throw InvalidHandleError("a portable timeline handle carries its memfd in fd, but it holds a "
                                         "semaphore's fd");
            }
            if (!h.fd.valid()) throw InvalidHandleError("portable timeline handle carries no fd (closed?)");
            auto portable = std::make_unique<PortableTimeline>(PortableTimeline::import_fd(h.fd.get()));
            return std::shared_ptr<Timeline>(new Timeline(shared_from_this(), std::move(portable), true));
        }
    }
    throw InvalidHandleError("unknown timeline kind " + std::to_string(static_cast<int>(h.kind)) +
                             " (portable is 1, vulkan 2)");
}

// ---------------------------------------------------------------------------------------------
// Device: a texture's frame timeline (the original project's signal_texture_ready and
// wait_for_texture).

void Device::signal_texture_ready(Texture& texture, uint64_t value) {
    require_owner_process("signal a texture ready");
    if (texture.device().get() != this) throw DeviceMismatchError("texture belongs to another Device object");
    std::shared_ptr<Timeline> timeline;
    {
        // Under the texture's lock, so two first signals create one timeline.
        std::lock_guard<std::mutex> lock(texture.timeline_mutex_);
        if (!texture.timeline_) texture.timeline_ = create_shared_timeline();
        timeline = texture.timeline_;
    }
    timeline->signal(value);
}

void Device::wait_for_texture(Texture& texture, uint64_t value, std::chrono::nanoseconds timeout) {
    require_owner_process("wait for a texture");
    if (texture.device().get() != this) throw DeviceMismatchError("texture belongs to another Device object");
    const std::shared_ptr<Timeline> timeline = texture.timeline();
    if (!timeline) {
        throw UnsupportedOperationError(
            "this texture has no timeline: import it with import_texture(handle, timeline=...) or set "
            "texture.timeline");
    }
    timeline->wait(value, timeout);
}

}  // namespace geyser
