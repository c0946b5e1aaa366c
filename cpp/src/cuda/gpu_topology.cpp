// The GPUs this process can use: Vulkan physical devices matched to CUDA ordinals by UUID, and
// the CUDA peer-access matrix.
#include "geyser/gpu_topology.hpp"

#include <cstdlib>
#include <cstring>

#include "cuda/cuda_api.hpp"
#include "geyser/cuda.hpp"
#include "geyser/error.hpp"

namespace geyser {

using namespace cuda::api;

namespace {

Uuid to_uuid(const CUuuid& u) {
    Uuid out{};
    std::memcpy(out.data(), u.bytes, out.size());
    return out;
}

std::string visible_devices_text() {
    const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
    if (v == nullptr) return "CUDA_VISIBLE_DEVICES is not set";
    return std::string("CUDA_VISIBLE_DEVICES='") + v + "'";
}

}  // namespace

Uuid cuda_device_uuid(int ordinal) {
    const cuda::CudaStatus status = cuda::cuda_status();
    if (!status.available) {
        throw UnsupportedOperationError("CUDA device " + std::to_string(ordinal) +
                                        " was asked for, but CUDA cannot be used in this process: " + status.reason);
    }
    const Driver& d = require_driver();
    int count = 0;
    check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (ordinal < 0 || ordinal >= count) {
        throw InvalidArgumentError("there is no CUDA device " + std::to_string(ordinal) + ": " + std::to_string(count) +
                                   " CUDA device(s) visible (" + visible_devices_text() + ")");
    }
    CUdevice dev = 0;
    check(d.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
    CUuuid u{};
    check(d.cuDeviceGetUuid(&u, dev), "cuDeviceGetUuid");
    return to_uuid(u);
}

GpuTopology gpu_topology() {
    GpuTopology t;
    for (DeviceInfo& info : enumerate_devices()) t.gpus.push_back(GpuEntry{std::move(info), -1, {}});
    const cuda::CudaStatus status = cuda::cuda_status();
    t.cuda_available = status.available;
    t.cuda_reason = status.reason;
    t.cuda_driver_version = status.driver_version;
    if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) {
        t.cuda_visible_devices_set = true;
        t.cuda_visible_devices = v;
    }
    if (!status.available) {
        for (GpuEntry& g : t.gpus) g.cuda_reason = "CUDA cannot be used in this process: " + status.reason;
        return t;
    }
    const Driver& d = require_driver();
    int count = 0;
    check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
    std::vector<CUdevice> handles;
    for (int i = 0; i < count; ++i) {
        CUdevice dev = 0;
        check(d.cuDeviceGet(&dev, i), "cuDeviceGet");
        CUuuid u{};
        check(d.cuDeviceGetUuid(&u, dev), "cuDeviceGetUuid");
        char name[256] = {};
        check(d.cuDeviceGetName(name, sizeof name - 1, dev), "cuDeviceGetName");
        CudaDeviceEntry e;
        e.ordinal = i;
        e.name = name;
        e.uuid = to_uuid(u);
        for (GpuEntry& g : t.gpus) {
            if (g.vulkan.device_uuid == e.uuid) {
                e.vulkan_index = static_cast<int>(g.vulkan.index);
                g.cuda_ordinal = i;
            }
        }
        t.cuda_devices.push_back(std::move(e));
        handles.push_back(dev);
    }
    for (GpuEntry& g : t.gpus) {
        if (g.cuda_ordinal >= 0) continue;
        g.cuda_reason = t.cuda_visible_devices_set
                            ? "no CUDA device has this UUID: hidden by " + visible_devices_text() + ", or not an NVIDIA GPU"
                            : "no CUDA device has this UUID (not a GPU the CUDA driver runs)";
    }
    t.peer_access.assign(count, std::vector<bool>(count, false));
    for (int i = 0; i < count; ++i) {
        for (int j = 0; j < count; ++j) {
            if (i == j) continue;
            int can = 0;
            check(d.cuDeviceCanAccessPeer(&can, handles[i], handles[j]), "cuDeviceCanAccessPeer");
            t.peer_access[i][j] = can != 0;
        }
    }
    return t;
}

}  // namespace geyser
