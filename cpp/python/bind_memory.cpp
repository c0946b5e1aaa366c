// Binding of geyser/memory.hpp: declarations, argument names, buffer-protocol conversion and GIL
// policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

// A contiguous read-only view of any buffer-protocol object.
py::buffer_info readable(const py::buffer& data) {
    py::buffer_info info = data.request();
    if (!PyBuffer_IsContiguous(reinterpret_cast<Py_buffer*>(info.view()), 'C')) {
        throw InvalidArgumentError("data must be C-contiguous");
    }
    return info;
}

py::buffer_info writable(const py::buffer& out) {
    py::buffer_info info = out.request(true);
    if (!PyBuffer_IsContiguous(reinterpret_cast<Py_buffer*>(info.view()), 'C')) {
        throw InvalidArgumentError("output must be C-contiguous");
    }
    return info;
}

size_t nbytes(const py::buffer_info& info) { return static_cast<size_t>(info.size) * info.itemsize; }

}  // namespace

void bind_memory(py::module_& m) {
    py::enum_<ResourceKind>(m, "ResourceKind")
        .value("TEXTURE", ResourceKind::kTexture)
        .value("BUFFER", ResourceKind::kBuffer);

    py::class_<MemoryHandle>(m, "MemoryHandle")
        .def(py::init([](int fd) {
                 MemoryHandle h;
                 h.fd.reset(fd);
                 return h;
             }),
             py::arg("fd"), "Takes ownership of `fd`; fill the description fields before importing.")
        .def_readwrite("kind", &MemoryHandle::kind)
        .def_property(
            "handle_type", [](const MemoryHandle& h) { return static_cast<uint32_t>(h.handle_type); },
            [](MemoryHandle& h, uint32_t v) { h.handle_type = static_cast<VkExternalMemoryHandleTypeFlagBits>(v); })
        .def_property_readonly("fd", [](const MemoryHandle& h) { return h.fd.get(); })
        .def("detach", [](MemoryHandle& h) { return h.fd.release(); },
             "Gives up the fd: the caller must close it. The handle no longer holds one.")
        .def("close", &MemoryHandle::close)
        .def("duplicate", &MemoryHandle::duplicate)
        .def_readwrite("size", &MemoryHandle::size)
        .def_readwrite("memory_type_index", &MemoryHandle::memory_type_index)
        .def_readwrite("dedicated", &MemoryHandle::dedicated)
        .def_property(
            "device_uuid", [](const MemoryHandle& h) { return uuid_bytes(h.device_uuid); },
            [](MemoryHandle& h, const py::bytes& b) { h.device_uuid = uuid_from(b); })
        .def_property(
            "driver_uuid", [](const MemoryHandle& h) { return uuid_bytes(h.driver_uuid); },
            [](MemoryHandle& h, const py::bytes& b) { h.driver_uuid = uuid_from(b); })
        .def_readwrite("width", &MemoryHandle::width)
        .def_readwrite("height", &MemoryHandle::height)
        .def_property(
            "vk_format", [](const MemoryHandle& h) { return static_cast<int>(h.vk_format); },
            [](MemoryHandle& h, int v) { h.vk_format = static_cast<VkFormat>(v); })
        .def_readwrite("vk_usage", &MemoryHandle::vk_usage)
        .def_property(
            "vk_tiling", [](const MemoryHandle& h) { return static_cast<int>(h.vk_tiling); },
            [](MemoryHandle& h, int v) { h.vk_tiling = static_cast<VkImageTiling>(v); })
        .def_readwrite("vk_create_flags", &MemoryHandle::vk_create_flags)
        .def_property(
            "vk_layout", [](const MemoryHandle& h) { return static_cast<int>(h.vk_layout); },
            [](MemoryHandle& h, int v) { h.vk_layout = static_cast<VkImageLayout>(v); })
        .def_property(
            "texture_format", [](const MemoryHandle& h) { return static_cast<uint32_t>(h.texture_format); },
            [](MemoryHandle& h, uint32_t v) { h.texture_format = static_cast<TextureFormat>(v); })
        .def_readwrite("texture_usage", &MemoryHandle::texture_usage)
        .def_readwrite("buffer_size", &MemoryHandle::buffer_size)
        .def_readwrite("buffer_usage", &MemoryHandle::buffer_usage);

    py::class_<Texture, std::shared_ptr<Texture>>(m, "Texture")
        .def_property_readonly("width", &Texture::width)
        .def_property_readonly("height", &Texture::height)
        .def_property_readonly("vk_format", [](const Texture& t) { return static_cast<int>(t.vk_format()); })
        .def_property_readonly("vk_usage", &Texture::vk_usage)
        .def_property_readonly("texture_format",
                               [](const Texture& t) { return static_cast<uint32_t>(t.descriptor().format); })
        .def_property_readonly("texture_usage", [](const Texture& t) { return t.descriptor().usage; })
        .def_property_readonly("label", [](const Texture& t) { return t.descriptor().label; })
        .def_property_readonly("imported", &Texture::imported)
        .def_property_readonly("dedicated", &Texture::dedicated)
        .def_property_readonly("allocation_size", &Texture::allocation_size)
        .def_property_readonly("memory_type_index", &Texture::memory_type_index)
        .def_property_readonly("external_layout", [](const Texture& t) { return static_cast<int>(t.external_layout()); })
        .def_property_readonly("vk_image", [](const Texture& t) { return raw_handle(*t.device(), t.vk_image()); })
        .def_property_readonly("vk_memory", [](const Texture& t) { return raw_handle(*t.device(), t.vk_memory()); })
        .def("begin_access",
             [](Texture& t, uint64_t command_buffer, int layout, uint32_t stages, uint32_t access) {
                 t.begin_access(command_buffer_from(command_buffer), static_cast<VkImageLayout>(layout), stages,
                                access);
             },
             py::arg("command_buffer"), py::arg("layout"), py::arg("stages"), py::arg("access"),
             py::call_guard<py::gil_scoped_release>())
        .def("end_access",
             [](Texture& t, uint64_t command_buffer, int layout, uint32_t stages, uint32_t access) {
                 t.end_access(command_buffer_from(command_buffer), static_cast<VkImageLayout>(layout), stages,
                              access);
             },
             py::arg("command_buffer"), py::arg("layout"), py::arg("stages"), py::arg("access"),
             py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("aspects", &Texture::aspects)
        .def_property_readonly("device", &Texture::device)
        .def_property("timeline", &Texture::timeline, &Texture::set_timeline)
        .def("host_size", [](const Texture& t, uint32_t aspect) {
                 return t.host_size(static_cast<VkImageAspectFlagBits>(aspect));
             }, py::arg("aspect"))
        .def("upload",
             [](Texture& t, uint32_t aspect, const py::buffer& data, const SyncList& wait, const SyncList& signal,
                const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                 py::buffer_info info = readable(data);
                 const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                 py::gil_scoped_release nogil;
                 t.upload(static_cast<VkImageAspectFlagBits>(aspect), info.ptr, nbytes(info), sync);
             },
             py::arg("aspect"), py::arg("data"), py::arg("wait") = SyncList{}, py::arg("signal") = SyncList{},
             py::arg("fence") = nullptr, py::arg("timeout_ns") = kDefaultHostWaitTimeout)
        .def("download_into",
             [](Texture& t, uint32_t aspect, const py::buffer& out, const SyncList& wait, const SyncList& signal,
                const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                 py::buffer_info info = writable(out);
                 const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                 py::gil_scoped_release nogil;
                 t.download(static_cast<VkImageAspectFlagBits>(aspect), info.ptr, nbytes(info), sync);
             },
             py::arg("aspect"), py::arg("out"), py::arg("wait") = SyncList{}, py::arg("signal") = SyncList{},
             py::arg("fence") = nullptr, py::arg("timeout_ns") = kDefaultHostWaitTimeout);

    py::class_<Buffer, std::shared_ptr<Buffer>>(m, "Buffer", py::buffer_protocol())
        // The buffer protocol exposes Buffer::map(): the memory itself, bytes [0, size).
        .def_buffer([](Buffer& b) {
            return py::buffer_info(b.map(), 1, py::format_descriptor<uint8_t>::format(), 1,
                                   {static_cast<py::ssize_t>(b.size())}, {py::ssize_t{1}});
        })
        .def("map", [](Buffer& b) { b.map(); }, "Maps the memory (UnsupportedOperationError saying why not).")
        .def_property_readonly("host_mappable", &Buffer::host_mappable)
        .def_property_readonly("map_refusal", &Buffer::map_refusal)
        .def_property_readonly("size", &Buffer::size)
        .def_property_readonly("usage", &Buffer::usage)
        .def_property_readonly("imported", &Buffer::imported)
        .def_property_readonly("dedicated", &Buffer::dedicated)
        .def_property_readonly("allocation_size", &Buffer::allocation_size)
        .def_property_readonly("memory_type_index", &Buffer::memory_type_index)
        .def_property_readonly("device", &Buffer::device)
        .def_property_readonly("vk_buffer", [](const Buffer& b) { return raw_handle(*b.device(), b.vk_buffer()); })
        .def_property_readonly("vk_memory", [](const Buffer& b) { return raw_handle(*b.device(), b.vk_memory()); })
        .def("begin_access",
             [](Buffer& b, uint64_t command_buffer, uint32_t stages, uint32_t access) {
                 b.begin_access(command_buffer_from(command_buffer), stages, access);
             },
             py::arg("command_buffer"), py::arg("stages"), py::arg("access"), py::call_guard<py::gil_scoped_release>())
        .def("end_access",
             [](Buffer& b, uint64_t command_buffer, uint32_t stages, uint32_t access) {
                 b.end_access(command_buffer_from(command_buffer), stages, access);
             },
             py::arg("command_buffer"), py::arg("stages"), py::arg("access"), py::call_guard<py::gil_scoped_release>())
        .def("write",
             [](Buffer& b, const py::buffer& data, uint64_t offset, const SyncList& wait, const SyncList& signal,
                const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                 py::buffer_info info = readable(data);
                 const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                 py::gil_scoped_release nogil;
                 b.write(info.ptr, nbytes(info), offset, sync);
             },
             py::arg("data"), py::arg("offset") = 0, py::arg("wait") = SyncList{}, py::arg("signal") = SyncList{},
             py::arg("fence") = nullptr, py::arg("timeout_ns") = kDefaultHostWaitTimeout)
        .def("read_into",
             [](Buffer& b, const py::buffer& out, uint64_t offset, const SyncList& wait, const SyncList& signal,
                const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                 py::buffer_info info = writable(out);
                 const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                 py::gil_scoped_release nogil;
                 b.read(info.ptr, nbytes(info), offset, sync);
             },
             py::arg("out"), py::arg("offset") = 0, py::arg("wait") = SyncList{}, py::arg("signal") = SyncList{},
             py::arg("fence") = nullptr, py::arg("timeout_ns") = kDefaultHostWaitTimeout);
}

}  // namespace geyser::python
