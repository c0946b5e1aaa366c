// The GPU listing (Vulkan devices matched to CUDA ordinals by UUID, the peer-access matrix) and
// the "cuda:N" device selector. Runs everywhere: without CUDA it checks the reasons and errors.
#include <gtest/gtest.h>

#include <string>

#include "geyser/cuda.hpp"
#include "geyser/geyser.hpp"

namespace {

bool has_vulkan(std::string& why) {
    try {
        (void)geyser::enumerate_devices();
        return true;
    } catch (const geyser::VulkanUnavailableError& e) {
        why = e.what();
        return false;
    }
}

#define VULKAN_OR_SKIP()                         \
    std::string why_;                            \
    if (!has_vulkan(why_)) GTEST_SKIP() << why_

TEST(GpuTopology, ListsEveryVulkanDeviceMatchedByUuid) {
    VULKAN_OR_SKIP();
    const auto infos = geyser::enumerate_devices();
    const geyser::GpuTopology t = geyser::gpu_topology();
    ASSERT_EQ(t.gpus.size(), infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
        EXPECT_EQ(t.gpus[i].vulkan.device_uuid, infos[i].device_uuid);
        EXPECT_EQ(t.gpus[i].vulkan.index, infos[i].index);
    }
    const geyser::cuda::CudaStatus status = geyser::cuda::cuda_status();
    EXPECT_EQ(t.cuda_available, status.available);
    if (!t.cuda_available) {
        EXPECT_EQ(t.cuda_reason, status.reason);
        EXPECT_TRUE(t.cuda_devices.empty());
        EXPECT_TRUE(t.peer_access.empty());
        for (const auto& g : t.gpus) {
            EXPECT_EQ(g.cuda_ordinal, -1);
            EXPECT_NE(g.cuda_reason.find("CUDA cannot be used"), std::string::npos) << g.cuda_reason;
            EXPECT_NE(g.cuda_reason.find(status.reason), std::string::npos) << g.cuda_reason;
        }
        return;
    }
    EXPECT_EQ(static_cast<int>(t.cuda_devices.size()), status.device_count);
    ASSERT_EQ(t.peer_access.size(), t.cuda_devices.size());
    for (size_t i = 0; i < t.cuda_devices.size(); ++i) {
        const auto& c = t.cuda_devices[i];
        EXPECT_EQ(c.ordinal, static_cast<int>(i));
        EXPECT_EQ(c.uuid, geyser::cuda_device_uuid(c.ordinal));
        ASSERT_EQ(t.peer_access[i].size(), t.cuda_devices.size());
        EXPECT_FALSE(t.peer_access[i][i]) << "the diagonal is false";
        if (c.vulkan_index >= 0) {
            EXPECT_EQ(t.gpus[c.vulkan_index].vulkan.device_uuid, c.uuid);
            EXPECT_EQ(t.gpus[c.vulkan_index].cuda_ordinal, c.ordinal);
        }
    }
    for (const auto& g : t.gpus) {
        if (g.cuda_ordinal >= 0) {
            EXPECT_TRUE(g.cuda_reason.empty());
            EXPECT_EQ(t.cuda_devices[g.cuda_ordinal].uuid, g.vulkan.device_uuid);
        } else {
            EXPECT_FALSE(g.cuda_reason.empty());
        }
    }
}

TEST(GpuTopology, CudaSelectorOpensTheGpuWithThatUuidOrSaysWhyNot) {
    VULKAN_OR_SKIP();
    const geyser::cuda::CudaStatus status = geyser::cuda::cuda_status();
    if (!status.available) {
        try {
            (void)geyser::Device::open("cuda:0");
            FAIL() << "cuda:0 opened without CUDA";
        } catch (const geyser::UnsupportedOperationError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("CUDA device 0"), std::string::npos) << what;
            EXPECT_NE(what.find(status.reason), std::string::npos) << what;
        }
        EXPECT_THROW((void)geyser::cuda_device_uuid(0), geyser::UnsupportedOperationError);
        return;
    }
    const geyser::GpuTopology t = geyser::gpu_topology();
    for (const auto& c : t.cuda_devices) {
        const std::string sel = "cuda:" + std::to_string(c.ordinal);
        if (c.vulkan_index < 0) {
            EXPECT_THROW((void)geyser::Device::open(sel), geyser::VulkanUnavailableError) << sel;
            continue;
        }
        auto d = geyser::Device::open(sel);
        EXPECT_EQ(d->info().device_uuid, c.uuid) << sel;
        EXPECT_EQ(geyser::Device::open("CUDA:" + std::to_string(c.ordinal))->info().device_uuid, c.uuid);
    }
    try {
        (void)geyser::Device::open("cuda:" + std::to_string(status.device_count));
        FAIL() << "an ordinal past the last CUDA device opened";
    } catch (const geyser::InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("CUDA_VISIBLE_DEVICES"), std::string::npos) << e.what();
    }
}

TEST(GpuTopology, MalformedCudaSelectorsAreRefusedBeforeCuda) {
    VULKAN_OR_SKIP();
    for (const char* sel : {"cuda", "cuda:", "cuda:x", "cuda:-1", "cuda0", "cuda:1:2", "cuda: 1", "cuda:99999999999"}) {
        try {
            (void)geyser::Device::open(sel);
            FAIL() << "'" << sel << "' opened a device";
        } catch (const geyser::InvalidArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("cuda:N"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
