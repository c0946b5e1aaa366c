// Binding of geyser/explain.hpp and geyser/copy_to.hpp: declarations, argument names and GIL
// policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/copy_to.hpp"
#include "geyser/device.hpp"
#include "geyser/explain.hpp"
#include "geyser/memory.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_explain(py::module_& m) {
    py::enum_<SharePath>(m, "SharePath")
        .value("ZERO_COPY", SharePath::kZeroCopy)
        .value("COPY", SharePath::kCopy)
        .value("PEER_COPY", SharePath::kPeerCopy);
    m.def("share_path_name", [](SharePath p) { return std::string(to_string(p)); }, py::arg("path"));
    py::class_<ExplainReason>(m, "ExplainReason")
        .def_readonly("code", &ExplainReason::code)
        .def_readonly("blocking", &ExplainReason::blocking)
        .def_readonly("message", &ExplainReason::message)
        .def_readonly("fix", &ExplainReason::fix);
    py::class_<Explanation>(m, "Explanation")
        .def_readonly("subject", &Explanation::subject)
        .def_readonly("reasons", &Explanation::reasons)
        .def_readonly("cuda_ordinal", &Explanation::cuda_ordinal)
        .def_property_readonly("zero_copy", &Explanation::zero_copy)
        .def_property_readonly("path", &Explanation::path)
        .def_property_readonly("summary", &Explanation::summary);
    m.def("device_mismatch_forced", &device_mismatch_forced);
    m.def("explain", py::overload_cast<const Device&, const SenderInfo&>(&explain), py::arg("device"),
          py::arg("sender"), py::call_guard<py::gil_scoped_release>());
    m.def("explain", py::overload_cast<const Device&, const MemoryHandle&>(&explain), py::arg("device"),
          py::arg("handle"), py::call_guard<py::gil_scoped_release>());
    m.def("explain", py::overload_cast<const Device&, const DeviceInfo&>(&explain), py::arg("device"),
          py::arg("other"), py::call_guard<py::gil_scoped_release>());
    m.def("explain_cuda", &explain_cuda, py::arg("device"), py::call_guard<py::gil_scoped_release>());
    m.def("peer_copy_same_device_forced", &peer_copy_same_device_forced);
    m.def("explain_peer_copy", &explain_peer_copy, py::arg("consumer"), py::arg("producer"),
          py::call_guard<py::gil_scoped_release>());

    m.def("copy_texture_to", &copy_texture_to, py::arg("device"), py::arg("handle"),
          py::call_guard<py::gil_scoped_release>());
    m.def("copy_buffer_to", &copy_buffer_to, py::arg("device"), py::arg("handle"),
          py::call_guard<py::gil_scoped_release>());
}

}  // namespace geyser::python
