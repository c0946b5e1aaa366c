// Fence: a VkFence, its host-side wait and reset, and the Device's factory methods for it
// (create, export, import).
#include "geyser/sync.hpp"

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

// ---------------------------------------------------------------------------------------------
// Fence

Fence::Fence(std::shared_ptr<Device> device) : device_(std::move(device)) {}

Fence::~Fence() {
    // In a fork() child the parent's objects are left alone (Device::inherited_across_fork).
    if (fence_ != VK_NULL_HANDLE && !device_->inherited_across_fork()) device_->vk().vkDestroyFence(device_->vk_device(), fence_, nullptr);
}

bool Fence::signaled() const {
    device_->require_owner_process("read a fence");
    const VkResult r = device_->vk().vkGetFenceStatus(device_->vk_device(), fence_);
    if (r == VK_SUCCESS) return true;
    if (r == VK_NOT_READY) return false;
    throw VulkanError(r, "vkGetFenceStatus");
}

void Fence::wait(std::chrono::nanoseconds timeout) const {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    device_->require_owner_process("wait on a fence");
    // In interrupt slices (interrupt.hpp); a timeout of UINT64_MAX waits without limit.
    const uint64_t deadline = deadline_after_ns(timeout_ns);
    VkResult r = VK_TIMEOUT;
    for (;;) {
        const uint64_t left = timeout_ns == UINT64_MAX ? UINT64_MAX : ns_until(deadline);
        const uint64_t slice = interrupt_slice_ns(left);
        r = device_->vk().vkWaitForFences(device_->vk_device(), 1, &fence_, VK_TRUE, slice);
        if (r != VK_TIMEOUT || slice == left) break;
        check_interrupt();
    }
    if (r == VK_TIMEOUT) throw TimeoutError("timed out after " + ms(timeout_ns) + " waiting for a fence");
    check_vk(r, "vkWaitForFences");
}

void Fence::reset() {
    device_->require_owner_process("reset a fence");
    vk_call("vkResetFences", [&] { return device_->vk().vkResetFences(device_->vk_device(), 1, &fence_); });
}

// ---------------------------------------------------------------------------------------------
// Device: creation, export and import of fences.

std::shared_ptr<Fence> Device::create_shared_fence(bool signaled) { return make_fence(signaled, true); }

std::shared_ptr<Fence> Device::create_fence(bool signaled) { return make_fence(signaled, false); }

std::shared_ptr<Fence> Device::make_fence(bool signaled, bool exportable) {
    require_owner_process("create a fence");
    if (exportable && !info_.fence.exportable) {
        const char* extension = default_sync_service().device_extension(SyncPrimitive::kFence);
        throw UnsupportedOperationError("device '" + info_.name + "' cannot export fences" +
                                        (has_extension(extension)
                                             ? std::string(" (the driver reports no exportable handle type)")
                                             : " (no " + std::string(extension) + ")"));
    }
    std::shared_ptr<Fence> f(new Fence(shared_from_this()));
    VkFenceCreateInfo ci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (signaled) ci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
    VkExportFenceCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO};
    if (exportable) {
        f->export_types_ = info_.fence.exportable;
        export_info.handleTypes = f->export_types_;
        chain(ci, export_info);
    }
    vk_call("vkCreateFence", [&] { return table_->vkCreateFence(device_, &ci, nullptr, &f->fence_); });
    return f;
}

SyncHandle Device::export_fence(Fence& f, uint32_t handle_type) {
    require_owner_process("export a fence");
    if (f.device_.get() != this) throw DeviceMismatchError("fence belongs to another Device object");
    const FdSyncService& service = described_sync_service(handle_type, "fence");
    // DeviceInfo::fence and export_types_ hold VkExternalFenceHandleTypeFlags, whose SYNC_FD bit is
    // not the semaphore's that names the type in a SyncHandle.
    if (!(f.export_types_ & service.fence_handle_type())) {
        throw UnsupportedOperationError(std::string("this fence cannot be exported as ") + service.name() + " on '" +
                                        info_.name + "'");
    }
    SyncHandle h;
    h.primitive = SyncPrimitive::kFence;
    h.handle_type = service.handle_type();
    h.permanent = service.permanent_import();
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    h.fd = service.export_fence(device_, *table_, f.fence_);
    h.already_signaled = !h.fd.valid();
    return h;
}

std::shared_ptr<Fence> Device::import_fence(const SyncHandle& h) {
    require_owner_process("import a fence");
    const FdSyncService& service = check_sync_common(*this, h, SyncPrimitive::kFence);
    if (!(info_.fence.importable & service.fence_handle_type())) {
        throw UnsupportedOperationError("device '" + info_.name + "' cannot import fences as " +
                                        std::string(service.name()));
    }
    auto f = create_fence(false);
    f->imported_ = true;
    // An already-signalled payload has no fd: the service imports it as one (a -1 sync FD).
    service.import_fence(device_, *table_, f->fence_, h.already_signaled ? -1 : h.fd.get());
    // A permanently imported payload can be exported again as the same type.
    if (service.permanent_import()) f->export_types_ = service.fence_handle_type();
    return f;
}

}  // namespace geyser
