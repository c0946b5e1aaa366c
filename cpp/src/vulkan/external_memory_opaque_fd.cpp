#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "posix/fd_kind.hpp"
#include "vulkan/external_memory.hpp"

namespace geyser {

namespace {

void require_opaque_fd(VkExternalMemoryHandleTypeFlagBits handle_type) {
    if (handle_type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw UnsupportedOperationError(std::string("external memory handle type ") +
                                        external_handle_type_name(handle_type) +
                                        " is not implemented on this platform; use opaque_fd");
    }
}

}  // namespace

void check_memory_fd(Device& device, int fd, VkExternalMemoryHandleTypeFlagBits handle_type) {
    require_opaque_fd(handle_type);
    const FdKind kind = FdKind::of(fd, "memory");
    if (kind.never_a_payload()) {
        throw InvalidHandleError("fd " + std::to_string(fd) + " is " + kind.describe() +
                                 ", not a Vulkan memory handle (opaque_fd)");
    }
    device.check_opaque_fd(fd, Device::FdFamily::kMemory);
}

UniqueFd export_memory(const Device& device, VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits handle_type) {
    require_opaque_fd(handle_type);
    VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
    info.memory = memory;
    info.handleType = handle_type;
    int fd = -1;
    vk_call("vkGetMemoryFdKHR", [&] { return device.vk().vkGetMemoryFdKHR(device.vk_device(), &info, &fd); });
    if (fd < 0) throw VulkanError(VK_ERROR_UNKNOWN, "vkGetMemoryFdKHR", "returned success with fd " + std::to_string(fd));
    return UniqueFd(fd);
}

VkDeviceMemory import_memory(Device& device, const MemoryImport& request) {
    check_memory_fd(device, request.borrowed_fd, request.handle_type);
    VkImportMemoryFdInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
    import.handleType = request.handle_type;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = request.size;
    mai.memoryTypeIndex = request.memory_type_index;
    chain(mai, import);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    if (request.dedicated_image != VK_NULL_HANDLE || request.dedicated_buffer != VK_NULL_HANDLE) {
        dedicated.image = request.dedicated_image;
        dedicated.buffer = request.dedicated_buffer;
        chain(mai, dedicated);
    }
    VkDeviceMemory memory = VK_NULL_HANDLE;
    // A successful vkAllocateMemory import takes ownership of the fd, so import a duplicate and
    // keep the caller's handle valid.
    import_duplicate(request.borrowed_fd, "vkAllocateMemory", [&](int fd) {
        import.fd = fd;
        return fault::injected("vkAllocateMemory(import)")
                   ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                   : device.vk().vkAllocateMemory(device.vk_device(), &mai, nullptr, &memory);
    });
    return memory;
}

}  // namespace geyser
