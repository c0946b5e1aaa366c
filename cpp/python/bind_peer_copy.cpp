// Binding of geyser/peer_copy.hpp: declarations and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "bindings.hpp"
#include "geyser/peer_copy.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_peer_copy(py::module_& m) {
    py::module_ c = m.attr("cuda");
    using cuda::PeerCopy;
    using cuda::PeerCopySync;
    py::enum_<cuda::PeerCopyPath>(c, "PeerCopyPath")
        .value("SAME_DEVICE", cuda::PeerCopyPath::kSameDevice)
        .value("PEER", cuda::PeerCopyPath::kPeer)
        .value("HOST_STAGING", cuda::PeerCopyPath::kHostStaging);
    c.def("peer_copy_path_name", &cuda::peer_copy_path_name, py::arg("path"));
    py::class_<cuda::PeerCopyOptions>(c, "PeerCopyOptions")
        .def(py::init<>())
        .def_readwrite("host_staging", &cuda::PeerCopyOptions::host_staging);
    // The semaphores are borrowed for the call: the Python wrapper keeps them alive across it.
    py::class_<PeerCopySync>(c, "PeerCopySync")
        .def(py::init<>())
        .def_readwrite("source_ready", &PeerCopySync::source_ready)
        .def_readwrite("source_ready_value", &PeerCopySync::source_ready_value)
        .def_readwrite("destination_ready", &PeerCopySync::destination_ready)
        .def_readwrite("destination_ready_value", &PeerCopySync::destination_ready_value)
        .def_readwrite("source_released", &PeerCopySync::source_released)
        .def_readwrite("source_released_value", &PeerCopySync::source_released_value);
    py::class_<PeerCopy, std::shared_ptr<PeerCopy>>(c, "PeerCopy")
        .def_static(
            "create",
            [](std::shared_ptr<cuda::CudaContext> source, std::shared_ptr<cuda::CudaContext> destination,
               const cuda::PeerCopyOptions& options) {
                return std::shared_ptr<PeerCopy>(PeerCopy::create(std::move(source), std::move(destination), options));
            },
            py::arg("source"), py::arg("destination"), py::arg("options") = cuda::PeerCopyOptions{},
            py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("path", &PeerCopy::path)
        .def_property_readonly("reason", &PeerCopy::reason)
        .def_property_readonly("source", &PeerCopy::source)
        .def_property_readonly("destination", &PeerCopy::destination)
        .def_property_readonly("source_stream", &PeerCopy::source_stream)
        .def_property_readonly("destination_stream", &PeerCopy::destination_stream)
        .def("copy_buffer", &PeerCopy::copy_buffer, py::arg("source"), py::arg("destination"), py::arg("sync"),
             py::call_guard<py::gil_scoped_release>())
        .def("copy_texture", &PeerCopy::copy_texture, py::arg("source"), py::arg("destination"), py::arg("sync"),
             py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("copies", &PeerCopy::copies)
        .def("idle", &PeerCopy::idle, py::call_guard<py::gil_scoped_release>())
        .def("wait_idle", &PeerCopy::wait_idle, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>());
    c.def("copy_peer", &cuda::copy_peer, py::arg("source"), py::arg("destination"), py::arg("stream"),
          py::call_guard<py::gil_scoped_release>());
}

}  // namespace geyser::python
