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
    // fd is the same kind of file as those this device exports.
    void check_fd(Device& device, int fd) const override { device.check_opaque_fd(fd, Device::FdFamily::kMemory); }
};

}  // namespace

const FdMemoryService& opaque_fd_memory_service() noexcept {
    static const OpaqueFdMemoryService service;
    return service;
}

}  // namespace geyser
