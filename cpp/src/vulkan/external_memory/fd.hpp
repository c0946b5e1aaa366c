// Internal, POSIX builds: the memory handle types that travel as file descriptors, and the
// factory that picks one by handle type (service.hpp describes the seam).
#pragma once

#include <vector>

#include "geyser/device.hpp"
#include "geyser/unique_fd.hpp"
#include "vulkan/external_memory/service.hpp"

namespace geyser {

/// A memory handle type whose OS handle is a file descriptor (VK_KHR_external_memory_fd and the
/// extensions built on it). The fd calls are the same for every such type; what differs is
/// handle_type(), device_extension() and check_fd(), and an implementation may override the
/// import where its type allows more (a DMA-BUF import can ask vkGetMemoryFdPropertiesKHR which
/// memory types the fd allows, which an opaque FD import must not).
class FdMemoryService : public ExternalMemoryService {
public:
    /// Screens an open fd before any driver sees it, past the checks every fd gets (open, not a
    /// pipe or socket: memory_import_checks.cpp): it must be what `device` exports memory of this
    /// type as, for an allocation of `allocation_size` bytes. Throws InvalidHandleError.
    virtual void check_fd(Device& device, int fd, uint64_t allocation_size) const = 0;

    /// A new fd for `memory` (allocated exportable as this type), owned by the caller
    /// (vkGetMemoryFdKHR; each call gives a new fd). Where the fd is a file that can be sealed
    /// (lavapipe's memfd), its size is sealed first (seal_file_size, posix/file_seals.hpp), so an
    /// importer can require that no holder can truncate it under its mapping.
    virtual UniqueFd export_fd(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory) const;

    /// Allocates memory that imports the payload of `borrowed_fd`, which the caller has checked
    /// (check_fd) and keeps: a successful import takes ownership of the fd it is given, so it is
    /// given a duplicate. Throws InvalidHandleError when the driver refuses it (fault point
    /// "vkAllocateMemory(import)"). The caller owns the memory.
    ///
    /// No VkExportMemoryAllocateInfo is chained: on NVIDIA 580 an import allocation that also asks
    /// to be exportable silently gets fresh zeroed memory instead of the payload (measured on the
    /// H100, docs/hardware.md). Imported memory is therefore never exported again.
    virtual VkDeviceMemory import_fd(VkDevice device, const VolkDeviceTable& vk, int borrowed_fd,
                                     const MemoryAllocation& allocation) const;
};

/// The service for `handle_type`. Throws UnsupportedOperationError naming the type when this
/// build has none for it. Thread-safe.
const FdMemoryService& memory_service(VkExternalMemoryHandleTypeFlagBits handle_type);

/// The service Geyser allocates its own shareable textures and buffers with: opaque FD.
const FdMemoryService& default_memory_service() noexcept;

/// Every memory service this build has, in the order the factory tries them.
const std::vector<const FdMemoryService*>& memory_services();

/// One accessor per implementation, each defined in the implementation's own file.
const FdMemoryService& opaque_fd_memory_service() noexcept;  // opaque_fd.cpp

}  // namespace geyser
