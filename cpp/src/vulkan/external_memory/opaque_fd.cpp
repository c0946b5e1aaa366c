// The OPAQUE_FD memory service (VK_KHR_external_memory_fd): the handle type Geyser shares its
// textures and buffers as on POSIX.
#include "vulkan/external_memory/fd.hpp"

namespace geyser {

namespace {

class OpaqueFdMemoryService final : public FdMemoryService {
public:
    VkExternalMemoryHandleTypeFlagBits handle_type() const noexcept override {
        return VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    }
    const char* device_extension() const noexcept override { return VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME; }

    // An opaque FD says nothing about itself that Vulkan could be asked (vkGetMemoryFdPropertiesKHR
    // must not be called with it, VUID-vkGetMemoryFdPropertiesKHR-handleType-00674), and NVIDIA's
    // driver imports what it is given unchecked (DRIVER_FACTS.md). What can be checked is that the
    // fd is the same kind of file as those this device exports, and, where that file can be read
    // (a memfd), that it is what the driver's own export of that size is: a short, unsealed or
    // forged file crashes the importing process inside the driver (issue #14).
    void check_fd(Device& device, int fd, uint64_t allocation_size) const override {
        device.check_opaque_fd(fd, Device::FdFamily::kMemory);
        device.check_opaque_memory_file(fd, allocation_size);
    }
};

}  // namespace

const FdMemoryService& opaque_fd_memory_service() noexcept {
    static const OpaqueFdMemoryService service;
    return service;
}

}  // namespace geyser
