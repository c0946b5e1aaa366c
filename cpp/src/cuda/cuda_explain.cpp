// explain_cuda (geyser/explain.hpp): the CUDA side of `doctor`, next to the CUDA driver it asks.
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/cuda_api.hpp"
#include "geyser/cuda.hpp"
#include "geyser/explain.hpp"
#include "geyser/error.hpp"
#include "geyser/gpu_topology.hpp"

namespace geyser {

Explanation explain_cuda(const Device& device) {
    Explanation e;
    e.subject = "CUDA for device '" + device.info().name + "'";
    const cuda::CudaStatus status = cuda::cuda_status();
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    const std::string visible_text =
        visible ? std::string(" (CUDA_VISIBLE_DEVICES=\"") + visible + "\")" : std::string();
    if (!status.available) {
        e.reasons.push_back({"cuda_unavailable", true,
                             "CUDA cannot be used in this process" + visible_text + ": " + status.reason,
                             visible ? "CUDA_VISIBLE_DEVICES may hide every GPU: include this one (GPU-" +
                                           uuid_to_hex(device.info().device_uuid) + ", or its index)"
                                     : "install the NVIDIA driver (libcuda.so.1); in a container, expose the GPU to it"});
        return e;
    }
    const cuda::api::Driver* d = cuda::api::driver();
    int count = 0;
    std::string seen;
    if (d != nullptr && d->cuDeviceGetCount(&count) == cuda::api::CUDA_SUCCESS) {
        for (int i = 0; i < count; ++i) {
            cuda::api::CUdevice dev = 0;
            cuda::api::CUuuid u{};
            if (d->cuDeviceGet(&dev, i) != cuda::api::CUDA_SUCCESS ||
                d->cuDeviceGetUuid(&u, dev) != cuda::api::CUDA_SUCCESS) {
                continue;
            }
            Uuid uuid{};
            std::memcpy(uuid.data(), u.bytes, uuid.size());
            if (uuid == device.info().device_uuid) {
                char name[256] = {};
                d->cuDeviceGetName(name, sizeof name - 1, dev);
                e.cuda_ordinal = i;
                e.reasons.push_back({"cuda_device", false,
                                     "CUDA device " + std::to_string(i) + " ('" + name + "') is this Vulkan device" +
                                         visible_text,
                                     ""});
                return e;
            }
            seen += (seen.empty() ? "" : ", ") + std::to_string(i) + ": " + uuid_to_hex(uuid);
        }
    }
    e.reasons.push_back(
        {"cuda_not_visible", true,
         "no visible CUDA device has the Vulkan device UUID " + uuid_to_hex(device.info().device_uuid) + " of '" +
             device.info().name + "'" + visible_text + "; CUDA sees " + std::to_string(count) + " device(s)" +
             (seen.empty() ? std::string() : " (" + seen + ")"),
         visible ? "include that GPU in CUDA_VISIBLE_DEVICES (its UUID: GPU-" + uuid_to_hex(device.info().device_uuid) + ")"
                 : "use the Vulkan device of a GPU CUDA sees (CPU drivers such as lavapipe have no CUDA device)"});
    return e;
}

Explanation explain_peer_copy(const Device& consumer, const DeviceInfo& producer) {
    Explanation e;
    e.subject = "peer copy from device '" + producer.name + "' to device '" + consumer.info().name + "'";
    const Explanation here = explain_cuda(consumer);
    for (const auto& r : here.reasons) {
        if (r.blocking) e.reasons.push_back(r);
    }
    if (!e.zero_copy()) return e;
    try {
        const GpuTopology t = gpu_topology();
        int from = -1, to = -1;
        for (const auto& c : t.cuda_devices) {
            if (c.uuid == producer.device_uuid) from = c.ordinal;
            if (c.uuid == consumer.info().device_uuid) to = c.ordinal;
        }
        if (from < 0) {
            e.reasons.push_back({"cuda_not_visible", true,
                                 "no visible CUDA device has the producer's device UUID " +
                                     uuid_to_hex(producer.device_uuid),
                                 "include that GPU in CUDA_VISIBLE_DEVICES of the producer"});
            return e;
        }
        const char* path = from == to ? "same_device"
                           : t.peer_access.at(static_cast<size_t>(from)).at(static_cast<size_t>(to)) ? "peer"
                                                                                                     : "host_staging";
        e.reasons.push_back({"peer_copy", false,
                             "a producer on CUDA device " + std::to_string(from) + " can copy frames to CUDA device " +
                                 std::to_string(to) + " by " + path +
                                 " (if it sees both GPUs and its device exports timeline semaphores)",
                             ""});
    } catch (const Error& err) {
        e.reasons.push_back({"cuda_unavailable", true, std::string("the GPU topology cannot be read: ") + err.what(), ""});
    }
    return e;
}

}  // namespace geyser
