// Texture: a shareable 2D image and its memory, its host I/O, and the Device's factory methods
// for it (create, export, import, release the handle).
#include "geyser/memory.hpp"

#include <cstring>
#include <string>

#include "geyser/device.hpp"
#include "vulkan/external_memory/fd.hpp"
#include "vulkan/formats.hpp"
#include "vulkan/memory_import_checks.hpp"
#include "vulkan/memory_requirements.hpp"
#include "vulkan/transfer.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

namespace {

VkImageCreateInfo image_info(uint32_t w, uint32_t h, VkFormat format, VkImageUsageFlags usage) {
    VkImageCreateInfo ci{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ci.imageType = VK_IMAGE_TYPE_2D;
    ci.format = format;
    ci.extent = {w, h, 1};
    ci.mipLevels = 1;
    ci.arrayLayers = 1;
    ci.samples = VK_SAMPLE_COUNT_1_BIT;
    ci.tiling = VK_IMAGE_TILING_OPTIMAL;
    ci.usage = usage;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    ci.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    return ci;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Device: creation, export and import of textures.

std::shared_ptr<Texture> Device::create_shareable_texture(const TextureDescriptor& desc) {
    require_owner_process("create a texture");
    require_memory_export("textures");
    check_descriptor(desc);
    const FdMemoryService& service = default_memory_service();
    const FormatSupport support = format_support(desc.format, desc.usage);
    const FormatInfo& info = format_info(desc.format);
    if (!support.shareable()) {
        throw UnsupportedFormatError(std::string(info.name) + " with usage " + texture_usage_to_string(desc.usage) +
                                     " cannot be shared as " + service.name() + " on '" + info_.name +
                                     "': " + support.reason);
    }
    const HandleTypeSupport& caps = support.handle_types.at(service.handle_type());
    if (desc.width > caps.max_width || desc.height > caps.max_height) {
        throw InvalidArgumentError("texture extent " + std::to_string(desc.width) + "x" + std::to_string(desc.height) +
                                   " exceeds this format's maximum " + std::to_string(caps.max_width) + "x" +
                                   std::to_string(caps.max_height));
    }
    const VkImageUsageFlags vk_usage = vk_image_usage(desc.format, desc.usage);

    std::shared_ptr<Texture> tex(new Texture(shared_from_this(), desc, support.vk_format, vk_usage));
    tex->handle_type_ = service.handle_type();
    VkExternalMemoryImageCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO};
    ext.handleTypes = service.handle_type();
    VkImageCreateInfo ci = image_info(desc.width, desc.height, support.vk_format, vk_usage);
    chain(ci, ext);
    vk_call("vkCreateImage", [&] { return table_->vkCreateImage(device_, &ci, nullptr, &tex->image_); });

    const Requirements req = image_requirements(*this, tex->image_);
    tex->dedicated_ = req.dedicated || caps.dedicated_only;
    tex->allocation_size_ = req.memory.size;
    tex->memory_type_ = choose_memory_type(req.memory.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);

    MemoryAllocation allocation{req.memory.size, tex->memory_type_};
    if (tex->dedicated_) allocation.dedicated_image = tex->image_;
    tex->memory_ = service.allocate_exportable(device_, *table_, allocation);
    vk_call("vkBindImageMemory", [&] { return table_->vkBindImageMemory(device_, tex->image_, tex->memory_, 0); });
    return tex;
}

MemoryHandle Device::export_texture(Texture& texture) {
    require_owner_process("export a texture");
    if (texture.device_.get() != this) {
        throw DeviceMismatchError("texture belongs to device '" + texture.device_->info().name +
                                  "', not to this Device object");
    }
    if (!texture.exportable_) {
        throw UnsupportedOperationError("this texture was imported into memory the driver cannot export again; "
                                        "forward the original handle instead (handle.duplicate())");
    }
    {
        std::lock_guard<std::mutex> lock(texture.mutex_);
        if (!texture.initialized_) texture.record_initial_release();
    }
    const FdMemoryService& service = memory_service(texture.handle_type_);
    MemoryHandle h;
    h.kind = ResourceKind::kTexture;
    h.handle_type = service.handle_type();
    h.fd = service.export_fd(device_, *table_, texture.memory_);
    h.size = texture.allocation_size_;
    h.memory_type_index = texture.memory_type_;
    h.dedicated = texture.dedicated_;
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    h.width = texture.descriptor_.width;
    h.height = texture.descriptor_.height;
    h.vk_format = texture.vk_format_;
    h.vk_usage = texture.vk_usage_;
    h.vk_tiling = VK_IMAGE_TILING_OPTIMAL;
    h.vk_create_flags = 0;
    h.vk_layout = texture.external_layout_;
    h.texture_format = texture.descriptor_.format;
    h.texture_usage = texture.descriptor_.usage;
    return h;
}

std::shared_ptr<Texture> Device::import_texture(const MemoryHandle& h) {
    require_owner_process("import a texture");
    require_memory_export("textures");
    check_texture_tag(h);
    const FdMemoryService& service = check_common(*this, h, ResourceKind::kTexture, info_.image_memory);
    const HandleTypeSupport caps = check_image_description(*this, h, service);

    TextureDescriptor desc;
    desc.width = h.width;
    desc.height = h.height;
    desc.format = h.texture_format;
    desc.usage = h.texture_usage;
    std::shared_ptr<Texture> tex(new Texture(shared_from_this(), desc, h.vk_format, h.vk_usage));
    tex->handle_type_ = service.handle_type();
    VkExternalMemoryImageCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO};
    ext.handleTypes = service.handle_type();
    VkImageCreateInfo ci = image_info(h.width, h.height, h.vk_format, h.vk_usage);
    chain(ci, ext);
    vk_call("vkCreateImage", [&] { return table_->vkCreateImage(device_, &ci, nullptr, &tex->image_); });

    check_image_allocation(*this, h, image_requirements(*this, tex->image_), caps);

    MemoryAllocation allocation{h.size, h.memory_type_index};
    if (h.dedicated) allocation.dedicated_image = tex->image_;
    tex->memory_file_ = keep_memory_file_for_free(h.fd.get());
    tex->memory_ = service.import_fd(device_, *table_, h.fd.get(), allocation);
    tex->allocation_size_ = h.size;
    tex->memory_type_ = h.memory_type_index;
    tex->dedicated_ = h.dedicated;
    tex->imported_ = true;
    tex->exportable_ = false;
    tex->external_layout_ = h.vk_layout == VK_IMAGE_LAYOUT_UNDEFINED ? VK_IMAGE_LAYOUT_GENERAL : h.vk_layout;
    tex->initialized_ = h.vk_layout != VK_IMAGE_LAYOUT_UNDEFINED;
    vk_call("vkBindImageMemory(import)", [&] { return table_->vkBindImageMemory(device_, tex->image_, tex->memory_, 0); });
    return tex;
}

std::shared_ptr<Texture> Device::import_texture(const MemoryHandle& handle, std::shared_ptr<Timeline> timeline) {
    auto texture = import_texture(handle);
    texture->set_timeline(std::move(timeline));
    return texture;
}

void Device::release_texture_handle(MemoryHandle& handle) {
    if (handle.kind != ResourceKind::kTexture) {
        throw InvalidHandleError(std::string("release_texture_handle got a ") + to_string(handle.kind) + "'s handle");
    }
    handle.close();
}

// ---------------------------------------------------------------------------------------------
// Texture

Texture::Texture(std::shared_ptr<Device> device, TextureDescriptor descriptor, VkFormat vk_format,
                 VkImageUsageFlags vk_usage)
    : device_(std::move(device)), descriptor_(std::move(descriptor)), vk_format_(vk_format), vk_usage_(vk_usage) {}

Texture::~Texture() {
    if (device_->inherited_across_fork()) return;  // the parent's objects are the parent's
    const auto& vk = device_->vk();
    if (image_ != VK_NULL_HANDLE) vk.vkDestroyImage(device_->vk_device(), image_, nullptr);
    release_memory(*device_, memory_, memory_file_, allocation_size_);
}

VkImageAspectFlags Texture::aspects() const noexcept {
    try {
        return format_aspects(vk_format_);
    } catch (...) {
        return 0;
    }
}

size_t Texture::host_size(VkImageAspectFlagBits aspect) const {
    return static_cast<size_t>(descriptor_.width) * descriptor_.height * aspect_texel_size(vk_format_, aspect);
}

std::shared_ptr<Timeline> Texture::timeline() const {
    std::lock_guard<std::mutex> lock(timeline_mutex_);
    return timeline_;
}

void Texture::set_timeline(std::shared_ptr<Timeline> timeline) {
    std::lock_guard<std::mutex> lock(timeline_mutex_);
    timeline_ = std::move(timeline);
}

void Texture::upload(VkImageAspectFlagBits aspect, const void* data, size_t size, const SubmitSync& sync) {
    transfer(aspect, const_cast<void*>(data), size, true, sync);
}

void Texture::download(VkImageAspectFlagBits aspect, void* out, size_t size, const SubmitSync& sync) {
    transfer(aspect, out, size, false, sync);
}

void Texture::transfer(VkImageAspectFlagBits aspect, void* host, size_t size, bool to_image, const SubmitSync& sync) {
    device_->require_owner_process(to_image ? "upload to a texture" : "download a texture");
    require_usage(to_image ? VK_IMAGE_USAGE_TRANSFER_DST_BIT : VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                  to_image ? "uploaded to" : "downloaded from");
    const size_t expected = host_size(aspect);
    if (size != expected) {
        throw InvalidArgumentError("expected " + std::to_string(expected) + " bytes for a " +
                                   std::to_string(descriptor_.width) + "x" + std::to_string(descriptor_.height) +
                                   " texture, got " + std::to_string(size));
    }
    const SplitSync split(*device_, sync);
    split.wait_on_host();
    std::lock_guard<std::mutex> lock(mutex_);
    StagingBuffer staging(*device_, size, !to_image);
    if (to_image) std::memcpy(staging.data(), host, size);

    const auto& vk = device_->vk();
    const VkImageLayout work = to_image ? VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL : VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    const VkAccessFlags access = to_image ? VK_ACCESS_TRANSFER_WRITE_BIT : VK_ACCESS_TRANSFER_READ_BIT;
    OneTimeCommands cmds(*device_);
    VkCommandBuffer cb = cmds.cmd();
    record_acquire(cb, work, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    const VkBufferImageCopy region = copy_region(aspect, 0);
    if (to_image) {
        vk.vkCmdCopyBufferToImage(cb, staging.buffer(), image_, work, 1, &region);
    } else {
        vk.vkCmdCopyImageToBuffer(cb, image_, work, staging.buffer(), 1, &region);
        VkMemoryBarrier host_read{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        host_read.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        host_read.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &host_read, 0,
                                nullptr, 0, nullptr);
    }
    record_release(cb, work, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    cmds.submit_and_wait(split);
    initialized_ = true;
    if (!to_image) std::memcpy(host, staging.data(), size);
    split.signal_on_host();
}

void Texture::require_usage(VkImageUsageFlags bit, const char* what) const {
    if (!(vk_usage_ & bit)) {
        throw UnsupportedOperationError(std::string("texture usage lacks ") +
                                        (bit == VK_IMAGE_USAGE_TRANSFER_DST_BIT ? "COPY_DST" : "COPY_SRC") +
                                        ", so it cannot be " + what);
    }
}

VkBufferImageCopy Texture::copy_region(VkImageAspectFlagBits aspect, VkDeviceSize buffer_offset) const {
    VkBufferImageCopy region{};
    region.bufferOffset = buffer_offset;
    region.imageSubresource = {static_cast<VkImageAspectFlags>(aspect), 0, 0, 1};
    region.imageExtent = {descriptor_.width, descriptor_.height, 1};
    return region;
}

}  // namespace geyser
