// ExternalSyncService: what every semaphore and fence handle type shares (service.hpp).
// Built on every platform that has Vulkan.
#include "vulkan/external_sync/service.hpp"

#include "geyser/types.hpp"

namespace geyser {

const char* ExternalSyncService::name() const noexcept { return external_handle_type_name(handle_type()); }

bool ExternalSyncService::supports_semaphores(VkPhysicalDevice physical, SemaphoreType type) const {
    VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO};
    info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type());
    // Without VkSemaphoreTypeCreateInfo the query is about binary semaphores; the structure
    // itself needs Vulkan 1.2 or VK_KHR_timeline_semaphore, so it is chained only for timelines.
    VkSemaphoreTypeCreateInfo type_info{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    type_info.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    if (type == SemaphoreType::kTimeline) chain(info, type_info);
    VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
    vkGetPhysicalDeviceExternalSemaphoreProperties(physical, &info, &props);
    const VkExternalSemaphoreFeatureFlags needed =
        VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
    return (props.externalSemaphoreFeatures & needed) == needed;
}

}  // namespace geyser
