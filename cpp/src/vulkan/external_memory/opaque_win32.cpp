// The OPAQUE_WIN32 memory service (VK_KHR_external_memory_win32): NT handles, the Windows
// counterpart of opaque FDs. Its export and import are the shared NT-handle calls of
// Win32MemoryService; none of it has run against a Windows Vulkan driver (docs/platforms.md).
#include "vulkan/external_memory/win32.hpp"

namespace geyser {

namespace {

class OpaqueWin32MemoryService final : public Win32MemoryService {
public:
    VkExternalMemoryHandleTypeFlagBits handle_type() const noexcept override {
        return VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
    }
    const char* device_extension() const noexcept override { return VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME; }
};

}  // namespace

const Win32MemoryService& opaque_win32_memory_service() noexcept {
    static const OpaqueWin32MemoryService service;
    return service;
}

}  // namespace geyser
