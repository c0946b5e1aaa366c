// A child forked after its parent opened Vulkan: what Geyser lets it do on each driver, and that
// the parent can still open devices afterwards (on NVIDIA, a child that called into the driver
// once left the parent's next vkCreateDevice blocked: docs/hardware.md, runs 37-42).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "geyser/geyser.hpp"
#include "device_support.hpp"
#include "support.hpp"
#include "vulkan/fork_policy.hpp"

namespace {

using geyser::testing_support::rgba8;
using geyser::testing_support::wait_child;

// Exit codes of the forked child.
constexpr int kOpened = 0;
constexpr int kRefusedWithAdvice = 1;
constexpr int kRefusedWithoutAdvice = 2;
constexpr int kOtherError = 3;

int child_opens_a_device(const std::string& uuid) {
    try {
        auto dev = geyser::Device::open(uuid);
        auto tex = dev->create_shareable_texture(rgba8(8, 8));
        return tex ? kOpened : kOtherError;
    } catch (const geyser::VulkanUnavailableError& e) {
        const std::string what = e.what();
        std::fprintf(stderr, "child: %s\n", e.what());
        return what.find("forked") != std::string::npos && what.find("'spawn'") != std::string::npos
                   ? kRefusedWithAdvice
                   : kRefusedWithoutAdvice;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        return kOtherError;
    }
}

// The child's exit code, or -1 if it did not exit within `limit` (it is then killed).
int run_child(const std::string& uuid, std::chrono::seconds limit) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(child_opens_a_device(uuid));
    return wait_child(pid, limit);
}

// Whether Geyser refuses Vulkan in forked children on this machine: when any driver the loader
// found is listed, since the loader would load every driver there.
bool children_refused() {
    for (const auto& info : geyser::enumerate_devices()) {
        if (geyser::driver_refuses_forked_children(static_cast<int32_t>(info.driver_id))) return true;
    }
    return false;
}

}  // namespace

TEST(Fork, ChildOfAProcessWithVulkanThenTheParentOpensAgain) {
    DEVICE_OR_SKIP(dev);
    const std::string uuid = geyser::uuid_to_hex(dev->info().device_uuid);
    const bool refuses = children_refused();
    const auto started = std::chrono::steady_clock::now();
    const int code = run_child(uuid, std::chrono::seconds(30));
    const auto took = std::chrono::steady_clock::now() - started;
    if (refuses) {
        EXPECT_EQ(code, kRefusedWithAdvice) << dev->info().driver_name << " must be refused, with the advice";
        // Refused before any driver call: no device creation was attempted in the child.
        EXPECT_LT(took, std::chrono::seconds(5));
    } else {
        EXPECT_EQ(code, kOpened) << dev->info().driver_name << " opens devices in forked children";
    }
    // The parent is unharmed: further devices open, and share memory with the first.
    for (int i = 0; i < 3; ++i) {
        auto again = geyser::Device::open(uuid);
        auto tex = dev->create_shareable_texture(rgba8(16, 4));
        std::vector<uint8_t> data(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
        for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 7 + i);
        tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
        auto imported = again->import_texture(dev->export_texture(*tex));
        std::vector<uint8_t> back(data.size());
        imported->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        EXPECT_EQ(back, data);
    }
}

TEST(Fork, ChildOfAChildIsRefusedToo) {
    DEVICE_OR_SKIP(dev);
    const std::string uuid = geyser::uuid_to_hex(dev->info().device_uuid);
    if (!children_refused()) {
        GTEST_SKIP() << "no Vulkan driver here is refused in forked children (fork_policy.hpp); nothing to refuse";
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        // The child is refused, and so is its own fork: the parent's driver list is inherited.
        if (child_opens_a_device(uuid) != kRefusedWithAdvice) ::_exit(10);
        ::_exit(run_child(uuid, std::chrono::seconds(10)));
    }
    EXPECT_EQ(wait_child(pid, std::chrono::seconds(30)), kRefusedWithAdvice);
}

TEST(Fork, PolicyListsTheMeasuredDriversOnly) {
    // Measured: NVIDIA's proprietary driver refuses and can harm the parent; lavapipe works.
    EXPECT_TRUE(geyser::driver_refuses_forked_children(VK_DRIVER_ID_NVIDIA_PROPRIETARY));
    EXPECT_FALSE(geyser::driver_refuses_forked_children(VK_DRIVER_ID_MESA_LLVMPIPE));
    EXPECT_FALSE(geyser::driver_refuses_forked_children(0));
}

TEST(Fork, InheritedObjectsRefuseAndAreLeftToTheParent) {
    DEVICE_OR_SKIP(dev);
    auto tex = dev->create_shareable_texture(rgba8(16, 4));
    std::vector<uint8_t> data(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 5 + 1);
    tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
    auto buf = dev->create_shareable_buffer(256);
    auto fence = dev->create_fence(false);
    auto sem = dev->info().timeline_semaphores ? dev->create_semaphore(geyser::SemaphoreType::kTimeline, 1)
                                               : nullptr;
    auto tex2 = dev->create_shareable_texture(rgba8(16, 4));
    geyser::MemoryHandle tex_handle = dev->export_texture(*tex);
    geyser::MemoryHandle buf_handle = dev->export_buffer(*buf);
    auto timeline = dev->create_shared_timeline(geyser::TimelineChoice::kPortable, 1);
    geyser::TimelineHandle timeline_handle = dev->export_timeline(*timeline);
    tex->set_timeline(timeline);
    auto vk_timeline = dev->info().timeline_semaphores ? dev->create_timeline(geyser::TimelineChoice::kVulkan, 1)
                                                       : nullptr;
    ASSERT_FALSE(dev->inherited_across_fork());

    const pid_t pid = ::fork();
    if (pid == 0) {
        // Exit code: the number of operations that did not throw UnsupportedOperationError naming
        // fork(), or 100 if an inherited object did not report itself as inherited.
        if (!dev->inherited_across_fork()) ::_exit(100);
        int wrong = 0;
        const size_t fds_before = geyser::testing_support::fd_count();
        auto refused = [&](const std::function<void()>& op) {
            try {
                op();
                ++wrong;
            } catch (const geyser::UnsupportedOperationError& e) {
                if (std::string(e.what()).find("fork()") == std::string::npos) ++wrong;
            } catch (...) {
                ++wrong;
            }
        };
        std::vector<uint8_t> back(data.size());
        refused([&] { tex->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size()); });
        refused([&] { tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size()); });
        refused([&] { dev->export_texture(*tex); });
        refused([&] { dev->create_shareable_texture(rgba8(4, 4)); });
        refused([&] { buf->write(back.data(), 16); });
        refused([&] { buf->read(back.data(), 16); });
        refused([&] { dev->export_buffer(*buf); });
        refused([&] { dev->create_fence(); });
        refused([&] { fence->wait(std::chrono::nanoseconds(0)); });
        refused([&] { fence->reset(); });
        refused([&] { dev->format_support(geyser::TextureFormat::kRgba8Unorm, geyser::kTextureUsageTextureBinding); });
        refused([&] { (void)fence->signaled(); });
        refused([&] { dev->import_texture(tex_handle); });
        refused([&] { dev->import_buffer(buf_handle); });
        refused([&] { dev->copy_texture(*tex, *tex2, {}); });
        refused([&] { dev->copy_buffer_to_texture(*buf, *tex2, VK_IMAGE_ASPECT_COLOR_BIT, 0, {}); });
        refused([&] { (void)dev->heap_usage(); });
        refused([&] { dev->check_opaque_fd(tex_handle.fd.get(), geyser::Device::FdFamily::kMemory); });
        refused([&] { dev->create_semaphore(geyser::SemaphoreType::kBinary, 0); });
        // The access protocol refuses before it looks at the command buffer (a null one would
        // otherwise be InvalidArgumentError).
        refused([&] {
            tex->begin_access(VK_NULL_HANDLE, VK_IMAGE_LAYOUT_GENERAL, VK_PIPELINE_STAGE_TRANSFER_BIT, 0);
        });
        refused([&] { tex->end_access(VK_NULL_HANDLE, VK_IMAGE_LAYOUT_GENERAL, VK_PIPELINE_STAGE_TRANSFER_BIT, 0); });
        refused([&] { buf->begin_access(VK_NULL_HANDLE, VK_PIPELINE_STAGE_TRANSFER_BIT, 0); });
        refused([&] { buf->end_access(VK_NULL_HANDLE, VK_PIPELINE_STAGE_TRANSFER_BIT, 0); });
        if (sem) {
            refused([&] { sem->signal(2); });
            refused([&] { (void)sem->value(); });
            refused([&] { sem->wait(1, std::chrono::nanoseconds(0)); });
        }
        for (const auto& t : {timeline, vk_timeline}) {
            if (!t) continue;
            refused([&] { (void)t->value(); });
            refused([&] { t->signal(2); });
            refused([&] { t->wait(1, std::chrono::nanoseconds(0)); });
            refused([&] { t->mark_abandoned(); });
            refused([&] { (void)t->abandoned(); });
            refused([&] { dev->export_timeline(*t); });
        }
        refused([&] { dev->create_shared_timeline(); });
        refused([&] { dev->create_timeline(); });
        refused([&] { dev->import_timeline(timeline_handle); });
        refused([&] { dev->signal_texture_ready(*tex, 2); });
        refused([&] { dev->wait_for_texture(*tex, 1, std::chrono::nanoseconds(0)); });
        {
            geyser::SubmitSync sync;
            sync.signal.push_back({timeline.get(), 2});
            refused([&] { tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size(), sync); });
        }
        // A refusal opens no fd (the import refusals come before the fd is duplicated).
        if (geyser::testing_support::fd_count() != fds_before) ++wrong;
        // Dropping them frees nothing of the parent's.
        tex.reset();
        tex2.reset();
        buf.reset();
        fence.reset();
        sem.reset();
        timeline.reset();
        vk_timeline.reset();
        dev.reset();
        ::_exit(wrong);
    }
    EXPECT_EQ(wait_child(pid, std::chrono::seconds(30)), 0)
        << "operations on inherited objects that were not refused (or the child died or hung)";
    // The parent's objects are intact (a real check on NVIDIA, where a child's frees would reach
    // the parent's memory; lavapipe's child frees only its copy-on-write copy).
    std::vector<uint8_t> back(data.size());
    tex->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
    EXPECT_EQ(back, data);
    buf->write(data.data(), 16);
    EXPECT_FALSE(fence->signaled());
    if (sem) {
        sem->signal(2);
        EXPECT_EQ(sem->value(), 2u);
    }
    EXPECT_EQ(timeline->value(), 1u) << "the child moved the parent's timeline";
    EXPECT_FALSE(timeline->abandoned());
    timeline->signal(2);
    EXPECT_EQ(dev->import_timeline(timeline_handle)->value(), 2u);
    if (vk_timeline) {
        vk_timeline->signal(2);
        EXPECT_EQ(vk_timeline->value(), 2u);
    }
}
