// FdMemoryService's fd calls, shared by every memory handle type that travels as an fd, and the
// POSIX factory (fd.hpp).
#include "vulkan/external_memory/fd.hpp"

#include <string>

#include "posix/fd_kind.hpp"
#include "posix/file_seals.hpp"
#include "text.hpp"

namespace geyser {

UniqueFd FdMemoryService::export_fd(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory) const {
    VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
    info.memory = memory;
    info.handleType = handle_type();
    int fd = -1;
    vk_call("vkGetMemoryFdKHR", [&] { return vk.vkGetMemoryFdKHR(device, &info, &fd); });
    if (fd < 0) throw VulkanError(VK_ERROR_UNKNOWN, "vkGetMemoryFdKHR", "returned success with fd " + std::to_string(fd));
    UniqueFd owned(fd);
    seal_file_size(owned.get());
    return owned;
}

VkDeviceMemory FdMemoryService::import_fd(VkDevice device, const VolkDeviceTable& vk, int borrowed_fd,
                                          const MemoryAllocation& allocation) const {
    VkImportMemoryFdInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
    import.handleType = handle_type();
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = allocation.size;
    mai.memoryTypeIndex = allocation.memory_type_index;
    chain(mai, import);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    chain_dedicated(mai, dedicated, allocation);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    // A successful vkAllocateMemory import takes ownership of the fd, so import a duplicate and
    // keep the caller's handle valid.
    import_duplicate(borrowed_fd, "vkAllocateMemory", [&](int fd) {
        import.fd = fd;
        return fault::injected("vkAllocateMemory(import)") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                            : vk.vkAllocateMemory(device, &mai, nullptr, &memory);
    });
    return memory;
}

// ---------------------------------------------------------------------------------------------
// The factory

const std::vector<const FdMemoryService*>& memory_services() {
    // One line per handle type this build has; each service is defined in its own file, which
    // CMake builds where the type exists. A new type adds its file, its accessor in
    // fd.hpp and its line here (docs/architecture.md).
    static const std::vector<const FdMemoryService*> services{
        &opaque_fd_memory_service(),
    };
    return services;
}

const FdMemoryService& default_memory_service() noexcept { return opaque_fd_memory_service(); }

const FdMemoryService& memory_service(VkExternalMemoryHandleTypeFlagBits handle_type) {
    std::string built;
    for (const FdMemoryService* service : memory_services()) {
        if (service->handle_type() == handle_type) return *service;
        built += (built.empty() ? "" : ", ") + std::string(service->name());
    }
    throw UnsupportedOperationError("Geyser has no memory service for external handle type " +
                                    std::string(external_handle_type_name(handle_type)) + " (" +
                                    hex32(handle_type) + ") on this platform; it shares memory as " + built);
}

}  // namespace geyser
