// Fence: a VkFence, its host-side wait and reset, and the Device's factory methods for it
// (create, export, import).
#include "geyser/sync.hpp"

#include <string>

#include "geyser/device.hpp"
#include "posix/fd_kind.hpp"
#include "text.hpp"
#include "vulkan/sync_import_checks.hpp"
#include "vulkan/vk.hpp"

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

void Fence::wait(uint64_t timeout_ns) const {
    device_->require_owner_process("wait on a fence");
    const VkResult r = device_->vk().vkWaitForFences(device_->vk_device(), 1, &fence_, VK_TRUE, timeout_ns);
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
        throw UnsupportedOperationError("device '" + info_.name + "' cannot export fences" +
                                        (has_extension(VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME)
                                             ? std::string(" (the driver reports no exportable handle type)")
                                             : std::string(" (no VK_KHR_external_fence_fd)")));
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
    check_handle_type_bit(handle_type, "fence");
    if (!(f.export_types_ & handle_type)) {
        throw UnsupportedOperationError(std::string("this fence cannot be exported as ") +
                                        external_handle_type_name(handle_type) + " on '" + info_.name + "'");
    }
    SyncHandle h;
    h.primitive = SyncPrimitive::kFence;
    h.handle_type = handle_type;
    h.permanent = handle_type == kOpaque;
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    VkFenceGetFdInfoKHR info{VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR};
    info.fence = f.fence_;
    info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(handle_type);
    int fd = -1;
    vk_call("vkGetFenceFdKHR", [&] { return table_->vkGetFenceFdKHR(device_, &info, &fd); });
    if (fd < 0) {
        if (handle_type != kSyncFd) throw VulkanError(VK_ERROR_UNKNOWN, "vkGetFenceFdKHR", "returned fd -1");
        h.already_signaled = true;
    } else {
        h.fd.reset(fd);
    }
    return h;
}

std::shared_ptr<Fence> Device::import_fence(const SyncHandle& h) {
    require_owner_process("import a fence");
    check_sync_common(*this, h, SyncPrimitive::kFence);
    if (!(info_.fence.importable & h.handle_type)) {
        throw UnsupportedOperationError("device '" + info_.name + "' cannot import fences as " +
                                        std::string(external_handle_type_name(h.handle_type)));
    }
    auto f = create_fence(false);
    f->imported_ = true;
    if (h.already_signaled) {
        VkImportFenceFdInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR};
        info.fence = f->fence_;
        info.flags = VK_FENCE_IMPORT_TEMPORARY_BIT;
        info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
        info.fd = -1;
        vk_call("vkImportFenceFdKHR", [&] { return table_->vkImportFenceFdKHR(device_, &info); });
        return f;
    }
    import_duplicate(h.fd.get(), "vkImportFenceFdKHR", [&](int fd) {
        VkImportFenceFdInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR};
        info.fence = f->fence_;
        info.flags = h.permanent ? 0 : VK_FENCE_IMPORT_TEMPORARY_BIT;
        info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(h.handle_type);
        info.fd = fd;
        return fault::injected("vkImportFenceFdKHR") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                      : table_->vkImportFenceFdKHR(device_, &info);
    });
    if (h.permanent) f->export_types_ = h.handle_type;
    return f;
}

}  // namespace geyser
