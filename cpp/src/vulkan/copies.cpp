// Device::copy_texture and Device::copy_buffer_to_texture: GPU copies between shared resources,
// each acquiring both from VK_QUEUE_FAMILY_EXTERNAL and releasing both back, ordered by SubmitSync.
#include <mutex>
#include <string>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "vulkan/formats.hpp"
#include "vulkan/transfer.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

void Device::copy_texture(Texture& src, Texture& dst, const SubmitSync& sync) {
    require_owner_process("copy a texture");
    if (src.device_.get() != this || dst.device_.get() != this) {
        throw DeviceMismatchError("both textures of a copy must belong to this Device object");
    }
    if (&src == &dst) throw InvalidArgumentError("cannot copy a texture onto itself");
    if (src.vk_format_ != dst.vk_format_ || src.width() != dst.width() || src.height() != dst.height()) {
        throw InvalidArgumentError("a texture copy needs the same format and extent: source " +
                                   std::to_string(src.width()) + "x" + std::to_string(src.height()) + " VkFormat " +
                                   std::to_string(src.vk_format_) + ", destination " + std::to_string(dst.width()) +
                                   "x" + std::to_string(dst.height()) + " VkFormat " + std::to_string(dst.vk_format_));
    }
    src.require_usage(VK_IMAGE_USAGE_TRANSFER_SRC_BIT, "copied from");
    dst.require_usage(VK_IMAGE_USAGE_TRANSFER_DST_BIT, "copied to");
    const SplitSync split(*this, sync);
    split.wait_on_host();
    std::scoped_lock lock(src.mutex_, dst.mutex_);
    OneTimeCommands cmds(*this);
    VkCommandBuffer cb = cmds.cmd();
    constexpr VkPipelineStageFlags kTransfer = VK_PIPELINE_STAGE_TRANSFER_BIT;
    src.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    VkImageCopy region{};
    const VkImageAspectFlags aspects = format_aspects(src.vk_format_);
    region.srcSubresource = {aspects, 0, 0, 1};
    region.dstSubresource = {aspects, 0, 0, 1};
    region.extent = {src.width(), src.height(), 1};
    table_->vkCmdCopyImage(cb, src.image_, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, dst.image_,
                           VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
    src.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    cmds.submit_and_wait(split);
    src.initialized_ = true;
    dst.initialized_ = true;
    split.signal_on_host();
}

void Device::copy_buffer_to_texture(Buffer& src, Texture& dst, VkImageAspectFlagBits aspect, VkDeviceSize offset,
                                    const SubmitSync& sync) {
    require_owner_process("copy a buffer to a texture");
    if (src.device_.get() != this || dst.device_.get() != this) {
        throw DeviceMismatchError("the buffer and the texture of a copy must belong to this Device object");
    }
    const VkDeviceSize needed = dst.host_size(aspect);
    src.require_range(offset, needed);
    // vkCmdCopyBufferToImage: bufferOffset must be a multiple of the texel size (and of 4 for
    // depth/stencil).
    const VkDeviceSize texel = aspect_texel_size(dst.vk_format_, aspect);
    const VkDeviceSize align = (aspect == VK_IMAGE_ASPECT_COLOR_BIT) ? texel : 4;
    if (offset % align != 0) {
        throw InvalidArgumentError("buffer offset " + std::to_string(offset) + " must be a multiple of " +
                                   std::to_string(align));
    }
    dst.require_usage(VK_IMAGE_USAGE_TRANSFER_DST_BIT, "copied to");
    const SplitSync split(*this, sync);
    split.wait_on_host();
    std::scoped_lock lock(src.mutex_, dst.mutex_);
    OneTimeCommands cmds(*this);
    VkCommandBuffer cb = cmds.cmd();
    constexpr VkPipelineStageFlags kTransfer = VK_PIPELINE_STAGE_TRANSFER_BIT;
    src.record_acquire(cb, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    const VkBufferImageCopy region = dst.copy_region(aspect, offset);
    table_->vkCmdCopyBufferToImage(cb, src.buffer_, dst.image_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
    src.record_release(cb, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    cmds.submit_and_wait(split);
    src.initialized_ = true;
    dst.initialized_ = true;
    split.signal_on_host();
}

}  // namespace geyser
