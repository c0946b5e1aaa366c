#include "geyser/device.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "geyser/gpu_topology.hpp"
#include "geyser/memory.hpp"
#include "vulkan/external_memory/fd.hpp"
#include "vulkan/instance.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

namespace {

// Extensions Geyser enables whenever the device has them. External memory and semaphores are core
// in 1.1, so only the handle-type extensions are listed: those of the services this build has
// (vulkan/external_memory/, external_sync/) and DMA-BUF's, which a DMA-BUF memory service would
// need (docs/architecture.md).
const char* const kOptionalExtensions[] = {
    VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME,     VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME,
    VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME,      VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME,
    VK_EXT_QUEUE_FAMILY_FOREIGN_EXTENSION_NAME,   VK_EXT_MEMORY_BUDGET_EXTENSION_NAME,
};

std::vector<std::string> device_extensions(VkPhysicalDevice pd) {
    uint32_t count = 0;
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr);
    std::vector<VkExtensionProperties> props(count);
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &count, props.data());
    std::vector<std::string> names;
    for (const auto& p : props) names.emplace_back(p.extensionName);
    std::sort(names.begin(), names.end());
    return names;
}

bool contains(const std::vector<std::string>& v, const char* s) {
    return std::binary_search(v.begin(), v.end(), std::string(s));
}

// Handle types whose extension the device has; the capability queries alone do not imply it.
uint32_t memory_types_with_extension(const std::vector<std::string>& ext) {
    uint32_t m = 0;
    if (contains(ext, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME)) m |= VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    if (contains(ext, VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME))
        m |= VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
    return m;
}

// DeviceInfo describes the driver: what it can do with each handle type Vulkan has for Linux,
// whether or not this build has a service for the type.
constexpr uint32_t kMemoryTypes[] = {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
                                     VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT};
constexpr uint32_t kSemaphoreTypes[] = {VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT,
                                        VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT};
constexpr uint32_t kFenceTypes[] = {VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT,
                                    VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT};

ExternalHandleTypes query_image_memory(VkPhysicalDevice pd, uint32_t allowed) {
    ExternalHandleTypes s;
    for (uint32_t t : kMemoryTypes) {
        if (!(allowed & t)) continue;
        VkPhysicalDeviceExternalImageFormatInfo ext{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO};
        ext.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(t);
        VkPhysicalDeviceImageFormatInfo2 info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2};
        info.format = VK_FORMAT_R8G8B8A8_UNORM;
        info.type = VK_IMAGE_TYPE_2D;
        info.tiling = VK_IMAGE_TILING_OPTIMAL;
        info.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT;
        chain(info, ext);
        VkExternalImageFormatProperties ext_props{VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES};
        VkImageFormatProperties2 props{VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2};
        chain(props, ext_props);
        if (vkGetPhysicalDeviceImageFormatProperties2(pd, &info, &props) != VK_SUCCESS) continue;
        const auto f = ext_props.externalMemoryProperties.externalMemoryFeatures;
        if (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) s.exportable |= t;
        if (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) s.importable |= t;
    }
    return s;
}

ExternalHandleTypes query_buffer_memory(VkPhysicalDevice pd, uint32_t allowed) {
    ExternalHandleTypes s;
    for (uint32_t t : kMemoryTypes) {
        if (!(allowed & t)) continue;
        VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
        info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
        info.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(t);
        VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
        vkGetPhysicalDeviceExternalBufferProperties(pd, &info, &props);
        const auto f = props.externalMemoryProperties.externalMemoryFeatures;
        if (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) s.exportable |= t;
        if (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) s.importable |= t;
    }
    return s;
}

ExternalHandleTypes query_semaphore(VkPhysicalDevice pd, bool timeline, uint32_t allowed) {
    ExternalHandleTypes s;
    for (uint32_t t : kSemaphoreTypes) {
        if (!(allowed & t)) continue;
        VkSemaphoreTypeCreateInfo type_info{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
        type_info.semaphoreType = timeline ? VK_SEMAPHORE_TYPE_TIMELINE : VK_SEMAPHORE_TYPE_BINARY;
        VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO};
        info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(t);
        chain(info, type_info);
        VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
        vkGetPhysicalDeviceExternalSemaphoreProperties(pd, &info, &props);
        if (props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) s.exportable |= t;
        if (props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) s.importable |= t;
    }
    return s;
}

ExternalHandleTypes query_fence(VkPhysicalDevice pd, uint32_t allowed) {
    ExternalHandleTypes s;
    for (uint32_t t : kFenceTypes) {
        if (!(allowed & t)) continue;
        VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO};
        info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(t);
        VkExternalFenceProperties props{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
        vkGetPhysicalDeviceExternalFenceProperties(pd, &info, &props);
        if (props.externalFenceFeatures & VK_EXTERNAL_FENCE_FEATURE_EXPORTABLE_BIT) s.exportable |= t;
        if (props.externalFenceFeatures & VK_EXTERNAL_FENCE_FEATURE_IMPORTABLE_BIT) s.importable |= t;
    }
    return s;
}

DeviceInfo describe(VkPhysicalDevice pd, uint32_t index) {
    DeviceInfo info;
    info.index = index;
    VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    chain(props, id);
    VkPhysicalDeviceProperties basic{};
    vkGetPhysicalDeviceProperties(pd, &basic);
    info.extensions = device_extensions(pd);
    // VkPhysicalDeviceDriverProperties is core in 1.2 and otherwise needs VK_KHR_driver_properties.
    const bool has_driver_props =
        basic.apiVersion >= VK_API_VERSION_1_2 || contains(info.extensions, "VK_KHR_driver_properties");
    if (has_driver_props) chain(props, driver);
    vkGetPhysicalDeviceProperties2(pd, &props);
    info.name = props.properties.deviceName;
    info.api_version = props.properties.apiVersion;
    info.driver_version = props.properties.driverVersion;
    info.vendor_id = props.properties.vendorID;
    info.device_id = props.properties.deviceID;
    info.device_type = props.properties.deviceType;
    std::copy(std::begin(id.deviceUUID), std::end(id.deviceUUID), info.device_uuid.begin());
    std::copy(std::begin(id.driverUUID), std::end(id.driverUUID), info.driver_uuid.begin());
    if (has_driver_props) {
        info.driver_name = driver.driverName;
        info.driver_info = driver.driverInfo;
        info.driver_id = driver.driverID;
    }

    if (info.api_version >= VK_API_VERSION_1_2) {
        VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
        VkPhysicalDeviceFeatures2 f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
        chain(f, f12);
        vkGetPhysicalDeviceFeatures2(pd, &f);
        info.timeline_semaphores = f12.timelineSemaphore == VK_TRUE;
    }

    const uint32_t mem = memory_types_with_extension(info.extensions);
    info.image_memory = query_image_memory(pd, mem);
    info.buffer_memory = query_buffer_memory(pd, mem);
    const uint32_t sem = contains(info.extensions, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME)
                             ? (VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT |
                                VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT)
                             : 0;
    info.binary_semaphore = query_semaphore(pd, false, sem);
    // The spec forbids SYNC_FD for timeline semaphores whatever a driver reports.
    info.timeline_semaphore = info.timeline_semaphores
                                  ? query_semaphore(pd, true, sem & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)
                                  : ExternalHandleTypes{};
    const uint32_t fence = contains(info.extensions, VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME)
                               ? (VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT | VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT)
                               : 0;
    info.fence = query_fence(pd, fence);
    return info;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A UUID selector: 32 hex digits once dashes are removed.
bool parse_uuid(const std::string& s, std::string& hex) {
    hex.clear();
    for (char c : s) {
        if (c == '-') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
        hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return hex.size() == 2 * VK_UUID_SIZE;
}

int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_OTHER: return 3;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
        default: return 5;
    }
}

std::string device_list(const std::vector<DeviceInfo>& infos) {
    std::string s;
    for (const auto& d : infos) {
        if (!s.empty()) s += ", ";
        s += std::to_string(d.index) + ": " + d.name + " (" + uuid_to_hex(d.device_uuid) + ")";
    }
    return s;
}

size_t select(const std::vector<DeviceInfo>& infos, const std::string& selector) {
    if (selector.empty()) {
        size_t best = 0;
        for (size_t i = 1; i < infos.size(); ++i)
            if (type_rank(infos[i].device_type) < type_rank(infos[best].device_type)) best = i;
        return best;
    }
    // A CUDA ordinal ("cuda:1", as torch names it) is resolved to the GPU's UUID by CUDA itself,
    // under this process's CUDA_VISIBLE_DEVICES: Vulkan and CUDA number GPUs independently.
    if (lower(selector).rfind("cuda", 0) == 0) {
        const std::string rest = selector.substr(4);
        if (rest.size() < 2 || rest[0] != ':' ||
            !std::all_of(rest.begin() + 1, rest.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
            rest.size() > 10) {
            throw InvalidArgumentError("device selector '" + selector +
                                       "' is not a CUDA ordinal: write cuda:N, N the CUDA device number (torch's cuda:N)");
        }
        const Uuid uuid = cuda_device_uuid(std::stoi(rest.substr(1)));
        for (size_t i = 0; i < infos.size(); ++i)
            if (infos[i].device_uuid == uuid) return i;
        throw VulkanUnavailableError("CUDA device " + rest.substr(1) + " (UUID " + uuid_to_hex(uuid) +
                                     ") is no Vulkan device here; devices: " + device_list(infos));
    }
    // A UUID first: one made of decimal digits alone must not be read as an index.
    std::string hex;
    if (parse_uuid(selector, hex)) {
        for (size_t i = 0; i < infos.size(); ++i)
            if (uuid_to_hex(infos[i].device_uuid) == hex) return i;
        throw VulkanUnavailableError("no device has UUID " + selector + "; devices: " + device_list(infos));
    }
    if (std::all_of(selector.begin(), selector.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        const unsigned long idx = std::strtoul(selector.c_str(), nullptr, 10);
        if (idx < infos.size()) return idx;
        throw VulkanUnavailableError("device index " + selector + " is out of range; devices: " + device_list(infos));
    }
    const std::string needle = lower(selector);
    for (size_t i = 0; i < infos.size(); ++i)
        if (lower(infos[i].name).find(needle) != std::string::npos) return i;
    throw VulkanUnavailableError("no device name contains '" + selector + "'; devices: " + device_list(infos));
}

}  // namespace

std::vector<DeviceInfo> enumerate_devices() {
    auto instance = Instance::get();
    std::vector<DeviceInfo> infos;
    uint32_t i = 0;
    for (VkPhysicalDevice pd : instance->physical_devices()) infos.push_back(describe(pd, i++));
    return infos;
}

std::shared_ptr<Device> Device::open(const std::string& selector) {
    auto instance = Instance::get();
    std::vector<DeviceInfo> infos;
    uint32_t i = 0;
    for (VkPhysicalDevice pd : instance->physical_devices()) infos.push_back(describe(pd, i++));
    std::string sel = selector;
    if (sel.empty()) {
        if (const char* env = std::getenv("GEYSER_DEVICE")) sel = env;
    }
    const size_t chosen = select(infos, sel);
    VkPhysicalDevice pd = instance->physical_devices()[chosen];
    return std::shared_ptr<Device>(new Device(std::move(instance), pd, std::move(infos[chosen])));
}

Device::Device(std::shared_ptr<Instance> instance, VkPhysicalDevice physical, DeviceInfo info)
    : instance_(std::move(instance)),
      fork_generation_(fork_generation()),
      physical_(physical),
      info_(std::move(info)),
      table_(new VolkDeviceTable{}) {
    if (info_.api_version < VK_API_VERSION_1_1) {
        throw VulkanUnavailableError("device '" + info_.name + "' supports only Vulkan " +
                                     std::to_string(VK_API_VERSION_MAJOR(info_.api_version)) + "." +
                                     std::to_string(VK_API_VERSION_MINOR(info_.api_version)) +
                                     "; Geyser needs 1.1 or newer for external memory");
    }
    vkGetPhysicalDeviceMemoryProperties(physical_, &memory_props_);

    uint32_t qcount = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &qcount, nullptr);
    std::vector<VkQueueFamilyProperties> families(qcount);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &qcount, families.data());
    // Copies and barriers work on any queue; prefer the universal family so a user's graphics
    // or compute work can share it.
    uint32_t family = UINT32_MAX;
    for (uint32_t q = 0; q < qcount && family == UINT32_MAX; ++q)
        if ((families[q].queueFlags & VK_QUEUE_GRAPHICS_BIT) && (families[q].queueFlags & VK_QUEUE_COMPUTE_BIT)) family = q;
    for (uint32_t q = 0; q < qcount && family == UINT32_MAX; ++q)
        if (families[q].queueFlags & (VK_QUEUE_COMPUTE_BIT | VK_QUEUE_TRANSFER_BIT)) family = q;
    if (family == UINT32_MAX) throw VulkanUnavailableError("device '" + info_.name + "' has no usable queue family");
    queue_family_ = family;

    std::vector<const char*> enabled;
    for (const char* e : kOptionalExtensions)
        if (contains(info_.extensions, e)) enabled.push_back(e);

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = static_cast<uint32_t>(enabled.size());
    dci.ppEnabledExtensionNames = enabled.data();
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    if (info_.timeline_semaphores) {
        f12.timelineSemaphore = VK_TRUE;
        chain(dci, f12);
    }
    const VkResult created = vkCreateDevice(physical_, &dci, nullptr, &device_);
    if (created != VK_SUCCESS && forked_after_vulkan()) {
        throw VulkanUnavailableError(
            "vkCreateDevice failed with " + std::string(VulkanError(created, "").result_name()) + " in a process forked "
            "after its parent had opened Vulkan; the '" + info_.driver_name + "' driver cannot open a device there. "
            "Start worker processes with the 'spawn' or 'forkserver' method, or fork before opening any Device");
    }
    check_vk(created, "vkCreateDevice");
    volkLoadDeviceTable(table_.get(), device_);
    table_->vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
    pci.queueFamilyIndex = queue_family_;
    VkResult r = table_->vkCreateCommandPool(device_, &pci, nullptr, &command_pool_);
    if (r != VK_SUCCESS) {
        table_->vkDestroyDevice(device_, nullptr);
        throw VulkanError(r, "vkCreateCommandPool");
    }
}

Device::~Device() {
    if (device_ == VK_NULL_HANDLE || inherited_across_fork()) return;
    table_->vkDeviceWaitIdle(device_);
    table_->vkDestroyCommandPool(device_, command_pool_, nullptr);
    table_->vkDestroyDevice(device_, nullptr);
}

VkInstance Device::vk_instance() const noexcept { return instance_->handle(); }

bool Device::inherited_across_fork() const noexcept { return fork_generation_ != fork_generation(); }

void Device::require_owner_process(const char* what) const {
    if (!inherited_across_fork()) return;
    throw UnsupportedOperationError(
        std::string("cannot ") + what + ": this process is a fork() child, and this Device was opened by its parent (or an earlier ancestor) "
        "(Vulkan objects cannot be used across fork()). Send textures, buffers and timelines to the child "
        "through a multiprocessing Queue or Pipe or a geyser channel, which imports them there, or start it "
        "with the 'spawn' or 'forkserver' method");
}

bool Device::has_extension(const char* name) const { return contains(info_.extensions, name); }

std::vector<uint64_t> Device::heap_usage() const {
    require_owner_process("read memory usage");
    if (!has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME)) return {};
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    chain(props, budget);
    vkGetPhysicalDeviceMemoryProperties2(physical_, &props);
    return std::vector<uint64_t>(budget.heapUsage, budget.heapUsage + props.memoryProperties.memoryHeapCount);
}

uint32_t Device::choose_memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                                    VkMemoryPropertyFlags preferred) const {
    uint32_t fallback = UINT32_MAX;
    for (uint32_t i = 0; i < memory_props_.memoryTypeCount; ++i) {
        if (!(type_bits & (1u << i))) continue;
        const VkMemoryPropertyFlags f = memory_props_.memoryTypes[i].propertyFlags;
        if ((f & required) != required) continue;
        if ((f & preferred) == preferred) return i;
        if (fallback == UINT32_MAX) fallback = i;
    }
    if (fallback == UINT32_MAX) {
        throw UnsupportedOperationError("no memory type in mask 0x" + [&] {
            char b[16];
            std::snprintf(b, sizeof b, "%x", type_bits);
            return std::string(b);
        }() + " has the required property flags 0x" + std::to_string(required));
    }
    return fallback;
}

void Device::check_same_device(const Uuid& device_uuid, const Uuid& driver_uuid) const {
    if (device_uuid != info_.device_uuid) {
        throw DeviceMismatchError("handle was exported by device " + uuid_to_hex(device_uuid) + ", but this is '" +
                                  info_.name + "' (" + uuid_to_hex(info_.device_uuid) +
                                  "); explain() says why, copy_to() copies it onto this device (docs/fallback.md)");
    }
    if (driver_uuid != info_.driver_uuid) {
        throw DeviceMismatchError("handle was exported by driver " + uuid_to_hex(driver_uuid) +
                                  ", but this device's driver is " + uuid_to_hex(info_.driver_uuid) +
                                  "; explain() says why, copy_to() copies it onto this device (docs/fallback.md)");
    }
}

void Device::require_memory_export(const char* what) const {
    const char* extension = default_memory_service().device_extension();
    if (!has_extension(extension)) {
        throw UnsupportedOperationError(std::string("device '") + info_.name + "' cannot share " + what +
                                        ": it lacks " + extension);
    }
}

}  // namespace geyser
