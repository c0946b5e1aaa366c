// Internal, Windows builds: the memory handle types that travel as NT handles, and the factory
// that picks one by handle type (service.hpp describes the seam).
//
// The services take a VkDevice and its volk table, since Device is not built for Windows yet
// (docs/platforms.md). The device must have been created with the service's device_extension()
// enabled. Thread safety: as the underlying Vulkan calls (none needs external synchronisation).
#pragma once

#include <vector>

#include "geyser/unique_handle.hpp"
#include "vulkan/external_memory/service.hpp"
#include "vulkan/win32_export.hpp"

namespace geyser {

/// A memory handle type whose OS handle is an NT handle (VK_KHR_external_memory_win32). The
/// Win32 calls are the same for every such type, parametrised by handle_type(); importing a
/// Windows handle never transfers its ownership (VkImportMemoryWin32HandleInfoKHR), so unlike an
/// fd it is not duplicated first, and the caller still closes it.
class Win32MemoryService : public ExternalMemoryService {
public:
    /// Screens a borrowed handle before any driver sees it: InvalidHandleError for a null handle
    /// or INVALID_HANDLE_VALUE. A type that can say more about its handles overrides this.
    virtual void check_handle(NativeHandle handle) const;

    /// The one export of `memory` (allocated exportable as this type) as an NT handle:
    /// vkGetMemoryWin32HandleKHR, called once per memory and type (Win32Export). The caller owns
    /// the returned Win32Export and keeps it with the memory. Throws InvalidArgumentError when
    /// this memory already has a live Win32Export for the type, VulkanError when the call fails
    /// (a failed export does not count).
    Win32Export export_handle(VkDevice device, const VolkDeviceTable& vk, VkDeviceMemory memory) const;

    /// Allocates memory that imports the payload behind `borrowed` (check_handle first), which
    /// stays the caller's. vkGetMemoryWin32HandlePropertiesKHR cannot vet the memory type first
    /// (it must not be called with an opaque handle type), so the description's checks happen
    /// before this call. Throws InvalidHandleError when the driver refuses the handle. The caller
    /// owns the memory.
    VkDeviceMemory import_handle(VkDevice device, const VolkDeviceTable& vk, NativeHandle borrowed,
                                 const MemoryAllocation& allocation) const;
};

/// The service for `handle_type`. Throws UnsupportedOperationError naming the type when this
/// build has none for it; OPAQUE_WIN32_KMT is refused by design (win32.cpp says
/// why). Thread-safe.
const Win32MemoryService& memory_service(VkExternalMemoryHandleTypeFlagBits handle_type);

/// The service Geyser would allocate its shareable memory with on Windows: opaque Win32.
const Win32MemoryService& default_memory_service() noexcept;

/// Every memory service this build has, in the order the factory tries them.
const std::vector<const Win32MemoryService*>& memory_services();

/// One accessor per implementation, each defined in the implementation's own file.
const Win32MemoryService& opaque_win32_memory_service() noexcept;  // opaque_win32.cpp

}  // namespace geyser
