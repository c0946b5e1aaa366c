// Internal: the seam between Geyser's shared memory and the OS handle it travels as.
//
// Everything about sharing VkDeviceMemory that depends on the external handle type lives behind
// ExternalMemoryService, one implementation per handle type, each in its own file of this folder:
//   opaque_fd.cpp     OPAQUE_FD     (POSIX builds)
//   opaque_win32.cpp  OPAQUE_WIN32  (Windows builds)
// A DMA-BUF service would be dma_buf.cpp (docs/architecture.md says what it implements). The
// services of one OS handle family share a leaf interface that takes and gives that family's
// handles: FdMemoryService (fd.hpp: file descriptors) and Win32MemoryService (win32.hpp: NT
// handles). Each family's .cpp has the factory, memory_service(handle type), and CMake builds the
// family of the platform. Code that creates, exports or imports memory asks the factory for the
// handle's type and never tests a type itself.
//
// Services are stateless singletons: every member is const and thread-safe. They take the
// VkDevice and its volk table rather than a geyser::Device, so they also serve where Device is not
// built yet (Windows, docs/platforms.md).
#pragma once

#include <cstdint>

#include "vulkan/vk.hpp"

namespace geyser {

/// One allocation of shared memory: its size and type, and the image or buffer it is dedicated to
/// (both null for a non-dedicated allocation). Plain data.
struct MemoryAllocation {
    VkDeviceSize size = 0;
    uint32_t memory_type_index = 0;
    VkImage dedicated_image = VK_NULL_HANDLE;
    VkBuffer dedicated_buffer = VK_NULL_HANDLE;
};

/// One external memory handle type (the part every OS handle family shares; the leaf interfaces
/// add export and import of the OS handle itself).
class ExternalMemoryService {
public:
    virtual ~ExternalMemoryService() = default;

    /// The one handle type this service implements.
    virtual VkExternalMemoryHandleTypeFlagBits handle_type() const noexcept = 0;
    /// The device extension the type needs (Device enables it wherever the device has it).
    virtual const char* device_extension() const noexcept = 0;
    /// The type's name in messages and in Python: "opaque_fd", "opaque_win32", ...
    const char* name() const noexcept;

    /// Check...Support for buffers: whether `physical` can both export and import buffers of
    /// `usage` as this type (vkGetPhysicalDeviceExternalBufferProperties). Images are asked per
    /// format (query_image_format, format_support.hpp), which takes the handle type.
    bool supports_buffers(VkPhysicalDevice physical, VkBufferUsageFlags usage) const;

    /// Allocates memory that can be exported as this type: the allocate-info chain
    /// (VkExportMemoryAllocateInfo naming the type, and VkMemoryDedicatedAllocateInfo where
    /// `allocation` names a resource). The caller owns the memory. Throws VulkanError (fault
    /// point "vkAllocateMemory(export)"). A type whose export needs more in the chain (security
    /// attributes, say) overrides this.
    virtual VkDeviceMemory allocate_exportable(VkDevice device, const VolkDeviceTable& vk,
                                               const MemoryAllocation& allocation) const;

protected:
    /// Appends `dedicated`, filled from `allocation`, to `info` when the allocation is dedicated.
    static void chain_dedicated(VkMemoryAllocateInfo& info, VkMemoryDedicatedAllocateInfo& dedicated,
                                const MemoryAllocation& allocation);
};

}  // namespace geyser
