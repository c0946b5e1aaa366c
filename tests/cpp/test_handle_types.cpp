// The external handle types Geyser has no driver for here (sync FD for semaphores and fences,
// DMA-BUF and OPAQUE_WIN32 memory on Linux), and bad handle-type bits: every import and export of
// them is refused with a specific error, before the driver sees an fd, and leaves no fd open. The
// handles are described by hand, since neither test machine's driver exports these types. Then
// the handle-type services behind it all (cpp/src/vulkan/external_*_fd.hpp), through the factory.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "geyser/geyser.hpp"
#include "vulkan/external_memory/fd.hpp"
#include "vulkan/external_sync/fd.hpp"
#include "device_support.hpp"
#include "support.hpp"
#include "validation_listener.hpp"

namespace {

using geyser::testing_support::fd_count;
using geyser::testing_support::rgba8;

constexpr uint32_t kOpaqueFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
constexpr uint32_t kSyncFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
constexpr uint32_t kOpaqueWin32 = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;

// Runs `call`, expects it to throw `Error` with `needle` in its message.
template <typename Error, typename Call>
void expect_error(Call&& call, const std::string& needle) {
    try {
        call();
        ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

// A description of a semaphore or fence of this device with an fd that is no pipe or socket
// (/dev/null), so that the fd screening lets it through to the checks after it.
geyser::SyncHandle sync_handle(const geyser::Device& dev, geyser::SyncPrimitive primitive, uint32_t handle_type,
                               bool permanent) {
    geyser::SyncHandle h;
    h.primitive = primitive;
    h.semaphore_type = geyser::SemaphoreType::kBinary;
    h.handle_type = handle_type;
    h.permanent = permanent;
    h.device_uuid = dev.info().device_uuid;
    h.driver_uuid = dev.info().driver_uuid;
    h.fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return h;
}

}  // namespace

TEST(SyncHandleTypes, SyncFdImportsAreTemporaryAndOpaqueOnesPermanent) {
    DEVICE_OR_SKIP(dev);
    const size_t before = fd_count();
    for (auto primitive : {geyser::SyncPrimitive::kSemaphore, geyser::SyncPrimitive::kFence}) {
        auto import = [&](const geyser::SyncHandle& h) {
            if (primitive == geyser::SyncPrimitive::kFence) {
                dev->import_fence(h);
            } else {
                dev->import_semaphore(h);
            }
        };
        geyser::SyncHandle sync_permanent = sync_handle(*dev, primitive, kSyncFd, true);
        expect_error<geyser::InvalidHandleError>([&] { import(sync_permanent); }, "temporarily");
        geyser::SyncHandle opaque_temporary = sync_handle(*dev, primitive, kOpaqueFd, false);
        expect_error<geyser::InvalidHandleError>([&] { import(opaque_temporary); }, "permanently");
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(SyncHandleTypes, OnlyASyncFdStandsForAnAlreadySignalledPayload) {
    DEVICE_OR_SKIP(dev);
    const size_t before = fd_count();
    for (auto primitive : {geyser::SyncPrimitive::kSemaphore, geyser::SyncPrimitive::kFence}) {
        auto import = [&](const geyser::SyncHandle& h) {
            if (primitive == geyser::SyncPrimitive::kFence) {
                dev->import_fence(h);
            } else {
                dev->import_semaphore(h);
            }
        };
        geyser::SyncHandle opaque = sync_handle(*dev, primitive, kOpaqueFd, true);
        opaque.fd.reset();
        opaque.already_signaled = true;
        expect_error<geyser::InvalidHandleError>([&] { import(opaque); }, "sync_fd");
        geyser::SyncHandle with_fd = sync_handle(*dev, primitive, kSyncFd, false);
        with_fd.already_signaled = true;
        expect_error<geyser::InvalidHandleError>([&] { import(with_fd); }, "must not carry an fd");
        geyser::SyncHandle no_fd = sync_handle(*dev, primitive, kSyncFd, false);
        no_fd.fd.reset();
        expect_error<geyser::InvalidHandleError>([&] { import(no_fd); }, "no fd");
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(SyncHandleTypes, ATimelineNeverTravelsAsASyncFd) {
    DEVICE_OR_SKIP(dev);
    // Made before the count: NVIDIA's driver holds an fd of its own for each sync object.
    std::shared_ptr<geyser::Semaphore> local;
    if (dev->info().timeline_semaphores) local = dev->create_semaphore(geyser::SemaphoreType::kTimeline);
    const size_t before = fd_count();
    geyser::SyncHandle h = sync_handle(*dev, geyser::SyncPrimitive::kSemaphore, kSyncFd, false);
    h.semaphore_type = geyser::SemaphoreType::kTimeline;
    expect_error<geyser::InvalidHandleError>([&] { dev->import_semaphore(h); }, "timeline");
    h.close();
    EXPECT_EQ(fd_count(), before);
    if (!local) GTEST_SKIP() << "no timeline semaphores";
    expect_error<geyser::UnsupportedOperationError>([&] { dev->export_semaphore(*local, kSyncFd); }, "sync_fd");
    EXPECT_EQ(fd_count(), before);
}

TEST(SyncHandleTypes, BitsThatAreNoSyncHandleTypeAreRefused) {
    DEVICE_OR_SKIP(dev);
    // Made before the count: NVIDIA's driver holds an fd of its own for each sync object.
    auto semaphore = dev->create_semaphore(geyser::SemaphoreType::kBinary);
    auto fence = dev->create_fence();
    const size_t before = fd_count();
    for (uint32_t bit : {kOpaqueWin32, 0x3u, 0u}) {
        geyser::SyncHandle s = sync_handle(*dev, geyser::SyncPrimitive::kSemaphore, bit, true);
        expect_error<geyser::InvalidHandleError>([&] { dev->import_semaphore(s); }, "handle type");
        geyser::SyncHandle f = sync_handle(*dev, geyser::SyncPrimitive::kFence, bit, true);
        expect_error<geyser::InvalidHandleError>([&] { dev->import_fence(f); }, "handle type");
    }
    expect_error<geyser::InvalidHandleError>([&] { dev->export_semaphore(*semaphore, kOpaqueWin32); }, "handle type");
    expect_error<geyser::InvalidHandleError>([&] { dev->export_fence(*fence, kOpaqueWin32); }, "handle type");
    EXPECT_EQ(fd_count(), before);
}

TEST(SyncHandleTypes, WellFormedSyncFdsMeetTheDevicesSupport) {
    DEVICE_OR_SKIP(dev);
    // A local semaphore or fence was made exportable as nothing. Made before the count: NVIDIA's
    // driver holds an fd of its own for each sync object.
    auto semaphore = dev->create_semaphore(geyser::SemaphoreType::kBinary);
    auto fence = dev->create_fence();
    const size_t before = fd_count();
    expect_error<geyser::UnsupportedOperationError>([&] { dev->export_semaphore(*semaphore, kSyncFd); }, "sync_fd");
    expect_error<geyser::UnsupportedOperationError>([&] { dev->export_fence(*fence, kSyncFd); }, "sync_fd");
    const bool semaphores = (dev->info().binary_semaphore.importable & kSyncFd) != 0;
    const bool fences = (dev->info().fence.importable & kSyncFd) != 0;
    if (semaphores && fences) GTEST_SKIP() << "this device imports sync FDs: a /dev/null fd would reach its driver";
    for (bool signalled : {false, true}) {
        if (!semaphores) {
            geyser::SyncHandle h = sync_handle(*dev, geyser::SyncPrimitive::kSemaphore, kSyncFd, false);
            if (signalled) {
                h.fd.reset();
                h.already_signaled = true;
            }
            expect_error<geyser::UnsupportedOperationError>([&] { dev->import_semaphore(h); }, "sync_fd");
        }
        if (!fences) {
            geyser::SyncHandle h = sync_handle(*dev, geyser::SyncPrimitive::kFence, kSyncFd, false);
            if (signalled) {
                h.fd.reset();
                h.already_signaled = true;
            }
            expect_error<geyser::UnsupportedOperationError>([&] { dev->import_fence(h); }, "sync_fd");
        }
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(MemoryHandleTypes, TypesOtherThanOpaqueFdAreRefusedBeforeTheDriver) {
    DEVICE_OR_SKIP(dev);
    auto texture = dev->create_shareable_texture(rgba8(8, 8));
    auto buffer = dev->create_shareable_buffer(4096);
    geyser::MemoryHandle texture_handle = dev->export_texture(*texture);
    geyser::MemoryHandle buffer_handle = dev->export_buffer(*buffer);
    EXPECT_EQ(texture_handle.handle_type, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    EXPECT_EQ(buffer_handle.handle_type, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    const size_t before = fd_count();
    const std::pair<VkExternalMemoryHandleTypeFlagBits, const char*> types[] = {
        {VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT, "dma_buf"},
        {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, "opaque_win32"},
    };
    for (const auto& [type, name] : types) {
        geyser::MemoryHandle t = texture_handle.duplicate();
        t.handle_type = type;
        expect_error<geyser::UnsupportedOperationError>([&] { dev->import_texture(t); }, name);
        geyser::MemoryHandle b = buffer_handle.duplicate();
        b.handle_type = type;
        expect_error<geyser::UnsupportedOperationError>([&] { dev->import_buffer(b); }, name);
    }
    EXPECT_EQ(fd_count(), before);
    // The originals still import.
    EXPECT_NO_THROW(dev->import_texture(texture_handle));
    EXPECT_NO_THROW(dev->import_buffer(buffer_handle));
}

// ---- The memory services behind those imports (cpp/src/vulkan/external_memory/fd.hpp)

TEST(MemoryServices, TheFactoryPicksEachBuiltTypesService) {
    const geyser::FdMemoryService& opaque = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    EXPECT_EQ(opaque.handle_type(), VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    EXPECT_STREQ(opaque.name(), "opaque_fd");
    EXPECT_STREQ(opaque.device_extension(), VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
    EXPECT_EQ(&geyser::default_memory_service(), &opaque);
    ASSERT_FALSE(geyser::memory_services().empty());
    for (const geyser::FdMemoryService* service : geyser::memory_services()) {
        EXPECT_EQ(&geyser::memory_service(service->handle_type()), service) << service->name();
    }
}

TEST(MemoryServices, ATypeWithoutAServiceIsRefusedByName) {
    expect_error<geyser::UnsupportedOperationError>(
        [] { geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT); }, "dma_buf");
    expect_error<geyser::UnsupportedOperationError>(
        [] { geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT); }, "opaque_win32");
    expect_error<geyser::UnsupportedOperationError>(
        [] { geyser::memory_service(static_cast<VkExternalMemoryHandleTypeFlagBits>(0x3)); }, "0x3");
}

TEST(MemoryServices, BufferSupportIsWhatTheDeviceReports) {
    DEVICE_OR_SKIP(dev);
    const geyser::FdMemoryService& service = geyser::default_memory_service();
    const auto& reported = dev->info().buffer_memory;
    const bool both = (reported.exportable & reported.importable & service.handle_type()) != 0;
    EXPECT_EQ(service.supports_buffers(dev->vk_physical_device(),
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT),
              both);
}

TEST(MemoryServices, TheOpaqueFdServiceRefusesAFileItsDeviceDoesNotExport) {
    DEVICE_OR_SKIP(dev);
    if (!(dev->info().buffer_memory.exportable & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << "this device exports no opaque-FD memory to compare with";
    }
    const geyser::FdMemoryService& service = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    auto buffer = dev->create_shareable_buffer(4096);
    geyser::MemoryHandle exported = dev->export_buffer(*buffer);
    EXPECT_NO_THROW(service.check_fd(*dev, exported.fd.get(), exported.size));
    const size_t before = fd_count();
    geyser::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    expect_error<geyser::InvalidHandleError>([&] { service.check_fd(*dev, null_fd.get(), exported.size); }, "not exported by");
    null_fd.reset();
    EXPECT_EQ(fd_count(), before);
}

// A memfd of the attacker's with `bytes` in it (issue #14: made from what a holder of a real
// export can read), sealed against shrinking and growing unless `sealed` is false.
geyser::UniqueFd hostile_memfd(const std::vector<uint8_t>& bytes, bool sealed) {
    geyser::UniqueFd fd(::memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    if (sealed) EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    return fd;
}

bool is_memfd(int fd) {
    char link[256] = {};
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    return ::readlink(proc.c_str(), link, sizeof(link) - 1) > 0 && std::strncmp(link, "/memfd:", 7) == 0;
}

TEST(MemoryServices, TheOpaqueFdServiceRefusesAMemfdThatIsNotWhatTheDriverExports) {
    DEVICE_OR_SKIP(dev);
    if (!(dev->info().buffer_memory.exportable & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        GTEST_SKIP() << "this device exports no opaque-FD memory to compare with";
    }
    auto buffer = dev->create_shareable_buffer(16384);
    geyser::MemoryHandle exported = dev->export_buffer(*buffer);
    if (!is_memfd(exported.fd.get())) GTEST_SKIP() << "this driver's memory fds are no memfds: no file to check";
    const geyser::FdMemoryService& service = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    struct stat st {};
    ASSERT_EQ(::fstat(exported.fd.get(), &st), 0);
    std::vector<uint8_t> file(static_cast<size_t>(st.st_size));
    ASSERT_EQ(::pread(exported.fd.get(), file.data(), file.size(), 0), st.st_size);
    const size_t before = fd_count();
    {
        // The whole file, sealed: what the driver exports, so it passes.
        EXPECT_NO_THROW(service.check_fd(*dev, hostile_memfd(file, true).get(), exported.size));
        std::vector<uint8_t> shorter(file.begin(), file.begin() + 4096);
        expect_error<geyser::InvalidHandleError>(
            [&] { service.check_fd(*dev, hostile_memfd(shorter, true).get(), exported.size); }, "die of SIGBUS");
        expect_error<geyser::InvalidHandleError>(
            [&] { service.check_fd(*dev, hostile_memfd(file, false).get(), exported.size); },
            "not sealed against shrinking");
        // Described as another allocation than the file is.
        expect_error<geyser::InvalidHandleError>(
            [&] { service.check_fd(*dev, hostile_memfd(file, true).get(), exported.size * 2); }, "bytes is");
        if (std::string(dev->info().name).find("llvmpipe") != std::string::npos) {
            std::vector<uint8_t> forged = file;
            const uint64_t offset = uint64_t{1} << 40;
            std::memcpy(forged.data() + 8, &offset, sizeof(offset));  // Mesa's data offset
            expect_error<geyser::InvalidHandleError>(
                [&] { service.check_fd(*dev, hostile_memfd(forged, true).get(), exported.size); },
                "puts the data at offset 1099511627776");
        }
    }
    EXPECT_EQ(fd_count(), before);
}

TEST(MemoryServices, ExportedMemoryWhoseDriverHeaderWasRewrittenIsRepaired) {
    DEVICE_OR_SKIP(dev);
    if (std::string(dev->info().name).find("llvmpipe") == std::string::npos) {
        GTEST_SKIP() << "only Mesa keeps a header in the file of its memory";
    }
    auto buffer = dev->create_shareable_buffer(4096);
    geyser::MemoryHandle exported = dev->export_buffer(*buffer);
    const geyser::FdMemoryService& service = geyser::memory_service(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
    EXPECT_FALSE(dev->repair_memory_file(exported.fd.get(), exported.size));
    const uint64_t offset = uint64_t{1} << 40;
    ASSERT_EQ(::pwrite(exported.fd.get(), &offset, sizeof(offset), 8), 8);  // what a subscriber can do
    expect_error<geyser::InvalidHandleError>([&] { service.check_fd(*dev, exported.fd.get(), exported.size); },
                                             "puts the data at offset");
    EXPECT_TRUE(dev->repair_memory_file(exported.fd.get(), exported.size));
    EXPECT_NO_THROW(service.check_fd(*dev, exported.fd.get(), exported.size));
    EXPECT_FALSE(dev->repair_memory_file(exported.fd.get(), exported.size));
    std::vector<uint8_t> bytes(4096, 0x5a);
    buffer->write(bytes.data(), bytes.size(), 0);
}

// ---- The semaphore and fence services (cpp/src/vulkan/external_sync/fd.hpp)

TEST(SyncServices, TheFactoryPicksEachBuiltTypesService) {
    const geyser::FdSyncService& opaque = geyser::sync_service(kOpaqueFd);
    EXPECT_STREQ(opaque.name(), "opaque_fd");
    EXPECT_EQ(opaque.fence_handle_type(), static_cast<uint32_t>(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT));
    EXPECT_TRUE(opaque.permanent_import());
    EXPECT_TRUE(opaque.carries_timelines());
    EXPECT_FALSE(opaque.may_be_signaled_without_handle());
    EXPECT_STREQ(opaque.device_extension(geyser::SyncPrimitive::kSemaphore),
                 VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
    EXPECT_STREQ(opaque.device_extension(geyser::SyncPrimitive::kFence), VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME);
    EXPECT_EQ(&geyser::default_sync_service(), &opaque);

    const geyser::FdSyncService& sync = geyser::sync_service(kSyncFd);
    EXPECT_STREQ(sync.name(), "sync_fd");
    // A fence's SYNC_FD bit is not a semaphore's.
    EXPECT_EQ(sync.fence_handle_type(), static_cast<uint32_t>(VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT));
    EXPECT_FALSE(sync.permanent_import());
    EXPECT_FALSE(sync.carries_timelines());
    EXPECT_TRUE(sync.may_be_signaled_without_handle());

    for (const geyser::FdSyncService* service : geyser::sync_services()) {
        EXPECT_EQ(geyser::find_sync_service(service->handle_type()), service) << service->name();
    }
    EXPECT_EQ(geyser::find_sync_service(kOpaqueWin32), nullptr);
    EXPECT_EQ(geyser::find_sync_service(0), nullptr);
    expect_error<geyser::UnsupportedOperationError>([] { geyser::sync_service(kOpaqueWin32); }, "opaque_win32");
}

TEST(SyncServices, TheOpaqueFdServiceRefusesAFileItsDeviceDoesNotExport) {
    DEVICE_OR_SKIP(dev);
    const auto& info = dev->info();
    if (!(info.binary_semaphore.exportable & kOpaqueFd) && !(info.timeline_semaphore.exportable & kOpaqueFd)) {
        GTEST_SKIP() << "this device exports no opaque-FD semaphores to compare with";
    }
    const size_t before = fd_count();
    geyser::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    expect_error<geyser::InvalidHandleError>(
        [&] { geyser::sync_service(kOpaqueFd).check_fd(*dev, geyser::SyncPrimitive::kSemaphore, null_fd.get()); },
        "not exported by");
    null_fd.reset();
    EXPECT_EQ(fd_count(), before);
}
