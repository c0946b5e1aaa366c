// Device::format_support: which VkFormat a device shares a TextureFormat as, and what each
// external memory handle type allows for it.
#include "vulkan/format_support.hpp"

#include "vulkan/external_memory/fd.hpp"
#include "vulkan/formats.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

bool FormatSupport::shareable() const noexcept {
    const auto it = handle_types.find(default_memory_service().handle_type());
    return it != handle_types.end() && it->second.exportable && it->second.importable;
}

bool query_image_format(const Device& device, VkFormat format, VkImageUsageFlags usage,
                        VkExternalMemoryHandleTypeFlagBits handle_type, HandleTypeSupport& out, std::string& reason) {
    if (usage == 0) {
        reason = "usage is empty";
        return false;
    }
    try {
        (void)format_aspects(format);
    } catch (const UnsupportedFormatError&) {
        reason = "VkFormat " + std::to_string(static_cast<int64_t>(format)) + " is not one Geyser shares";
        return false;
    }
    VkPhysicalDeviceExternalImageFormatInfo ext{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO};
    ext.handleType = handle_type;
    VkPhysicalDeviceImageFormatInfo2 info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2};
    info.format = format;
    info.type = VK_IMAGE_TYPE_2D;
    info.tiling = VK_IMAGE_TILING_OPTIMAL;
    info.usage = usage;
    chain(info, ext);
    VkExternalImageFormatProperties ext_props{VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES};
    VkImageFormatProperties2 props{VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2};
    chain(props, ext_props);
    const VkResult r = vkGetPhysicalDeviceImageFormatProperties2(device.vk_physical_device(), &info, &props);
    if (r == VK_ERROR_FORMAT_NOT_SUPPORTED) {
        reason = "the device cannot create VkFormat " + std::to_string(static_cast<int64_t>(format)) +
                 " with this usage and " + external_handle_type_name(handle_type) + " memory";
        return false;
    }
    check_vk(r, "vkGetPhysicalDeviceImageFormatProperties2");
    const auto f = ext_props.externalMemoryProperties.externalMemoryFeatures;
    out.exportable = (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) != 0;
    out.importable = (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) != 0;
    out.dedicated_only = (f & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT) != 0;
    out.max_width = props.imageFormatProperties.maxExtent.width;
    out.max_height = props.imageFormatProperties.maxExtent.height;
    return true;
}

FormatSupport Device::format_support(TextureFormat format, uint32_t usage) const {
    require_owner_process("query format support");
    const FormatInfo& info = format_info(format);
    const VkImageUsageFlags vk_usage = vk_image_usage(format, usage);
    FormatSupport answer;
    answer.format = info.format;
    answer.usage = usage;
    // Every memory handle type the device has the extension for and reports for images at all.
    const uint32_t handle_types = info_.image_memory.exportable | info_.image_memory.importable;
    std::string reason = handle_types ? "" : "the device can share no image memory";
    bool have_creatable = false;
    FormatSupport creatable;
    for (VkFormat vk : info.vk_formats) {
        if (vk == VK_FORMAT_UNDEFINED) continue;
        FormatSupport candidate = answer;
        candidate.vk_format = vk;
        for (uint32_t bit = 1; bit != 0 && bit <= handle_types; bit <<= 1) {
            if (!(handle_types & bit)) continue;
            HandleTypeSupport s;
            if (query_image_format(*this, vk, vk_usage, static_cast<VkExternalMemoryHandleTypeFlagBits>(bit), s,
                                   reason)) {
                candidate.handle_types[bit] = s;
            }
        }
        if (candidate.shareable()) return candidate;
        if (!candidate.handle_types.empty() && !have_creatable) {
            creatable = std::move(candidate);
            have_creatable = true;
        }
    }
    if (have_creatable) {
        creatable.reason = "the driver reports VkFormat " + std::to_string(static_cast<int64_t>(creatable.vk_format)) +
                           " cannot be both exported and imported as " + default_memory_service().name();
        return creatable;
    }
    answer.reason = reason;
    return answer;
}

}  // namespace geyser
