#include "pattern_renderer.hpp"

#include <mutex>
#include <string>
#include <utility>

// glslangValidator --vn: `const uint32_t kPatternSpirv[]`, compiled from pattern.comp at build time.
#include "pattern.comp.h"

namespace geyser_example {

namespace {

constexpr std::chrono::nanoseconds kSubmitTimeout = std::chrono::seconds(10);

void check(VkResult result, const char* call) {
    if (result != VK_SUCCESS) throw geyser::VulkanError(result, call);
}

}  // namespace

std::vector<uint8_t> expected_pattern(uint32_t width, uint32_t height, uint64_t frame) {
    std::vector<uint8_t> px(static_cast<size_t>(width) * height * 4);
    for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
            uint8_t* p = &px[(static_cast<size_t>(y) * width + x) * 4];
            p[0] = static_cast<uint8_t>(x + 3 * frame);
            p[1] = static_cast<uint8_t>(y + 5 * frame);
            p[2] = static_cast<uint8_t>((x ^ y) + 7 * frame);
            p[3] = static_cast<uint8_t>(2 * x + y + 11 * frame);
        }
    }
    return px;
}

PatternRenderer::PatternRenderer(std::shared_ptr<geyser::Device> device)
    : device_(std::move(device)), vk_(device_->vk()) {
    // A storage image of a shareable texture: the format must allow both at once
    // (VK_FORMAT_FEATURE_STORAGE_IMAGE_BIT with external memory), which create_shareable_texture
    // checks too; asking first gives the reason before anything is created.
    const geyser::FormatSupport support =
        device_->format_support(geyser::TextureFormat::kRgba8Unorm, geyser::kTextureUsageStorageBinding);
    if (!support.shareable()) {
        throw geyser::UnsupportedFormatError("'" + device_->info().name +
                                             "' cannot share RGBA8 storage images: " + support.reason);
    }
    const VkDevice dev = device_->vk_device();
    try {
        VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
        smci.codeSize = sizeof(kPatternSpirv);
        smci.pCode = kPatternSpirv;
        check(vk_.vkCreateShaderModule(dev, &smci, nullptr, &shader_), "vkCreateShaderModule");

        VkDescriptorSetLayoutBinding binding{};
        binding.binding = 0;
        binding.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_IMAGE;
        binding.descriptorCount = 1;
        binding.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
        VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
        dslci.bindingCount = 1;
        dslci.pBindings = &binding;
        check(vk_.vkCreateDescriptorSetLayout(dev, &dslci, nullptr, &set_layout_), "vkCreateDescriptorSetLayout");

        VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(uint32_t)};
        VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
        plci.setLayoutCount = 1;
        plci.pSetLayouts = &set_layout_;
        plci.pushConstantRangeCount = 1;
        plci.pPushConstantRanges = &push;
        check(vk_.vkCreatePipelineLayout(dev, &plci, nullptr, &pipeline_layout_), "vkCreatePipelineLayout");

        VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
        cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        cpci.stage.module = shader_;
        cpci.stage.pName = "main";
        cpci.layout = pipeline_layout_;
        check(vk_.vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline_),
              "vkCreateComputePipelines");

        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_IMAGE, kMaxTextures};
        VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        dpci.maxSets = kMaxTextures;
        dpci.poolSizeCount = 1;
        dpci.pPoolSizes = &size;
        check(vk_.vkCreateDescriptorPool(dev, &dpci, nullptr, &descriptor_pool_), "vkCreateDescriptorPool");

        // The pool's family is the one begin_access and end_access name in their barriers.
        VkCommandPoolCreateInfo cpoolci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        cpoolci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        cpoolci.queueFamilyIndex = device_->queue_family_index();
        check(vk_.vkCreateCommandPool(dev, &cpoolci, nullptr, &command_pool_), "vkCreateCommandPool");
        VkCommandBufferAllocateInfo cbai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        cbai.commandPool = command_pool_;
        cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        cbai.commandBufferCount = 1;
        check(vk_.vkAllocateCommandBuffers(dev, &cbai, &cmd_), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        check(vk_.vkCreateFence(dev, &fci, nullptr, &fence_), "vkCreateFence");
    } catch (...) {
        destroy();
        throw;
    }
}

PatternRenderer::~PatternRenderer() { destroy(); }

void PatternRenderer::destroy() noexcept {
    const VkDevice dev = device_->vk_device();
    // A pending command buffer, and the views and sets it uses, must not be destroyed.
    if (in_flight_) vk_.vkWaitForFences(dev, 1, &fence_, VK_TRUE, static_cast<uint64_t>(kSubmitTimeout.count()));
    if (fence_ != VK_NULL_HANDLE) vk_.vkDestroyFence(dev, fence_, nullptr);
    // Destroying a pool frees what was allocated from it: the command buffer, the descriptor sets.
    if (command_pool_ != VK_NULL_HANDLE) vk_.vkDestroyCommandPool(dev, command_pool_, nullptr);
    for (const Target& t : targets_) vk_.vkDestroyImageView(dev, t.view, nullptr);
    targets_.clear();
    if (descriptor_pool_ != VK_NULL_HANDLE) vk_.vkDestroyDescriptorPool(dev, descriptor_pool_, nullptr);
    if (pipeline_ != VK_NULL_HANDLE) vk_.vkDestroyPipeline(dev, pipeline_, nullptr);
    if (pipeline_layout_ != VK_NULL_HANDLE) vk_.vkDestroyPipelineLayout(dev, pipeline_layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) vk_.vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
    if (shader_ != VK_NULL_HANDLE) vk_.vkDestroyShaderModule(dev, shader_, nullptr);
    fence_ = VK_NULL_HANDLE;
    command_pool_ = VK_NULL_HANDLE;
    cmd_ = VK_NULL_HANDLE;
    descriptor_pool_ = VK_NULL_HANDLE;
    pipeline_ = VK_NULL_HANDLE;
    pipeline_layout_ = VK_NULL_HANDLE;
    set_layout_ = VK_NULL_HANDLE;
    shader_ = VK_NULL_HANDLE;
    in_flight_ = false;
}

const PatternRenderer::Target& PatternRenderer::target_for(const std::shared_ptr<geyser::Texture>& texture) {
    for (const Target& t : targets_) {
        if (t.texture == texture) return t;
    }
    if (texture->device() != device_) {
        throw geyser::DeviceMismatchError("the texture belongs to another Device than the renderer's");
    }
    if (texture->vk_format() != VK_FORMAT_R8G8B8A8_UNORM) {
        throw geyser::UnsupportedFormatError("the pattern renderer draws into RGBA8_UNORM textures only, not VkFormat " +
                                             std::to_string(static_cast<int64_t>(texture->vk_format())));
    }
    // A storage image descriptor needs a view of an image created with STORAGE usage.
    if (!(texture->vk_usage() & VK_IMAGE_USAGE_STORAGE_BIT)) {
        throw geyser::UnsupportedOperationError("the texture lacks STORAGE_BINDING usage, so a shader cannot write it");
    }
    if (targets_.size() >= kMaxTextures) {
        throw geyser::InvalidArgumentError("a PatternRenderer draws into at most " + std::to_string(kMaxTextures) +
                                           " textures");
    }
    const VkDevice dev = device_->vk_device();
    Target t;
    t.texture = texture;
    VkImageViewCreateInfo ivci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    ivci.image = texture->vk_image();
    ivci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    ivci.format = VK_FORMAT_R8G8B8A8_UNORM;
    ivci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    check(vk_.vkCreateImageView(dev, &ivci, nullptr, &t.view), "vkCreateImageView");
    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    dsai.descriptorPool = descriptor_pool_;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &set_layout_;
    const VkResult r = vk_.vkAllocateDescriptorSets(dev, &dsai, &t.set);
    if (r != VK_SUCCESS) {
        vk_.vkDestroyImageView(dev, t.view, nullptr);
        check(r, "vkAllocateDescriptorSets");
    }
    // A storage image descriptor names GENERAL, the layout render() asks begin_access for.
    VkDescriptorImageInfo image{VK_NULL_HANDLE, t.view, VK_IMAGE_LAYOUT_GENERAL};
    VkWriteDescriptorSet write{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    write.dstSet = t.set;
    write.dstBinding = 0;
    write.descriptorCount = 1;
    write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_IMAGE;
    write.pImageInfo = &image;
    vk_.vkUpdateDescriptorSets(dev, 1, &write, 0, nullptr);
    targets_.push_back(std::move(t));
    return targets_.back();
}

void PatternRenderer::finish(std::chrono::nanoseconds timeout) {
    if (!in_flight_) return;
    const uint64_t timeout_ns = timeout == std::chrono::nanoseconds::max() ? UINT64_MAX : static_cast<uint64_t>(timeout.count());
    const VkResult r = vk_.vkWaitForFences(device_->vk_device(), 1, &fence_, VK_TRUE, timeout_ns);
    if (r == VK_TIMEOUT) throw geyser::TimeoutError("the pattern render did not finish in time");
    check(r, "vkWaitForFences");
    in_flight_ = false;
    check(vk_.vkResetFences(device_->vk_device(), 1, &fence_), "vkResetFences");
}

void PatternRenderer::render(const std::shared_ptr<geyser::Texture>& texture, uint64_t frame, VkSemaphore signal,
                             uint64_t signal_value) {
    finish(kSubmitTimeout);  // the command buffer is reused: its last submission must be done
    const Target& target = target_for(texture);

    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(vk_.vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
    try {
        // The image is ours from here to end_access: acquired from VK_QUEUE_FAMILY_EXTERNAL in
        // the layout the last user released it in, then moved to GENERAL for the shader's writes.
        texture->begin_access(cmd_, VK_IMAGE_LAYOUT_GENERAL, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                              VK_ACCESS_SHADER_WRITE_BIT);
        vk_.vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
        vk_.vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout_, 0, 1, &target.set, 0,
                                    nullptr);
        const uint32_t number = static_cast<uint32_t>(frame);  // modulo 2^32, as pattern.comp says
        vk_.vkCmdPushConstants(cmd_, pipeline_layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof number, &number);
        vk_.vkCmdDispatch(cmd_, (texture->width() + 7) / 8, (texture->height() + 7) / 8, 1);
        // Back to the texture's external layout and released, the shader's writes made
        // available: the next user acquires what the shader wrote.
        texture->end_access(cmd_, VK_IMAGE_LAYOUT_GENERAL, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                            VK_ACCESS_SHADER_WRITE_BIT);
        check(vk_.vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    } catch (...) {
        vk_.vkResetCommandBuffer(cmd_, 0);  // leave the recording state, so the next render may begin
        throw;
    }

    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    VkTimelineSemaphoreSubmitInfo ti{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    if (signal != VK_NULL_HANDLE) {
        ti.signalSemaphoreValueCount = 1;
        ti.pSignalSemaphoreValues = &signal_value;
        si.pNext = &ti;
        si.signalSemaphoreCount = 1;
        si.pSignalSemaphores = &signal;
    }
    {
        // vkQueueSubmit needs the queue externally synchronised, with Geyser's own submissions too.
        std::lock_guard<std::mutex> lock(device_->queue_mutex());
        check(vk_.vkQueueSubmit(device_->vk_queue(), 1, &si, fence_), "vkQueueSubmit");
    }
    in_flight_ = true;
}

}  // namespace geyser_example
