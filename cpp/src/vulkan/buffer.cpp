// Buffer: a shareable linear buffer and its memory, its host I/O, and the Device's factory
// methods for it (create, export, import, release the handle).
#include "geyser/memory.hpp"

#include <cstring>
#include <string>

#include "geyser/device.hpp"
#include "text.hpp"
#include "vulkan/external_memory/fd.hpp"
#include "vulkan/memory_import_checks.hpp"
#include "vulkan/memory_requirements.hpp"
#include "vulkan/transfer.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

// ---------------------------------------------------------------------------------------------
// Device: creation, export and import of buffers.

std::shared_ptr<Buffer> Device::create_shareable_buffer(VkDeviceSize size, VkBufferUsageFlags usage) {
    require_owner_process("create a buffer");
    require_memory_export("buffers");
    if (size == 0) throw InvalidArgumentError("buffer size must be non-zero");
    usage |= VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    const FdMemoryService& service = default_memory_service();
    if (!service.supports_buffers(physical_, usage)) {
        throw UnsupportedOperationError("buffers with usage " + hex32(usage) + " cannot be shared as " +
                                        service.name() + " on '" + info_.name + "'");
    }
    std::shared_ptr<Buffer> buf(new Buffer(shared_from_this(), size, usage));
    buf->handle_type_ = service.handle_type();
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = service.handle_type();
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = usage;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    chain(bci, ext);
    vk_call("vkCreateBuffer", [&] { return table_->vkCreateBuffer(device_, &bci, nullptr, &buf->buffer_); });
    const Requirements req = buffer_requirements(*this, buf->buffer_);
    buf->dedicated_ = req.dedicated;
    buf->allocation_size_ = req.memory.size;
    buf->memory_type_ = choose_memory_type(req.memory.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    MemoryAllocation allocation{req.memory.size, buf->memory_type_};
    if (buf->dedicated_) allocation.dedicated_buffer = buf->buffer_;
    buf->memory_ = service.allocate_exportable(device_, *table_, allocation);
    vk_call("vkBindBufferMemory", [&] { return table_->vkBindBufferMemory(device_, buf->buffer_, buf->memory_, 0); });
    return buf;
}

void Device::release_buffer_handle(MemoryHandle& handle) {
    if (handle.kind != ResourceKind::kBuffer) {
        throw InvalidHandleError(std::string("release_buffer_handle got a ") + to_string(handle.kind) + "'s handle");
    }
    handle.close();
}

MemoryHandle Device::export_buffer(Buffer& buffer) {
    require_owner_process("export a buffer");
    if (buffer.device_.get() != this) {
        throw DeviceMismatchError("buffer belongs to device '" + buffer.device_->info().name +
                                  "', not to this Device object");
    }
    if (!buffer.exportable_) {
        throw UnsupportedOperationError("this buffer was imported into memory the driver cannot export again; "
                                        "forward the original handle instead (handle.duplicate())");
    }
    {
        std::lock_guard<std::mutex> lock(buffer.mutex_);
        if (!buffer.initialized_) buffer.record_initial_release();
    }
    const FdMemoryService& service = memory_service(buffer.handle_type_);
    MemoryHandle h;
    h.kind = ResourceKind::kBuffer;
    h.handle_type = service.handle_type();
    h.fd = service.export_fd(device_, *table_, buffer.memory_);
    h.size = buffer.allocation_size_;
    h.memory_type_index = buffer.memory_type_;
    h.dedicated = buffer.dedicated_;
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    h.buffer_size = buffer.size_;
    h.buffer_usage = buffer.usage_;
    return h;
}

std::shared_ptr<Buffer> Device::import_buffer(const MemoryHandle& h) {
    require_owner_process("import a buffer");
    require_memory_export("buffers");
    const FdMemoryService& service = check_common(*this, h, ResourceKind::kBuffer, info_.buffer_memory);
    check_buffer_description(h);
    std::shared_ptr<Buffer> buf(new Buffer(shared_from_this(), h.buffer_size, h.buffer_usage));
    buf->handle_type_ = service.handle_type();
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = service.handle_type();
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = h.buffer_size;
    bci.usage = h.buffer_usage;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    chain(bci, ext);
    vk_call("vkCreateBuffer", [&] { return table_->vkCreateBuffer(device_, &bci, nullptr, &buf->buffer_); });
    check_buffer_allocation(*this, h, buffer_requirements(*this, buf->buffer_));
    MemoryAllocation allocation{h.size, h.memory_type_index};
    if (h.dedicated) allocation.dedicated_buffer = buf->buffer_;
    buf->memory_file_ = keep_memory_file_for_free(h.fd.get());
    buf->memory_ = service.import_fd(device_, *table_, h.fd.get(), allocation);
    buf->allocation_size_ = h.size;
    buf->memory_type_ = h.memory_type_index;
    buf->dedicated_ = h.dedicated;
    buf->imported_ = true;
    buf->initialized_ = true;
    buf->exportable_ = false;
    vk_call("vkBindBufferMemory(import)", [&] { return table_->vkBindBufferMemory(device_, buf->buffer_, buf->memory_, 0); });
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Buffer

Buffer::Buffer(std::shared_ptr<Device> device, VkDeviceSize size, VkBufferUsageFlags usage)
    : device_(std::move(device)), size_(size), usage_(usage) {}

Buffer::~Buffer() {
    if (device_->inherited_across_fork()) return;  // the parent's objects are the parent's
    const auto& vk = device_->vk();
    if (buffer_ != VK_NULL_HANDLE) vk.vkDestroyBuffer(device_->vk_device(), buffer_, nullptr);
    release_memory(*device_, memory_, memory_file_, allocation_size_);
}

void Buffer::write(const void* data, size_t size, VkDeviceSize offset, const SubmitSync& sync) {
    transfer(const_cast<void*>(data), size, offset, true, sync);
}

void Buffer::read(void* out, size_t size, VkDeviceSize offset, const SubmitSync& sync) {
    transfer(out, size, offset, false, sync);
}

void Buffer::transfer(void* host, size_t size, VkDeviceSize offset, bool to_buffer, const SubmitSync& sync) {
    device_->require_owner_process(to_buffer ? "write a buffer" : "read a buffer");
    require_range(offset, size);
    if (size == 0) {
        if (!sync.wait.empty() || !sync.signal.empty() || sync.fence) {
            throw InvalidArgumentError("a zero-byte copy submits nothing, so it cannot wait or signal");
        }
        return;
    }
    const SplitSync split(*device_, sync);
    split.wait_on_host();
    std::lock_guard<std::mutex> lock(mutex_);
    StagingBuffer staging(*device_, size, !to_buffer);
    if (to_buffer) std::memcpy(staging.data(), host, size);
    const auto& vk = device_->vk();
    const VkAccessFlags access = to_buffer ? VK_ACCESS_TRANSFER_WRITE_BIT : VK_ACCESS_TRANSFER_READ_BIT;
    OneTimeCommands cmds(*device_);
    VkCommandBuffer cb = cmds.cmd();
    record_acquire(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    VkBufferCopy region{};
    region.size = size;
    if (to_buffer) {
        region.dstOffset = offset;
        vk.vkCmdCopyBuffer(cb, staging.buffer(), buffer_, 1, &region);
    } else {
        region.srcOffset = offset;
        vk.vkCmdCopyBuffer(cb, buffer_, staging.buffer(), 1, &region);
        VkMemoryBarrier host_read{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        host_read.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        host_read.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &host_read, 0,
                                nullptr, 0, nullptr);
    }
    record_release(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    cmds.submit_and_wait(split);
    initialized_ = true;
    if (!to_buffer) std::memcpy(host, staging.data(), size);
    split.signal_on_host();
}

void Buffer::require_range(VkDeviceSize offset, VkDeviceSize size) const {
    if (offset > size_ || size > size_ - offset) {
        throw InvalidArgumentError("range [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                                   ") is outside the " + std::to_string(size_) + "-byte buffer");
    }
}

}  // namespace geyser
