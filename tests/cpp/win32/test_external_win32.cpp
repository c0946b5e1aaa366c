// The Win32 external-handle code refuses what it must before any driver call, so these run without
// a GPU (the device and dispatch table are never touched). The export and import paths themselves
// need a Windows Vulkan driver with VK_KHR_external_memory_win32: untested (docs/platforms.md).
#include <windows.h>

#include <gtest/gtest.h>

#include <cstring>

#include "geyser/error.hpp"
#include "vulkan/external_memory_win32.hpp"

namespace {

VolkDeviceTable empty_table() {
    VolkDeviceTable t;
    std::memset(&t, 0, sizeof(t));  // every entry null: a call through it would crash the test
    return t;
}

TEST(ExternalWin32, NamesTheDeviceExtensions) {
    EXPECT_STREQ(geyser::kWin32ExternalDeviceExtensions[0], "VK_KHR_external_memory_win32");
    EXPECT_STREQ(geyser::kWin32ExternalDeviceExtensions[1], "VK_KHR_external_semaphore_win32");
}

TEST(ExternalWin32, OnlyOpaqueWin32MemoryIsAccepted) {
    const VolkDeviceTable vk = empty_table();
    HANDLE event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    geyser::MemoryImportWin32 request{VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, event, 4096, 0};
    EXPECT_THROW(geyser::import_memory_win32(VK_NULL_HANDLE, vk, request), geyser::UnsupportedOperationError);
    request.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    EXPECT_THROW(geyser::import_memory_win32(VK_NULL_HANDLE, vk, request), geyser::UnsupportedOperationError);
    EXPECT_THROW(geyser::export_memory_win32(VK_NULL_HANDLE, vk, VK_NULL_HANDLE,
                                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT),
                 geyser::UnsupportedOperationError);
    CloseHandle(event);
}

TEST(ExternalWin32, NullHandlesAreRefusedBeforeTheDriver) {
    const VolkDeviceTable vk = empty_table();
    geyser::MemoryImportWin32 request{VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, nullptr, 4096, 0};
    EXPECT_THROW(geyser::import_memory_win32(VK_NULL_HANDLE, vk, request), geyser::InvalidHandleError);
    request.borrowed_handle = INVALID_HANDLE_VALUE;
    EXPECT_THROW(geyser::import_memory_win32(VK_NULL_HANDLE, vk, request), geyser::InvalidHandleError);
    EXPECT_THROW(geyser::import_semaphore_win32(VK_NULL_HANDLE, vk, VK_NULL_HANDLE,
                                                VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT, nullptr),
                 geyser::InvalidHandleError);
    EXPECT_THROW(geyser::import_semaphore_win32(VK_NULL_HANDLE, vk, VK_NULL_HANDLE,
                                                VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, nullptr),
                 geyser::UnsupportedOperationError);
    EXPECT_THROW(geyser::export_semaphore_win32(VK_NULL_HANDLE, vk, VK_NULL_HANDLE,
                                                VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT),
                 geyser::UnsupportedOperationError);
}

}  // namespace
