// Internal to the binding: one declaration per binding file.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <utility>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/sync.hpp"

namespace geyser::python {

void bind_device(pybind11::module_& m);
void bind_memory(pybind11::module_& m);
void bind_sync(pybind11::module_& m);
void bind_device_sync(pybind11::class_<Device, std::shared_ptr<Device>>& cls);

/// Python's wait=[(semaphore, value)], signal=[...], fence=... as the core's SubmitSync.
SubmitSync to_submit_sync(const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& wait,
                          const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& signal,
                          const std::shared_ptr<Fence>& fence);

}  // namespace geyser::python
