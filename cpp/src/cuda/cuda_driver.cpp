// Loads the CUDA driver API (libcuda.so.1) at run time and answers whether it can be used.
#include <dlfcn.h>

#include <mutex>

#include "cuda/cuda_api.hpp"
#include "geyser/cuda.hpp"
#include "geyser/error.hpp"
#include "vulkan/instance.hpp"

namespace geyser::cuda {
namespace api {
namespace {

struct Loaded {
    Driver driver{};
    bool ok = false;
    CudaStatus status;
    uint64_t fork_generation = 0;  // of the process that loaded (and cuInit'ed) the driver
};

// CUDA cannot be used in a child forked after its parent initialised it (NVIDIA's CUDA
// documentation); the child also holds the parent's contexts and pointers, which are not its own.
const char* kForkedReason =
    "this process is a fork() child of a process that had initialised CUDA, and CUDA cannot be used in such a "
    "child. Start worker processes with the 'spawn' or 'forkserver' method";

bool forked_since(const Loaded& l) noexcept { return l.fork_generation != fork_generation(); }

template <typename Fn>
bool load(void* lib, Fn& slot, const char* name, std::string& missing) {
    slot = reinterpret_cast<Fn>(::dlsym(lib, name));
    if (slot == nullptr) missing += missing.empty() ? name : std::string(", ") + name;
    return slot != nullptr;
}

Loaded load_driver() {
    Loaded l;
    l.fork_generation = fork_generation();
    // Never dlclose'd: CUDA objects may be destroyed at any point until the process exits.
    void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* why = ::dlerror();
        l.status.reason = std::string("the CUDA driver library libcuda.so.1 could not be loaded (") +
                          (why ? why : "unknown reason") + "); install the NVIDIA driver to use CUDA interop";
        return l;
    }
    Driver& d = l.driver;
    std::string missing;
    load(lib, d.cuInit, "cuInit", missing);
    load(lib, d.cuDriverGetVersion, "cuDriverGetVersion", missing);
    load(lib, d.cuGetErrorName, "cuGetErrorName", missing);
    load(lib, d.cuGetErrorString, "cuGetErrorString", missing);
    load(lib, d.cuDeviceGetCount, "cuDeviceGetCount", missing);
    load(lib, d.cuDeviceGet, "cuDeviceGet", missing);
    load(lib, d.cuDeviceGetName, "cuDeviceGetName", missing);
    load(lib, d.cuDeviceGetUuid, "cuDeviceGetUuid_v2", missing);
    load(lib, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", missing);
    load(lib, d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", missing);
    load(lib, d.cuCtxPushCurrent, "cuCtxPushCurrent_v2", missing);
    load(lib, d.cuCtxPopCurrent, "cuCtxPopCurrent_v2", missing);
    load(lib, d.cuCtxGetCurrent, "cuCtxGetCurrent", missing);
    load(lib, d.cuStreamSynchronize, "cuStreamSynchronize", missing);
    load(lib, d.cuStreamGetCtx, "cuStreamGetCtx", missing);
    load(lib, d.cuImportExternalMemory, "cuImportExternalMemory", missing);
    load(lib, d.cuExternalMemoryGetMappedBuffer, "cuExternalMemoryGetMappedBuffer", missing);
    load(lib, d.cuExternalMemoryGetMappedMipmappedArray, "cuExternalMemoryGetMappedMipmappedArray", missing);
    load(lib, d.cuMipmappedArrayGetLevel, "cuMipmappedArrayGetLevel", missing);
    load(lib, d.cuMipmappedArrayDestroy, "cuMipmappedArrayDestroy", missing);
    load(lib, d.cuDestroyExternalMemory, "cuDestroyExternalMemory", missing);
    load(lib, d.cuMemFree, "cuMemFree_v2", missing);
    load(lib, d.cuMemcpy2DAsync, "cuMemcpy2DAsync_v2", missing);
    load(lib, d.cuImportExternalSemaphore, "cuImportExternalSemaphore", missing);
    load(lib, d.cuSignalExternalSemaphoresAsync, "cuSignalExternalSemaphoresAsync", missing);
    load(lib, d.cuWaitExternalSemaphoresAsync, "cuWaitExternalSemaphoresAsync", missing);
    load(lib, d.cuDestroyExternalSemaphore, "cuDestroyExternalSemaphore", missing);
    load(lib, d.cuPointerGetAttribute, "cuPointerGetAttribute", missing);
    load(lib, d.cuEventCreate, "cuEventCreate", missing);
    load(lib, d.cuEventRecord, "cuEventRecord", missing);
    load(lib, d.cuEventQuery, "cuEventQuery", missing);
    load(lib, d.cuEventDestroy, "cuEventDestroy_v2", missing);
    load(lib, d.cuStreamWaitEvent, "cuStreamWaitEvent", missing);
    load(lib, d.cuDeviceCanAccessPeer, "cuDeviceCanAccessPeer", missing);
    load(lib, d.cuCtxEnablePeerAccess, "cuCtxEnablePeerAccess", missing);
    load(lib, d.cuStreamCreate, "cuStreamCreate", missing);
    load(lib, d.cuStreamDestroy, "cuStreamDestroy_v2", missing);
    load(lib, d.cuMemcpyPeerAsync, "cuMemcpyPeerAsync", missing);
    load(lib, d.cuMemcpy3DPeerAsync, "cuMemcpy3DPeerAsync", missing);
    load(lib, d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", missing);
    load(lib, d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", missing);
    load(lib, d.cuMemHostAlloc, "cuMemHostAlloc", missing);
    load(lib, d.cuMemFreeHost, "cuMemFreeHost", missing);
    if (!missing.empty()) {
        l.status.reason = "libcuda.so.1 lacks " + missing + " (external memory needs a CUDA 11.4 or newer driver)";
        return l;
    }
    (void)d.cuDriverGetVersion(&l.status.driver_version);
    const CUresult init = d.cuInit(0);
    if (init != CUDA_SUCCESS) {
        const char* name = nullptr;
        if (d.cuGetErrorName(init, &name) != CUDA_SUCCESS || name == nullptr) name = "an unknown error";
        l.status.reason = std::string("cuInit failed with ") + name + " (" + std::to_string(init) +
                          "): the CUDA driver is installed but has no usable GPU in this process";
        return l;
    }
    if (d.cuDeviceGetCount(&l.status.device_count) != CUDA_SUCCESS || l.status.device_count == 0) {
        l.status.reason = "the CUDA driver reports no devices";
        return l;
    }
    l.status.available = true;
    l.ok = true;
    return l;
}

const Loaded& loaded() {
    // A function-local static: initialised once, thread-safely, on first use.
    static const Loaded l = load_driver();
    return l;
}

}  // namespace

const Driver* driver() noexcept {
    try {
        const Loaded& l = loaded();
        // nullptr in a forked child too: destructors then leave the parent's CUDA objects alone.
        return l.ok && !forked_since(l) ? &l.driver : nullptr;
    } catch (...) {
        return nullptr;
    }
}

const Driver& require_driver() {
    const Loaded& l = loaded();
    if (!l.ok) throw UnsupportedOperationError("CUDA interop is unavailable: " + l.status.reason);
    if (forked_since(l)) throw UnsupportedOperationError(std::string("CUDA interop is unavailable: ") + kForkedReason);
    return l.driver;
}

std::string result_name(CUresult result) {
    const Driver* d = driver();
    const char* name = nullptr;
    if (d != nullptr && d->cuGetErrorName(result, &name) == CUDA_SUCCESS && name != nullptr) return name;
    return "CUDA error " + std::to_string(result);
}

void check(CUresult result, const char* call, const std::string& detail) {
    if (result == CUDA_SUCCESS) return;
    std::string text = detail;
    const Driver* d = driver();
    const char* description = nullptr;
    if (d != nullptr && d->cuGetErrorString(result, &description) == CUDA_SUCCESS && description != nullptr) {
        text += (text.empty() ? "" : "; ") + std::string(description);
    }
    throw CudaError(result, result_name(result), call, text);
}

}  // namespace api

CudaStatus cuda_status() {
    try {
        const api::Loaded& l = api::loaded();
        if (l.ok && api::forked_since(l)) {
            CudaStatus s = l.status;
            s.available = false;
            s.reason = api::kForkedReason;
            return s;
        }
        return l.status;
    } catch (const std::exception& e) {
        CudaStatus s;
        s.reason = e.what();
        return s;
    }
}

}  // namespace geyser::cuda
