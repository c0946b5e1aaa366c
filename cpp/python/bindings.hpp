// Internal to the binding: one declaration per binding file (each binds one core header; every
// Device method is in bind_device.cpp), and the conversions they share.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"

// The core's timeouts are std::chrono::nanoseconds; Python's wrappers pass whole nanoseconds
// (sync.py's to_ns turns its seconds into them and refuses negative, NaN and infinite ones).
// More than std::chrono::nanoseconds holds (~292 years) saturates to kInfiniteTimeout; a negative
// count is an InvalidArgumentError, as in the core.
namespace pybind11::detail {
template <>
struct type_caster<std::chrono::nanoseconds> {
    PYBIND11_TYPE_CASTER(std::chrono::nanoseconds, const_name("int"));
    bool load(handle src, bool) {
        if (!PyLong_Check(src.ptr())) return false;
        int overflow = 0;
        const long long ns = PyLong_AsLongLongAndOverflow(src.ptr(), &overflow);
        if (ns == -1 && PyErr_Occurred()) return false;
        if (overflow < 0 || (overflow == 0 && ns < 0)) throw geyser::InvalidArgumentError("a timeout must not be negative");
        value = overflow > 0 ? std::chrono::nanoseconds::max() : std::chrono::nanoseconds(ns);
        return true;
    }
    static handle cast(std::chrono::nanoseconds src, return_value_policy, handle) {
        return PyLong_FromLongLong(static_cast<long long>(src.count()));
    }
};
}  // namespace pybind11::detail

namespace geyser::python {

void bind_formats(pybind11::module_& m);
void bind_device(pybind11::module_& m);
void bind_memory(pybind11::module_& m);
void bind_sync(pybind11::module_& m);
void bind_timeline(pybind11::module_& m);
void bind_ipc(pybind11::module_& m);
void bind_tensor_layout(pybind11::module_& m);
void bind_sender(pybind11::module_& m);
void bind_cuda(pybind11::module_& m);
void bind_cuda_frames(pybind11::module_& m);
void bind_peer_copy(pybind11::module_& m);
void bind_gpu_topology(pybind11::module_& m);
void bind_gl(pybind11::module_& m);
void bind_explain(pybind11::module_& m);

inline pybind11::bytes uuid_bytes(const Uuid& u) {
    return pybind11::bytes(reinterpret_cast<const char*>(u.data()), u.size());
}

inline Uuid uuid_from(const pybind11::bytes& b) {
    std::string s = b;
    if (s.size() != VK_UUID_SIZE) throw InvalidArgumentError("a UUID is 16 bytes, got " + std::to_string(s.size()));
    Uuid u{};
    std::copy(s.begin(), s.end(), u.begin());
    return u;
}

/// One wait= or signal= entry from Python: a native Semaphore or Timeline, and its value.
using SyncTarget = std::variant<std::shared_ptr<Semaphore>, std::shared_ptr<Timeline>>;
using SyncList = std::vector<std::pair<SyncTarget, uint64_t>>;
/// A Vulkan handle as the integer Python Vulkan libraries use: the pointer value of a dispatchable
/// handle, the 64-bit value of a non-dispatchable one. Refused in a fork() child of the process
/// that opened `device` (the raw accessors of the core are unchecked; Python code cannot check).
template <typename Handle>
uint64_t raw_handle(const Device& device, Handle handle) {
    device.require_owner_process("use a raw Vulkan handle");
    if constexpr (std::is_pointer_v<Handle>) {
        return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle));
    } else {
        return static_cast<uint64_t>(handle);
    }
}

/// The VkCommandBuffer whose handle value a Python Vulkan library gave.
inline VkCommandBuffer command_buffer_from(uint64_t value) {
    return reinterpret_cast<VkCommandBuffer>(static_cast<uintptr_t>(value));
}


/// Python's wait=[(semaphore or timeline, value)], signal=[...], fence=..., timeout_ns=... as the
/// core's SubmitSync. It borrows: the lists must outlive the call it is made for.
SubmitSync to_submit_sync(const SyncList& wait, const SyncList& signal, const std::shared_ptr<Fence>& fence,
                          std::chrono::nanoseconds host_wait_timeout);

}  // namespace geyser::python
