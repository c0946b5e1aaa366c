// The acquire from and release to VK_QUEUE_FAMILY_EXTERNAL around every use of a shared texture
// or buffer: the barriers Geyser's own copies record, and begin_access/end_access, which record
// the same ones into a caller's command buffer (docs/access.md).
#include "geyser/memory.hpp"

#include <string>

#include "geyser/device.hpp"
#include "text.hpp"
#include "vulkan/formats.hpp"
#include "vulkan/transfer.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

// ---------------------------------------------------------------------------------------------
// Texture

namespace {

VkImageMemoryBarrier image_barrier(VkImage image, VkImageAspectFlags aspects, VkImageLayout from, VkImageLayout to,
                                   uint32_t src_family, uint32_t dst_family, VkAccessFlags src_access,
                                   VkAccessFlags dst_access) {
    VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
    b.srcAccessMask = src_access;
    b.dstAccessMask = dst_access;
    b.oldLayout = from;
    b.newLayout = to;
    b.srcQueueFamilyIndex = src_family;
    b.dstQueueFamilyIndex = dst_family;
    b.image = image;
    b.subresourceRange = {aspects, 0, 1, 0, 1};
    return b;
}

}  // namespace

void Texture::record_initial_release() {
    // A new image has no defined layout; give it the resting layout and release it to the
    // external queue family, so the next acquire (an importer's in the handle's layout, or
    // begin_access's) mirrors a release. The release is the one every operation ends with, from
    // UNDEFINED: a never-used image holds nothing to keep.
    OneTimeCommands cmds(*device_);
    record_release(cmds.cmd(), VK_IMAGE_LAYOUT_UNDEFINED, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0);
    cmds.submit_and_wait();
    initialized_ = true;
}

void Texture::record_acquire(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages,
                             VkAccessFlags access) {
    const auto& vk = device_->vk();
    const VkImageAspectFlags all = format_aspects(vk_format_);
    if (!initialized_) {
        // Only Geyser's own operations get here (begin_access releases a new image first): they
        // submit this command buffer and wait for it under mutex_, so nothing can acquire the
        // image between this transition and their release.
        VkImageMemoryBarrier init = image_barrier(image_, all, VK_IMAGE_LAYOUT_UNDEFINED, work, VK_QUEUE_FAMILY_IGNORED,
                                                  VK_QUEUE_FAMILY_IGNORED, 0, access);
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 0, nullptr, 1, &init);
        return;
    }
    // Acquire from the external queue family in exactly the layout the releasing side named
    // (the acquire must mirror the release), then move to the working layout. An acquire's
    // source scope is empty: what orders it after the release is a semaphore or a host wait.
    VkImageMemoryBarrier acquire = image_barrier(image_, all, external_layout_, external_layout_,
                                                 VK_QUEUE_FAMILY_EXTERNAL, device_->queue_family_index(), 0, access);
    vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 0, nullptr, 1, &acquire);
    if (external_layout_ != work) {
        VkImageMemoryBarrier to_work = image_barrier(image_, all, external_layout_, work, VK_QUEUE_FAMILY_IGNORED,
                                                     VK_QUEUE_FAMILY_IGNORED, access, access);
        vk.vkCmdPipelineBarrier(cb, stages, stages, 0, 0, nullptr, 0, nullptr, 1, &to_work);
    }
}

void Texture::record_release(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages,
                             VkAccessFlags access) {
    const auto& vk = device_->vk();
    const VkImageAspectFlags all = format_aspects(vk_format_);
    if (external_layout_ != work) {
        VkImageMemoryBarrier back = image_barrier(image_, all, work, external_layout_, VK_QUEUE_FAMILY_IGNORED,
                                                  VK_QUEUE_FAMILY_IGNORED, access, 0);
        vk.vkCmdPipelineBarrier(cb, stages, stages, 0, 0, nullptr, 0, nullptr, 1, &back);
    }
    // The release names the same layout twice: the acquire that mirrors it (in another process,
    // perhaps) only knows external_layout(), carried in the handle.
    VkImageMemoryBarrier release = image_barrier(image_, all, external_layout_, external_layout_,
                                                 device_->queue_family_index(), VK_QUEUE_FAMILY_EXTERNAL, access, 0);
    vk.vkCmdPipelineBarrier(cb, stages, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 0, nullptr, 1,
                            &release);
}

namespace {

// Why `layout` cannot be the layout of an access to an image of `usage`; empty when it can. A
// barrier's layouts need the usage that goes with them (VUID-VkImageMemoryBarrier-oldLayout-01208
// to -01213), a transition's new layout must not be UNDEFINED or PREINITIALIZED
// (VUID-VkImageMemoryBarrier-newLayout-01198), and Geyser shares only the core layouts.
std::string access_layout_problem(VkImageLayout layout, VkImageUsageFlags usage) {
    struct Rule {
        VkImageLayout layout;
        const char* name;
        VkImageUsageFlags any_of;  // 0: any usage
        const char* usage_name;
    };
    static const Rule kRules[] = {
        {VK_IMAGE_LAYOUT_GENERAL, "GENERAL", 0, ""},
        {VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, "COLOR_ATTACHMENT_OPTIMAL", VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT,
         "COLOR_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL, "DEPTH_STENCIL_ATTACHMENT_OPTIMAL",
         VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, "DEPTH_STENCIL_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_DEPTH_STENCIL_READ_ONLY_OPTIMAL, "DEPTH_STENCIL_READ_ONLY_OPTIMAL",
         VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, "DEPTH_STENCIL_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, "SHADER_READ_ONLY_OPTIMAL",
         VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_INPUT_ATTACHMENT_BIT, "SAMPLED (TEXTURE_BINDING)"},
        {VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, "TRANSFER_SRC_OPTIMAL", VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
         "TRANSFER_SRC (COPY_SRC)"},
        {VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, "TRANSFER_DST_OPTIMAL", VK_IMAGE_USAGE_TRANSFER_DST_BIT,
         "TRANSFER_DST (COPY_DST)"},
    };
    std::string names;
    for (const Rule& r : kRules) {
        if (r.layout == layout) {
            if (r.any_of != 0 && !(usage & r.any_of)) {
                return std::string("layout ") + r.name + " needs usage " + r.usage_name +
                       ", which this texture lacks (usage " + hex32(usage) + ")";
            }
            return {};
        }
        names += names.empty() ? r.name : std::string(", ") + r.name;
    }
    return "VkImageLayout " + std::to_string(static_cast<int64_t>(layout)) +
           " is not a layout Geyser shares; use one of " + names;
}

}  // namespace

void Texture::check_access(const char* what, VkCommandBuffer cb, VkImageLayout layout,
                           VkPipelineStageFlags stages) const {
    device_->require_owner_process(what);
    if (cb == VK_NULL_HANDLE) {
        throw InvalidArgumentError(std::string("cannot ") + what + ": the command buffer is null");
    }
    // Without synchronization2, which Geyser does not enable, a barrier's stage masks must not be
    // 0 (VUID-vkCmdPipelineBarrier-srcStageMask-03937 and -dstStageMask-03937).
    if (stages == 0) {
        throw InvalidArgumentError(std::string("cannot ") + what +
                                   ": stages is 0; name the pipeline stages your commands run in");
    }
    const std::string problem = access_layout_problem(layout, vk_usage_);
    if (!problem.empty()) throw InvalidArgumentError(std::string("cannot ") + what + ": " + problem);
}

void Texture::begin_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages,
                           VkAccessFlags access) {
    check_access("begin access to a texture", cb, layout, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    // An acquire must mirror a release (VUID-VkImageMemoryBarrier-oldLayout-01197: its layout is
    // the image's current one). A never-used image has none, and recording UNDEFINED -> layout
    // here would make the state depend on when the caller submits `cb` (a Geyser operation or an
    // export in between would acquire what was never released). So release it now, on the GPU,
    // and record the acquire every later access records.
    if (!initialized_) record_initial_release();
    record_acquire(cb, layout, stages, access);
}

void Texture::end_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages,
                         VkAccessFlags access) {
    check_access("end access to a texture", cb, layout, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!initialized_) {
        throw InvalidArgumentError("cannot end access to a texture whose access never began: call begin_access "
                                   "first (nothing has acquired it from VK_QUEUE_FAMILY_EXTERNAL)");
    }
    record_release(cb, layout, stages, access);
}

// ---------------------------------------------------------------------------------------------
// Buffer

namespace {

VkBufferMemoryBarrier whole_buffer_barrier(VkBuffer buffer, uint32_t src_family, uint32_t dst_family,
                                           VkAccessFlags src_access, VkAccessFlags dst_access) {
    VkBufferMemoryBarrier b{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    b.buffer = buffer;
    b.size = VK_WHOLE_SIZE;
    b.srcQueueFamilyIndex = src_family;
    b.dstQueueFamilyIndex = dst_family;
    b.srcAccessMask = src_access;
    b.dstAccessMask = dst_access;
    return b;
}

}  // namespace

void Buffer::record_acquire(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    // Buffers rest released to the external queue family, like textures, so another process or
    // API may use them between operations; a buffer never released yet has nothing to acquire
    // (only Geyser's own operations, which submit and wait under mutex_, get here with one).
    if (!initialized_) return;
    VkBufferMemoryBarrier b =
        whole_buffer_barrier(buffer_, VK_QUEUE_FAMILY_EXTERNAL, device_->queue_family_index(), 0, access);
    device_->vk().vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 1, &b, 0,
                                       nullptr);
}

void Buffer::record_release(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    VkBufferMemoryBarrier b =
        whole_buffer_barrier(buffer_, device_->queue_family_index(), VK_QUEUE_FAMILY_EXTERNAL, access, 0);
    device_->vk().vkCmdPipelineBarrier(cb, stages, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 1, &b, 0,
                                       nullptr);
}

void Buffer::record_initial_release() {
    OneTimeCommands cmds(*device_);
    record_release(cmds.cmd(), VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0);
    cmds.submit_and_wait();
    initialized_ = true;
}

void Buffer::check_access(const char* what, VkCommandBuffer cb, VkPipelineStageFlags stages) const {
    device_->require_owner_process(what);
    if (cb == VK_NULL_HANDLE) {
        throw InvalidArgumentError(std::string("cannot ") + what + ": the command buffer is null");
    }
    if (stages == 0) {
        throw InvalidArgumentError(std::string("cannot ") + what +
                                   ": stages is 0; name the pipeline stages your commands run in");
    }
}

void Buffer::begin_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    check_access("begin access to a buffer", cb, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    // As Texture::begin_access: the acquire recorded here mirrors a release that has happened.
    if (!initialized_) record_initial_release();
    record_acquire(cb, stages, access);
}

void Buffer::end_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    check_access("end access to a buffer", cb, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!initialized_) {
        throw InvalidArgumentError("cannot end access to a buffer whose access never began: call begin_access "
                                   "first (nothing has acquired it from VK_QUEUE_FAMILY_EXTERNAL)");
    }
    record_release(cb, stages, access);
}

}  // namespace geyser
