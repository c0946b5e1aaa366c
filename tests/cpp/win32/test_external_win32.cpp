// The Win32 handle-type services (cpp/src/vulkan/external_*_win32.hpp) and their factories refuse
// what they must before any driver call, so these run without a GPU (the device and dispatch table
// are never touched). The one-export rule is checked against a fake vkGet*Win32HandleKHR that hands
// out events. The export and import paths themselves need a Windows Vulkan driver with
// VK_KHR_external_memory_win32: untested (docs/platforms.md).
#include <windows.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "vulkan/external_memory/win32.hpp"
#include "vulkan/external_sync/win32.hpp"

namespace {

VolkDeviceTable empty_table() {
    VolkDeviceTable t;
    std::memset(&t, 0, sizeof(t));  // every entry null: a call through it would crash the test
    return t;
}

int g_memory_exports = 0;
int g_semaphore_exports = 0;
VkResult g_fake_result = VK_SUCCESS;

VKAPI_ATTR VkResult VKAPI_CALL fake_get_memory_handle(VkDevice, const VkMemoryGetWin32HandleInfoKHR*, HANDLE* out) {
    ++g_memory_exports;
    if (g_fake_result != VK_SUCCESS) return g_fake_result;
    *out = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    return VK_SUCCESS;
}

VKAPI_ATTR VkResult VKAPI_CALL fake_get_semaphore_handle(VkDevice, const VkSemaphoreGetWin32HandleInfoKHR*,
                                                         HANDLE* out) {
    ++g_semaphore_exports;
    *out = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    return VK_SUCCESS;
}

template <typename T>
T fake_object(uintptr_t v) {
    return reinterpret_cast<T>(v);  // 64-bit: non-dispatchable handles are pointers
}

TEST(ExternalWin32, EachObjectIsExportedOnceAndSharedByDuplicates) {
    VolkDeviceTable vk = empty_table();
    vk.vkGetMemoryWin32HandleKHR = fake_get_memory_handle;
    vk.vkGetSemaphoreWin32HandleKHR = fake_get_semaphore_handle;
    const auto device = fake_object<VkDevice>(0x100);
    const auto memory = fake_object<VkDeviceMemory>(0x2000);
    const geyser::Win32MemoryService& memory_service =
        geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    const geyser::Win32SyncService& semaphore_service =
        geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    g_memory_exports = 0;
    {
        geyser::Win32Export first = memory_service.export_handle(device, vk, memory);
        EXPECT_EQ(g_memory_exports, 1);
        ASSERT_NE(first.get(), nullptr);
        // A second export of the same memory and type never reaches the driver.
        EXPECT_THROW(memory_service.export_handle(device, vk, memory), geyser::InvalidArgumentError);
        EXPECT_EQ(g_memory_exports, 1);
        // Sharing goes through duplicates of the one export.
        geyser::UniqueHandle copy = first.duplicate();
        ASSERT_TRUE(copy.valid());
        EXPECT_NE(copy.get(), first.get());
        ASSERT_TRUE(SetEvent(copy.get()));
        EXPECT_EQ(WaitForSingleObject(first.get(), 0), WAIT_OBJECT_0);
        // Moving the export keeps the object registered.
        geyser::Win32Export moved = std::move(first);
        EXPECT_THROW(memory_service.export_handle(device, vk, memory), geyser::InvalidArgumentError);
        // Other objects, and a semaphore with the same handle value, are separate exports.
        geyser::Win32Export other = memory_service.export_handle(device, vk, fake_object<VkDeviceMemory>(0x3000));
        geyser::Win32Export sem =
            semaphore_service.export_semaphore_handle(device, vk, fake_object<VkSemaphore>(0x2000));
        EXPECT_THROW(semaphore_service.export_semaphore_handle(device, vk, fake_object<VkSemaphore>(0x2000)),
                     geyser::InvalidArgumentError);
        EXPECT_EQ(g_memory_exports, 2);
        EXPECT_EQ(g_semaphore_exports, 1);
    }
    // With every Win32Export gone (as when the memory is freed with it), the key is free again.
    geyser::Win32Export again = memory_service.export_handle(device, vk, memory);
    EXPECT_EQ(g_memory_exports, 3);
}

TEST(ExternalWin32, AFailedExportDoesNotCount) {
    VolkDeviceTable vk = empty_table();
    vk.vkGetMemoryWin32HandleKHR = fake_get_memory_handle;
    const auto device = fake_object<VkDevice>(0x100);
    const auto memory = fake_object<VkDeviceMemory>(0x4000);
    const geyser::Win32MemoryService& service = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    g_fake_result = VK_ERROR_OUT_OF_HOST_MEMORY;
    EXPECT_THROW(service.export_handle(device, vk, memory), geyser::VulkanError);
    g_fake_result = VK_SUCCESS;
    geyser::Win32Export e = service.export_handle(device, vk, memory);
    EXPECT_TRUE(e.get() != nullptr);
}

TEST(ExternalWin32, KmtHandlesAreRefusedByDesign) {
    const VolkDeviceTable vk = empty_table();
    for (bool semaphore : {false, true}) {
        try {
            if (semaphore) {
                geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
                    .export_semaphore_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE);
            } else {
                geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
                    .export_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE);
            }
            FAIL() << "a KMT export was accepted";
        } catch (const geyser::UnsupportedOperationError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("refused by design"), std::string::npos) << what;
            EXPECT_EQ(what.find("not implemented"), std::string::npos) << what;
        }
    }
}

TEST(ExternalWin32, NamesTheDeviceExtensions) {
    EXPECT_STREQ(geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT).device_extension(),
                 "VK_KHR_external_memory_win32");
    EXPECT_STREQ(geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT)
                     .device_extension(geyser::SyncPrimitive::kSemaphore),
                 "VK_KHR_external_semaphore_win32");
}

TEST(ExternalWin32, TheFactoriesPickEachBuiltTypesService) {
    const geyser::Win32MemoryService& memory = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    EXPECT_EQ(memory.handle_type(), VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    EXPECT_STREQ(memory.name(), "opaque_win32");
    EXPECT_EQ(&geyser::default_memory_service(), &memory);
    for (const geyser::Win32MemoryService* service : geyser::memory_services()) {
        EXPECT_EQ(&geyser::memory_service(service->handle_type()), service) << service->name();
    }
    const geyser::Win32SyncService& semaphore =
        geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    EXPECT_STREQ(semaphore.name(), "opaque_win32");
    EXPECT_TRUE(semaphore.permanent_import());
    EXPECT_TRUE(semaphore.carries_timelines());
    EXPECT_FALSE(semaphore.may_be_signaled_without_handle());
    for (const geyser::Win32SyncService* service : geyser::sync_services()) {
        EXPECT_EQ(&geyser::sync_service(service->handle_type()), service) << service->name();
    }
}

TEST(ExternalWin32, OnlyOpaqueWin32MemoryIsAccepted) {
    const VolkDeviceTable vk = empty_table();
    HANDLE event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    const geyser::MemoryAllocation allocation{4096, 0};
    EXPECT_THROW(geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
                     .import_handle(VK_NULL_HANDLE, vk, event, allocation),
                 geyser::UnsupportedOperationError);
    try {
        geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT)
            .import_handle(VK_NULL_HANDLE, vk, event, allocation);
        ADD_FAILURE() << "an opaque_fd import was accepted on Windows";
    } catch (const geyser::UnsupportedOperationError& e) {
        EXPECT_NE(std::string(e.what()).find("opaque_fd"), std::string::npos) << e.what();
    }
    EXPECT_THROW(geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
                     .export_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE),
                 geyser::UnsupportedOperationError);
    CloseHandle(event);
}

TEST(ExternalWin32, NullHandlesAreRefusedBeforeTheDriver) {
    const VolkDeviceTable vk = empty_table();
    const geyser::Win32MemoryService& memory = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
    const geyser::MemoryAllocation allocation{4096, 0};
    EXPECT_THROW(memory.import_handle(VK_NULL_HANDLE, vk, nullptr, allocation), geyser::InvalidHandleError);
    EXPECT_THROW(memory.import_handle(VK_NULL_HANDLE, vk, INVALID_HANDLE_VALUE, allocation),
                 geyser::InvalidHandleError);
    EXPECT_THROW(geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT)
                     .import_semaphore_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE, nullptr),
                 geyser::InvalidHandleError);
    EXPECT_THROW(geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
                     .import_semaphore_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE, nullptr),
                 geyser::UnsupportedOperationError);
    EXPECT_THROW(geyser::sync_service(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT)
                     .export_semaphore_handle(VK_NULL_HANDLE, vk, VK_NULL_HANDLE),
                 geyser::UnsupportedOperationError);
}

}  // namespace
