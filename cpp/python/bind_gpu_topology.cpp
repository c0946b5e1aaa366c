// Binding of geyser/gpu_topology.hpp: declarations only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/gpu_topology.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_gpu_topology(py::module_& m) {
    py::class_<CudaDeviceEntry>(m, "CudaDeviceEntry")
        .def_readonly("ordinal", &CudaDeviceEntry::ordinal)
        .def_readonly("name", &CudaDeviceEntry::name)
        .def_property_readonly("uuid", [](const CudaDeviceEntry& e) { return uuid_bytes(e.uuid); })
        .def_readonly("vulkan_index", &CudaDeviceEntry::vulkan_index);
    py::class_<GpuEntry>(m, "GpuEntry")
        .def_readonly("vulkan", &GpuEntry::vulkan)
        .def_readonly("cuda_ordinal", &GpuEntry::cuda_ordinal)
        .def_readonly("cuda_reason", &GpuEntry::cuda_reason);
    py::class_<GpuTopology>(m, "GpuTopology")
        .def_readonly("gpus", &GpuTopology::gpus)
        .def_readonly("cuda_available", &GpuTopology::cuda_available)
        .def_readonly("cuda_reason", &GpuTopology::cuda_reason)
        .def_readonly("cuda_driver_version", &GpuTopology::cuda_driver_version)
        .def_readonly("cuda_visible_devices_set", &GpuTopology::cuda_visible_devices_set)
        .def_readonly("cuda_visible_devices", &GpuTopology::cuda_visible_devices)
        .def_readonly("cuda_devices", &GpuTopology::cuda_devices)
        .def_readonly("peer_access", &GpuTopology::peer_access);
    m.def("gpu_topology", &gpu_topology, py::call_guard<py::gil_scoped_release>());
    m.def("cuda_device_uuid", [](int ordinal) { return uuid_bytes(cuda_device_uuid(ordinal)); }, py::arg("ordinal"));
}

}  // namespace geyser::python
