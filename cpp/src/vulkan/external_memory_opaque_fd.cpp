#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "vulkan/external_memory.hpp"

namespace geyser {

namespace {

const char* fd_kind(mode_t mode) {
    if (S_ISFIFO(mode)) return "a pipe";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return nullptr;
}

void require_opaque_fd(VkExternalMemoryHandleTypeFlagBits handle_type) {
    if (handle_type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw UnsupportedOperationError(std::string("external memory handle type ") +
                                        external_handle_type_name(handle_type) +
                                        " is not implemented on this platform; use opaque_fd");
    }
}

}  // namespace

void check_memory_fd(int fd, VkExternalMemoryHandleTypeFlagBits handle_type) {
    require_opaque_fd(handle_type);
    if (fd < 0) throw InvalidHandleError("expected an open memory fd, found fd " + std::to_string(fd));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        if (errno == EBADF) throw InvalidHandleError("fd " + std::to_string(fd) + " is not open");
        throw_errno("fstat", "fd " + std::to_string(fd));
    }
    if (const char* kind = fd_kind(st.st_mode)) {
        throw InvalidHandleError("fd " + std::to_string(fd) + " is " + kind +
                                 ", not a Vulkan memory handle (opaque_fd)");
    }
}

UniqueFd export_memory(const Device& device, VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits handle_type) {
    require_opaque_fd(handle_type);
    VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
    info.memory = memory;
    info.handleType = handle_type;
    int fd = -1;
    check_vk(device.vk().vkGetMemoryFdKHR(device.vk_device(), &info, &fd), "vkGetMemoryFdKHR");
    if (fd < 0) throw VulkanError(VK_ERROR_UNKNOWN, "vkGetMemoryFdKHR", "returned success with fd " + std::to_string(fd));
    return UniqueFd(fd);
}

VkDeviceMemory import_memory(const Device& device, const MemoryImport& request) {
    check_memory_fd(request.borrowed_fd, request.handle_type);
    // A successful vkAllocateMemory import takes ownership of the fd, so import a duplicate and
    // keep the caller's handle valid.
    UniqueFd dup = UniqueFd::duplicate_of(request.borrowed_fd);
    struct stat before {};
    ::fstat(dup.get(), &before);

    VkImportMemoryFdInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
    import.handleType = request.handle_type;
    import.fd = dup.get();
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
    const VkResult r = device.vk().vkAllocateMemory(device.vk_device(), &mai, nullptr, &memory);
    if (r == VK_SUCCESS) {
        (void)dup.release();  // the driver owns it now
        return memory;
    }
    // The spec leaves the fd with us on failure, but some drivers close it anyway
    // (DRIVER_FACTS.md). Close our duplicate only if it still names the same open file, so we
    // neither leak it nor close a number someone else has been given since.
    struct stat after {};
    if (::fstat(dup.get(), &after) != 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino ||
        after.st_rdev != before.st_rdev) {
        (void)dup.release();
    }
    throw InvalidHandleError(std::string("the driver refused to import fd ") + std::to_string(request.borrowed_fd) +
                             ": vkAllocateMemory returned " + VulkanError(r, "").result_name() +
                             " (not memory exported by this driver, or a description that does not match it)");
}

}  // namespace geyser
