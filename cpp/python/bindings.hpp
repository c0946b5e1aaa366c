// Internal to the binding: one declaration per binding file.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <utility>
#include <vector>

#include <algorithm>
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/sync.hpp"

namespace geyser::python {

void bind_formats(pybind11::module_& m);
void bind_device(pybind11::module_& m);
void bind_memory(pybind11::module_& m);
void bind_sync(pybind11::module_& m);
void bind_ipc(pybind11::module_& m);
void bind_sender(pybind11::module_& m);
void bind_cuda(pybind11::module_& m);
void bind_device_sync(pybind11::class_<Device, std::shared_ptr<Device>>& cls);

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

using SemList = std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>;

/// Python's wait=[(semaphore, value)], signal=[...], fence=... as the core's SubmitSync.
SubmitSync to_submit_sync(const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& wait,
                          const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& signal,
                          const std::shared_ptr<Fence>& fence);

}  // namespace geyser::python
