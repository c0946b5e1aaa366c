// Binding of geyser/cuda.hpp: declarations, GIL policy, and the DLPack capsule (the one
// Python-facing data structure CUDA consumers take).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <vector>

#include "bindings.hpp"
#include "geyser/cuda.hpp"
#include "geyser/error.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

using cuda::CudaBuffer;
using cuda::CudaContext;
using cuda::CudaSemaphore;
using cuda::CudaTexture;
using cuda::StreamHandle;

// DLPack's C ABI (dlpack.h, version 0.x "dltensor" capsules), declared from the specification.
struct DLDevice {
    int32_t device_type;  // kDLCUDA = 2
    int32_t device_id;
};
struct DLDataType {
    uint8_t code;  // kDLInt 0, kDLUInt 1, kDLFloat 2, kDLBool 6
    uint8_t bits;
    uint16_t lanes;
};
struct DLTensor {
    void* data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t* shape;
    int64_t* strides;  // in elements; null means C-contiguous
    uint64_t byte_offset;
};
struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor*);
};
constexpr int32_t kDLCUDA = 2;

// What a DLPack tensor owns: the mapping (kept alive until the consumer's tensor is freed) and the
// shape and strides arrays the DLTensor points into.
struct DLContext {
    DLManagedTensor tensor{};
    std::shared_ptr<CudaBuffer> keep_alive;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;
};

// Called by the consumer when its tensor dies, on any thread, possibly without the GIL: it touches
// only C++ objects.
void delete_dl(DLManagedTensor* t) { delete static_cast<DLContext*>(t->manager_ctx); }

// A capsule nobody consumed still owns its tensor; a consumer renames it "used_dltensor". The
// destructor may run while an exception is being raised, which it must leave as it found it.
void capsule_destructor(PyObject* capsule) {
    if (PyCapsule_IsValid(capsule, "used_dltensor")) return;
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (t == nullptr) {
        PyErr_WriteUnraisable(capsule);
    } else {
        t->deleter(t);
    }
    PyErr_Restore(type, value, traceback);
}

py::capsule to_dlpack(const std::shared_ptr<CudaBuffer>& buffer, uint64_t byte_offset, std::vector<int64_t> shape,
                      std::vector<int64_t> strides, uint8_t code, uint8_t bits) {
    auto ctx = std::make_unique<DLContext>();
    ctx->keep_alive = buffer;
    ctx->shape = std::move(shape);
    ctx->strides = std::move(strides);
    DLTensor& t = ctx->tensor.dl_tensor;
    // The offset goes into `data`, with byte_offset 0: dlpack.h notes that consumers may ignore
    // byte_offset, so a view must not depend on it.
    t.data = reinterpret_cast<void*>(static_cast<uintptr_t>(buffer->device_pointer() + byte_offset));
    t.device = {kDLCUDA, buffer->context()->ordinal()};
    t.ndim = static_cast<int32_t>(ctx->shape.size());
    t.dtype = {code, bits, 1};
    t.shape = ctx->shape.data();
    t.strides = ctx->strides.empty() ? nullptr : ctx->strides.data();
    t.byte_offset = 0;
    ctx->tensor.manager_ctx = ctx.get();
    ctx->tensor.deleter = delete_dl;
    PyObject* capsule = PyCapsule_New(&ctx->tensor, "dltensor", capsule_destructor);
    if (capsule == nullptr) throw py::error_already_set();
    (void)ctx.release();
    return py::reinterpret_steal<py::capsule>(capsule);
}

}  // namespace

void bind_cuda(py::module_& m) {
    py::module_ c = m.def_submodule("cuda", "CUDA interop (geyser/cuda.hpp). Use geyser.cuda instead.");

    py::class_<cuda::CudaStatus>(c, "CudaStatus")
        .def_readonly("available", &cuda::CudaStatus::available)
        .def_readonly("reason", &cuda::CudaStatus::reason)
        .def_readonly("driver_version", &cuda::CudaStatus::driver_version)
        .def_readonly("device_count", &cuda::CudaStatus::device_count);
    c.def("cuda_status", &cuda::cuda_status, py::call_guard<py::gil_scoped_release>());

    py::class_<CudaContext, std::shared_ptr<CudaContext>>(c, "CudaContext")
        .def_static("for_device", &CudaContext::for_device, py::arg("device"),
                    py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("ordinal", &CudaContext::ordinal)
        .def_property_readonly("name", &CudaContext::name)
        .def_property_readonly("uuid", [](const CudaContext& x) { return uuid_bytes(x.uuid()); })
        .def_property_readonly("context", &CudaContext::context)
        .def("check_pointer",
             [](const CudaContext& x, uint64_t p, uint64_t size, const std::string& what) { x.check_pointer(p, size, what.c_str()); },
             py::arg("pointer"), py::arg("size"), py::arg("what"))
        .def("order_after", &CudaContext::order_after, py::arg("stream"), py::arg("other"))
        .def(
            "check_stream", [](const CudaContext& x, StreamHandle stream, const std::string& what) { x.check_stream(stream, what.c_str()); },
            py::arg("stream"), py::arg("what"))
        .def("synchronize", &CudaContext::synchronize, py::arg("stream") = 0,
             py::call_guard<py::gil_scoped_release>());

    py::class_<CudaBuffer, std::shared_ptr<CudaBuffer>>(c, "CudaBuffer")
        .def_static(
            "import_handle",
            [](std::shared_ptr<CudaContext> ctx, const MemoryHandle& h) {
                return std::shared_ptr<CudaBuffer>(CudaBuffer::import(std::move(ctx), h));
            },
            py::arg("context"), py::arg("handle"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("device_pointer", &CudaBuffer::device_pointer)
        .def_property_readonly("size", &CudaBuffer::size)
        .def_property_readonly("context", &CudaBuffer::context)
        .def(
            "dlpack",
            [](const std::shared_ptr<CudaBuffer>& self, uint64_t byte_offset, std::vector<int64_t> shape,
               std::vector<int64_t> strides, uint8_t code, uint8_t bits) {
                return to_dlpack(self, byte_offset, std::move(shape), std::move(strides), code, bits);
            },
            py::arg("byte_offset"), py::arg("shape"), py::arg("strides"), py::arg("code"), py::arg("bits"),
            "A DLPack capsule ('dltensor') viewing this mapping; the tensor made from it keeps the mapping alive.");

    py::class_<cuda::CudaArrayFormat>(c, "CudaArrayFormat")
        .def_readonly("cu_format", &cuda::CudaArrayFormat::cu_format)
        .def_readonly("channels", &cuda::CudaArrayFormat::channels)
        .def_readonly("bytes_per_texel", &cuda::CudaArrayFormat::bytes_per_texel);

    py::class_<CudaTexture, std::shared_ptr<CudaTexture>>(c, "CudaTexture")
        .def_static(
            "import_handle",
            [](std::shared_ptr<CudaContext> ctx, const MemoryHandle& h) {
                return std::shared_ptr<CudaTexture>(CudaTexture::import(std::move(ctx), h));
            },
            py::arg("context"), py::arg("handle"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("width", &CudaTexture::width)
        .def_property_readonly("height", &CudaTexture::height)
        .def_property_readonly("format", &CudaTexture::format)
        .def_property_readonly("context", &CudaTexture::context)
        .def("copy_to_device", &CudaTexture::copy_to_device, py::arg("dst"), py::arg("pitch"), py::arg("stream"),
             py::call_guard<py::gil_scoped_release>())
        .def("copy_from_device", &CudaTexture::copy_from_device, py::arg("src"), py::arg("pitch"), py::arg("stream"),
             py::call_guard<py::gil_scoped_release>());

    py::class_<CudaSemaphore, std::shared_ptr<CudaSemaphore>>(c, "CudaSemaphore")
        .def_static(
            "import_handle",
            [](std::shared_ptr<CudaContext> ctx, const SyncHandle& h) {
                return std::shared_ptr<CudaSemaphore>(CudaSemaphore::import(std::move(ctx), h));
            },
            py::arg("context"), py::arg("handle"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("timeline", &CudaSemaphore::timeline)
        .def_property_readonly("idle", &CudaSemaphore::idle)
        .def("wait", &CudaSemaphore::wait, py::arg("value"), py::arg("stream"), py::call_guard<py::gil_scoped_release>())
        .def("signal", &CudaSemaphore::signal, py::arg("value"), py::arg("stream"),
             py::call_guard<py::gil_scoped_release>());
}

}  // namespace geyser::python
