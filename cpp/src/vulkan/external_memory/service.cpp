// ExternalMemoryService: what every memory handle type shares (service.hpp). Built on
// every platform that has Vulkan.
#include "vulkan/external_memory/service.hpp"

#include "geyser/types.hpp"

namespace geyser {

const char* ExternalMemoryService::name() const noexcept { return external_handle_type_name(handle_type()); }

bool ExternalMemoryService::supports_buffers(VkPhysicalDevice physical, VkBufferUsageFlags usage) const {
    VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
    info.usage = usage;
    info.handleType = handle_type();
    VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
    vkGetPhysicalDeviceExternalBufferProperties(physical, &info, &props);
    const VkExternalMemoryFeatureFlags needed =
        VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT;
    return (props.externalMemoryProperties.externalMemoryFeatures & needed) == needed;
}

VkDeviceMemory ExternalMemoryService::allocate_exportable(VkDevice device, const VolkDeviceTable& vk,
                                                          const MemoryAllocation& allocation) const {
    VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
    export_info.handleTypes = handle_type();
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = allocation.size;
    mai.memoryTypeIndex = allocation.memory_type_index;
    chain(mai, export_info);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    chain_dedicated(mai, dedicated, allocation);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    vk_call("vkAllocateMemory(export)", [&] { return vk.vkAllocateMemory(device, &mai, nullptr, &memory); });
    return memory;
}

void ExternalMemoryService::chain_dedicated(VkMemoryAllocateInfo& info, VkMemoryDedicatedAllocateInfo& dedicated,
                                            const MemoryAllocation& allocation) {
    if (allocation.dedicated_image == VK_NULL_HANDLE && allocation.dedicated_buffer == VK_NULL_HANDLE) return;
    dedicated.image = allocation.dedicated_image;
    dedicated.buffer = allocation.dedicated_buffer;
    chain(info, dedicated);
}

}  // namespace geyser
