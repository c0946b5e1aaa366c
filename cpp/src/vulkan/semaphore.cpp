// Semaphore: a binary or timeline VkSemaphore, its host-side timeline operations, and the
// Device's factory methods for it (create, export, import).
#include "geyser/sync.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "geyser/device.hpp"
#include "geyser/interrupt.hpp"
#include "deadline.hpp"
#include "text.hpp"
#include "vulkan/external_sync/fd.hpp"
#include "vulkan/sync_import_checks.hpp"
#include "vulkan/vk.hpp"
#include "../timeout.hpp"

namespace geyser {

namespace {

// A timeline wait's first slice (Semaphore::wait); later ones double up to the interrupt slice.
constexpr uint64_t kFirstWaitSliceNs = 100'000;
constexpr uint64_t kInterruptSliceNs = std::chrono::duration_cast<std::chrono::nanoseconds>(kInterruptSlice).count();

const ExternalHandleTypes& semaphore_support(const Device& d, SemaphoreType t) {
    return t == SemaphoreType::kTimeline ? d.info().timeline_semaphore : d.info().binary_semaphore;
}

// The handle types of `types` whose service can carry a semaphore of `type`: a timeline
// semaphore must never be exported as a type that cannot carry timelines (sync FD, spec),
// whatever a driver reports.
uint32_t carriable(uint32_t types, SemaphoreType type) {
    if (type != SemaphoreType::kTimeline) return types;
    uint32_t carried = 0;
    for (const FdSyncService* service : sync_services()) {
        if (service->carries_timelines()) carried |= types & service->handle_type();
    }
    return carried;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Semaphore

Semaphore::Semaphore(std::shared_ptr<Device> device, SemaphoreType type) : device_(std::move(device)), type_(type) {}

Semaphore::~Semaphore() {
    // In a fork() child the parent's objects are left alone (Device::inherited_across_fork).
    if (semaphore_ != VK_NULL_HANDLE && !device_->inherited_across_fork()) device_->vk().vkDestroySemaphore(device_->vk_device(), semaphore_, nullptr);
}

void Semaphore::require_timeline(const char* what) const {
    if (type_ != SemaphoreType::kTimeline) {
        throw UnsupportedOperationError(std::string("a binary semaphore has no host-side ") + what +
                                        "; use a timeline semaphore");
    }
}

uint64_t Semaphore::value() const {
    device_->require_owner_process("read a semaphore");
    require_timeline("value");
    uint64_t v = 0;
    check_vk(device_->vk().vkGetSemaphoreCounterValue(device_->vk_device(), semaphore_, &v),
             "vkGetSemaphoreCounterValue");
    return v;
}

void Semaphore::signal(uint64_t value) {
    device_->require_owner_process("signal a semaphore");
    require_timeline("signal");
    // vkSignalSemaphore requires a value greater than the current one; the driver does not check.
    const uint64_t current = this->value();
    if (value <= current) {
        throw InvalidArgumentError("timeline value must increase: current " + std::to_string(current) + ", asked " +
                                   std::to_string(value));
    }
    VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
    info.semaphore = semaphore_;
    info.value = value;
    vk_call("vkSignalSemaphore", [&] { return device_->vk().vkSignalSemaphore(device_->vk_device(), &info); });
}

void Semaphore::wait(uint64_t value, std::chrono::nanoseconds timeout) const {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    device_->require_owner_process("wait on a semaphore");
    require_timeline("wait");
    VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    info.semaphoreCount = 1;
    info.pSemaphores = &semaphore_;
    info.pValues = &value;
    // In interrupt slices (interrupt.hpp); a timeout of UINT64_MAX waits without limit. The
    // slices start short and double up to the interrupt slice: NVIDIA's vkWaitSemaphores is
    // sometimes not woken by a signal that CUDA makes (cuSignalExternalSemaphoresAsync, measured
    // on 580.159.04: a 0.3 ms copy seen 10 ms late on average, half of one 20 ms slice), and
    // returns only at its timeout. Doubling catches such a missed wake within about the time
    // already waited, for a handful of extra wake-ups per wait (docs/cuda.md).
    const uint64_t deadline = deadline_after_ns(timeout_ns);
    VkResult r = VK_TIMEOUT;
    uint64_t backoff = kFirstWaitSliceNs;
    uint64_t since_check = 0;
    for (;;) {
        const uint64_t left = timeout_ns == UINT64_MAX ? UINT64_MAX : ns_until(deadline);
        const uint64_t slice = std::min(interrupt_slice_ns(left), backoff);
        r = device_->vk().vkWaitSemaphores(device_->vk_device(), &info, slice);
        if (r != VK_TIMEOUT || slice == left) break;
        backoff = std::min(backoff * 2, kInterruptSliceNs);
        since_check += slice;
        if (since_check >= kInterruptSliceNs) {  // the short first slices do not take Python's lock each time
            since_check = 0;
            check_interrupt();
        }
    }
    if (r == VK_TIMEOUT) {
        uint64_t now = 0;
        device_->vk().vkGetSemaphoreCounterValue(device_->vk_device(), semaphore_, &now);
        throw TimeoutError("timed out after " + ms(timeout_ns) + " waiting for timeline value " +
                           std::to_string(value) + " (current " + std::to_string(now) + ")");
    }
    check_vk(r, "vkWaitSemaphores");
}

// ---------------------------------------------------------------------------------------------
// Device: creation, export and import of semaphores.

std::shared_ptr<Semaphore> Device::create_shared_semaphore(SemaphoreType type, uint64_t initial_value) {
    return make_semaphore(type, initial_value, true);
}

std::shared_ptr<Semaphore> Device::create_semaphore(SemaphoreType type, uint64_t initial_value) {
    return make_semaphore(type, initial_value, false);
}

std::shared_ptr<Semaphore> Device::make_semaphore(SemaphoreType type, uint64_t initial_value, bool exportable) {
    require_owner_process("create a semaphore");
    if (type == SemaphoreType::kTimeline && !info_.timeline_semaphores) {
        throw UnsupportedOperationError("device '" + info_.name + "' has no timeline semaphores");
    }
    if (type == SemaphoreType::kBinary && initial_value != 0) {
        throw InvalidArgumentError("a binary semaphore has no initial value");
    }
    const ExternalHandleTypes& support = semaphore_support(*this, type);
    const char* extension = default_sync_service().device_extension(SyncPrimitive::kSemaphore);
    if (exportable && !support.exportable) {
        throw UnsupportedOperationError("device '" + info_.name + "' cannot export " + to_string(type) +
                                        " semaphores" +
                                        (has_extension(extension)
                                             ? std::string(" (the driver reports no exportable handle type)")
                                             : " (no " + std::string(extension) + ")") +
                                        "; use the portable timeline for cross-process sync");
    }
    std::shared_ptr<Semaphore> s(new Semaphore(shared_from_this(), type));
    VkSemaphoreCreateInfo ci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkSemaphoreTypeCreateInfo type_info{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    if (type == SemaphoreType::kTimeline) {
        type_info.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
        type_info.initialValue = initial_value;
        chain(ci, type_info);
    }
    VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO};
    if (exportable) {
        s->export_types_ = carriable(support.exportable, type);
        export_info.handleTypes = s->export_types_;
        chain(ci, export_info);
    }
    vk_call("vkCreateSemaphore", [&] { return table_->vkCreateSemaphore(device_, &ci, nullptr, &s->semaphore_); });
    return s;
}

SyncHandle Device::export_semaphore(Semaphore& s, uint32_t handle_type) {
    require_owner_process("export a semaphore");
    if (s.device_.get() != this) throw DeviceMismatchError("semaphore belongs to another Device object");
    const FdSyncService& service = described_sync_service(handle_type, "semaphore");
    if (s.type_ == SemaphoreType::kTimeline && !service.carries_timelines()) {
        throw UnsupportedOperationError(std::string("timeline semaphores cannot be exported as ") + service.name() +
                                        " (Vulkan spec)");
    }
    if (!(s.export_types_ & service.handle_type())) {
        throw UnsupportedOperationError(std::string("this semaphore cannot be exported as ") + service.name() +
                                        " on '" + info_.name + "'");
    }
    SyncHandle h;
    h.primitive = SyncPrimitive::kSemaphore;
    h.semaphore_type = s.type_;
    h.handle_type = service.handle_type();
    h.permanent = service.permanent_import();
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    if (s.type_ == SemaphoreType::kTimeline) h.initial_value = s.value();
    h.fd = service.export_semaphore(device_, *table_, s.semaphore_);
    h.already_signaled = !h.fd.valid();
    return h;
}

std::shared_ptr<Semaphore> Device::import_semaphore(const SyncHandle& h) {
    require_owner_process("import a semaphore");
    const FdSyncService& service = check_sync_common(*this, h, SyncPrimitive::kSemaphore);
    if (h.semaphore_type != SemaphoreType::kBinary && h.semaphore_type != SemaphoreType::kTimeline) {
        throw InvalidHandleError("unknown semaphore type " + std::to_string(static_cast<uint32_t>(h.semaphore_type)));
    }
    if (h.semaphore_type == SemaphoreType::kTimeline && !service.carries_timelines()) {
        throw InvalidHandleError(std::string("a timeline semaphore cannot travel as a ") + service.name());
    }
    if (!(semaphore_support(*this, h.semaphore_type).importable & service.handle_type())) {
        throw UnsupportedOperationError("device '" + info_.name + "' cannot import " + to_string(h.semaphore_type) +
                                        " semaphores as " + service.name());
    }
    auto s = create_semaphore(h.semaphore_type, 0);
    s->imported_ = true;
    // An already-signalled payload has no fd: the service imports it as one (a -1 sync FD).
    service.import_semaphore(device_, *table_, s->semaphore_, h.already_signaled ? -1 : h.fd.get());
    // A permanently imported payload can be exported again as the same type.
    if (service.permanent_import()) s->export_types_ = service.handle_type();
    return s;
}

}  // namespace geyser
