// The GPUs this process can use, as Vulkan and CUDA each number them, and which CUDA devices can
// reach each other's memory directly (peer access, over NVLink or PCIe).
//
// Vulkan and CUDA number GPUs independently: Vulkan in the loader's order, CUDA in its own order
// filtered and permuted by CUDA_VISIBLE_DEVICES. The only identity both share is the device UUID
// (VkPhysicalDeviceIDProperties::deviceUUID equals cuDeviceGetUuid and nvidia-smi's GPU UUID), so
// every match here is by UUID, never by position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/types.hpp"

namespace geyser {

/// One CUDA device visible to this process. Plain data.
struct CudaDeviceEntry {
    int ordinal = -1;       ///< CUDA's ordinal under the current CUDA_VISIBLE_DEVICES (torch's cuda:N).
    std::string name;
    Uuid uuid{};
    int vulkan_index = -1;  ///< DeviceInfo::index of the Vulkan device with this UUID; -1 when none.
};

/// One Vulkan physical device and, where CUDA sees the same GPU, its CUDA ordinal. Plain data.
struct GpuEntry {
    DeviceInfo vulkan;
    int cuda_ordinal = -1;    ///< -1 when CUDA does not see this GPU (cuda_reason says why).
    std::string cuda_reason;  ///< Empty when cuda_ordinal >= 0.
};

/// What gpu_topology() reports. Plain data; safe to copy.
struct GpuTopology {
    std::vector<GpuEntry> gpus;  ///< Every Vulkan physical device, in the loader's order.
    bool cuda_available = false;
    std::string cuda_reason;     ///< Why CUDA cannot be used; empty when it can.
    int cuda_driver_version = 0;
    /// The CUDA_VISIBLE_DEVICES this process started CUDA under, and whether it was set at all
    /// (CUDA reads it once, at cuInit).
    bool cuda_visible_devices_set = false;
    std::string cuda_visible_devices;
    std::vector<CudaDeviceEntry> cuda_devices;  ///< By CUDA ordinal.
    /// peer_access[i][j]: cuDeviceCanAccessPeer(i, j), CUDA device i can read and write device
    /// j's memory directly. The diagonal is false: a device needs no peer access to itself.
    std::vector<std::vector<bool>> peer_access;
};

/// Lists this process's GPUs. Throws VulkanUnavailableError when there is no Vulkan loader or
/// driver; without CUDA it still lists every Vulkan device, with the reason. Thread-safe.
GpuTopology gpu_topology();

/// The UUID of CUDA device `ordinal` (under this process's CUDA_VISIBLE_DEVICES). Throws
/// UnsupportedOperationError with the reason when CUDA cannot be used here, InvalidArgumentError
/// when no CUDA device has that ordinal (naming how many are visible and CUDA_VISIBLE_DEVICES).
Uuid cuda_device_uuid(int ordinal);

}  // namespace geyser
