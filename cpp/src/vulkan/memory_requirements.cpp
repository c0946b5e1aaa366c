#include "vulkan/memory_requirements.hpp"

#include "vulkan/vk.hpp"

namespace geyser {

Requirements image_requirements(const Device& d, VkImage image) {
    VkImageMemoryRequirementsInfo2 info{VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2};
    info.image = image;
    VkMemoryDedicatedRequirements ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
    VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
    chain(req, ded);
    d.vk().vkGetImageMemoryRequirements2(d.vk_device(), &info, &req);
    return {req.memoryRequirements, ded.prefersDedicatedAllocation || ded.requiresDedicatedAllocation,
            ded.requiresDedicatedAllocation == VK_TRUE};
}

Requirements buffer_requirements(const Device& d, VkBuffer buffer) {
    VkBufferMemoryRequirementsInfo2 info{VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2};
    info.buffer = buffer;
    VkMemoryDedicatedRequirements ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
    VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
    chain(req, ded);
    d.vk().vkGetBufferMemoryRequirements2(d.vk_device(), &info, &req);
    return {req.memoryRequirements, ded.prefersDedicatedAllocation || ded.requiresDedicatedAllocation,
            ded.requiresDedicatedAllocation == VK_TRUE};
}

}  // namespace geyser
