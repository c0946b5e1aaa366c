// Binding of geyser/tensor_layout.hpp: declarations and argument names only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/tensor_layout.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_tensor_layout(py::module_& m) {
    py::enum_<DType>(m, "DType")
        .value("BOOL", DType::kBool)
        .value("UINT8", DType::kUint8)
        .value("INT8", DType::kInt8)
        .value("UINT16", DType::kUint16)
        .value("INT16", DType::kInt16)
        .value("UINT32", DType::kUint32)
        .value("INT32", DType::kInt32)
        .value("UINT64", DType::kUint64)
        .value("INT64", DType::kInt64)
        .value("FLOAT16", DType::kFloat16)
        .value("BFLOAT16", DType::kBFloat16)
        .value("FLOAT32", DType::kFloat32)
        .value("FLOAT64", DType::kFloat64);
    m.def("dtype_from_string", &dtype_from_string, py::arg("name"));
    m.def("dtype_name", [](DType d) { return std::string(to_string(d)); }, py::arg("dtype"));
    m.def("dtype_size", &dtype_size, py::arg("dtype"));

    py::class_<TensorDescriptor>(m, "TensorDescriptor")
        .def(py::init([](std::string name, DType dtype, std::vector<uint64_t> shape) {
                 return TensorDescriptor{std::move(name), dtype, std::move(shape)};
             }),
             py::arg("name"), py::arg("dtype"), py::arg("shape"))
        .def_readonly("name", &TensorDescriptor::name)
        .def_readonly("dtype", &TensorDescriptor::dtype)
        .def_readonly("shape", &TensorDescriptor::shape);

    py::class_<TensorLayout>(m, "TensorLayout")
        .def(py::init<std::vector<TensorDescriptor>>(), py::arg("tensors"))
        .def_property_readonly("tensors", &TensorLayout::tensors)
        .def_property_readonly("size", &TensorLayout::size)
        .def("offset", &TensorLayout::offset, py::arg("index"))
        .def("bytes", &TensorLayout::bytes, py::arg("index"))
        .def("index", &TensorLayout::index, py::arg("name"))
        .def("describe", &TensorLayout::describe)
        .def("__eq__", [](const TensorLayout& a, const TensorLayout& b) { return a == b; })
        .def_property_readonly_static("ALIGNMENT", [](const py::object&) { return TensorLayout::kAlignment; })
        .def_property_readonly_static("MAX_BYTES", [](const py::object&) { return TensorLayout::kMaxBytes; });
}

}  // namespace geyser::python
