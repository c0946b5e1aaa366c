// Binding of geyser/cuda_frames.hpp: declarations, argument names, keep-alive and GIL policy only.
// A producer's frame crosses the binding as its number and slot, as in bind_sender.cpp.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "geyser/cuda_frames.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

using cuda::CudaSender;
using cuda::CudaSubscriber;
using cuda::StreamHandle;

Sender::Frame sender_frame(uint64_t number, uint32_t slot) {
    Sender::Frame f;
    f.number = number;
    f.slot = slot;
    return f;
}

}  // namespace

void bind_cuda_frames(py::module_& m) {
    py::module_ c = m.attr("cuda").cast<py::module_>();

    py::class_<CudaSubscriber>(c, "CudaSubscriber")
        .def_static("create", &CudaSubscriber::create, py::arg("context"), py::arg("subscriber"),
                    py::call_guard<py::gil_scoped_release>())
        .def("wait", &CudaSubscriber::wait, py::arg("frame"), py::arg("stream"), py::call_guard<py::gil_scoped_release>())
        .def("buffer", &CudaSubscriber::buffer, py::arg("frame"))
        .def("device_pointer", py::overload_cast<const Subscriber::Frame&, size_t>(&CudaSubscriber::device_pointer, py::const_),
             py::arg("frame"), py::arg("tensor") = 0)
        .def("device_pointer",
             py::overload_cast<const Subscriber::Frame&, const std::string&>(&CudaSubscriber::device_pointer, py::const_),
             py::arg("frame"), py::arg("tensor"))
        .def("texture", &CudaSubscriber::texture, py::arg("frame"))
        .def("release", &CudaSubscriber::release, py::arg("frame"), py::arg("stream"),
             py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("payload", &CudaSubscriber::payload)
        .def_property_readonly("buffers", &CudaSubscriber::buffers)
        .def_property_readonly("textures", &CudaSubscriber::textures)
        .def_property_readonly("ready", &CudaSubscriber::ready)
        .def_property_readonly("context", &CudaSubscriber::context);

    py::class_<CudaSender>(c, "CudaSender")
        .def_static("create", &CudaSender::create, py::arg("context"), py::arg("sender"),
                    py::call_guard<py::gil_scoped_release>(), py::keep_alive<0, 2>(),
                    "Borrows the Sender, which the returned object keeps alive.")
        .def(
            "buffer", [](const CudaSender& s, uint64_t number, uint32_t slot) { return s.buffer(sender_frame(number, slot)); },
            py::arg("number"), py::arg("slot"))
        .def(
            "device_pointer",
            [](const CudaSender& s, uint64_t number, uint32_t slot, size_t tensor) {
                return s.device_pointer(sender_frame(number, slot), tensor);
            },
            py::arg("number"), py::arg("slot"), py::arg("tensor") = 0)
        .def(
            "device_pointer",
            [](const CudaSender& s, uint64_t number, uint32_t slot, const std::string& tensor) {
                return s.device_pointer(sender_frame(number, slot), tensor);
            },
            py::arg("number"), py::arg("slot"), py::arg("tensor"))
        .def(
            "texture", [](const CudaSender& s, uint64_t number, uint32_t slot) { return s.texture(sender_frame(number, slot)); },
            py::arg("number"), py::arg("slot"))
        .def(
            "end_frame",
            [](CudaSender& s, uint64_t number, uint32_t slot, StreamHandle stream) {
                s.end_frame(sender_frame(number, slot), stream);
            },
            py::arg("number"), py::arg("slot"), py::arg("stream"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("payload", &CudaSender::payload)
        .def_property_readonly("buffers", &CudaSender::buffers)
        .def_property_readonly("textures", &CudaSender::textures)
        .def_property_readonly("ready", &CudaSender::ready)
        .def_property_readonly("context", &CudaSender::context);
}

}  // namespace geyser::python
