// Binding of geyser/sync.hpp: declarations, argument names and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/portable_timeline.hpp"
#include "geyser/sync.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

}  // namespace

SubmitSync to_submit_sync(const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& wait,
                          const std::vector<std::pair<std::shared_ptr<Semaphore>, uint64_t>>& signal,
                          const std::shared_ptr<Fence>& fence) {
    SubmitSync s;
    for (const auto& [sem, v] : wait) s.wait.emplace_back(sem.get(), v);
    for (const auto& [sem, v] : signal) s.signal.emplace_back(sem.get(), v);
    s.fence = fence.get();
    return s;
}

void bind_sync(py::module_& m) {
    py::enum_<SyncPrimitive>(m, "SyncPrimitive")
        .value("SEMAPHORE", SyncPrimitive::kSemaphore)
        .value("FENCE", SyncPrimitive::kFence);
    py::enum_<SemaphoreType>(m, "SemaphoreType")
        .value("BINARY", SemaphoreType::kBinary)
        .value("TIMELINE", SemaphoreType::kTimeline);

    py::class_<SyncHandle>(m, "SyncHandle")
        .def(py::init([](int fd) {
                 SyncHandle h;
                 h.fd.reset(fd);
                 return h;
             }),
             py::arg("fd"), "Takes ownership of `fd` (-1 for none); fill the description before importing.")
        .def_readwrite("primitive", &SyncHandle::primitive)
        .def_readwrite("semaphore_type", &SyncHandle::semaphore_type)
        .def_readwrite("handle_type", &SyncHandle::handle_type)
        .def_property_readonly("fd", [](const SyncHandle& h) { return h.fd.get(); })
        .def("detach", [](SyncHandle& h) { return h.fd.release(); })
        .def("close", &SyncHandle::close)
        .def("duplicate", &SyncHandle::duplicate)
        .def_readwrite("already_signaled", &SyncHandle::already_signaled)
        .def_readwrite("permanent", &SyncHandle::permanent)
        .def_readwrite("initial_value", &SyncHandle::initial_value)
        .def_property(
            "device_uuid", [](const SyncHandle& h) { return uuid_bytes(h.device_uuid); },
            [](SyncHandle& h, const py::bytes& b) { h.device_uuid = uuid_from(b); })
        .def_property(
            "driver_uuid", [](const SyncHandle& h) { return uuid_bytes(h.driver_uuid); },
            [](SyncHandle& h, const py::bytes& b) { h.driver_uuid = uuid_from(b); });

    py::class_<Semaphore, std::shared_ptr<Semaphore>>(m, "Semaphore")
        .def_property_readonly("type", &Semaphore::type)
        .def_property_readonly("imported", &Semaphore::imported)
        .def_property_readonly("exportable", &Semaphore::exportable)
        .def_property_readonly("device", &Semaphore::device)
        .def_property_readonly("vk_semaphore",
                               [](const Semaphore& s) { return raw_handle(*s.device(), s.vk_semaphore()); })
        .def_property_readonly("value", &Semaphore::value)
        .def("signal", &Semaphore::signal, py::arg("value"))
        .def("wait", &Semaphore::wait, py::arg("value"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>());

    py::class_<PortableTimeline, std::shared_ptr<PortableTimeline>>(m, "PortableTimeline")
        .def_static("create",
                    [](uint64_t initial) { return std::make_shared<PortableTimeline>(PortableTimeline::create(initial)); },
                    py::arg("initial_value") = 0)
        .def_static("import_fd",
                    [](int fd) { return std::make_shared<PortableTimeline>(PortableTimeline::import_fd(fd)); },
                    py::arg("fd"), "Imports a duplicate of a borrowed fd.")
        .def("export_fd", [](const PortableTimeline& t) { return t.export_fd().release(); },
             "A new fd the caller owns and must close.")
        .def_property_readonly("value", &PortableTimeline::value)
        .def("signal", &PortableTimeline::signal, py::arg("value"))
        .def("wait", &PortableTimeline::wait, py::arg("value"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>())
        .def("try_wait", &PortableTimeline::try_wait, py::arg("value"))
        .def("mark_abandoned", &PortableTimeline::mark_abandoned)
        .def_property_readonly("abandoned", &PortableTimeline::abandoned);

    py::class_<Fence, std::shared_ptr<Fence>>(m, "Fence")
        .def_property_readonly("imported", &Fence::imported)
        .def_property_readonly("device", &Fence::device)
        .def_property_readonly("vk_fence", [](const Fence& f) { return raw_handle(*f.device(), f.vk_fence()); })
        .def_property_readonly("signaled", &Fence::signaled)
        .def("wait", &Fence::wait, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def("reset", &Fence::reset);
}

void bind_device_sync(py::class_<Device, std::shared_ptr<Device>>& cls) {
    cls.def("create_semaphore", &Device::create_semaphore, py::arg("type"), py::arg("initial_value") = 0,
            py::arg("exportable") = true)
        .def("export_semaphore", &Device::export_semaphore, py::arg("semaphore"),
             py::arg("handle_type") = static_cast<uint32_t>(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT))
        .def("import_semaphore", &Device::import_semaphore, py::arg("handle"))
        .def("create_fence", &Device::create_fence, py::arg("signaled") = false, py::arg("exportable") = true)
        .def("export_fence", &Device::export_fence, py::arg("fence"),
             py::arg("handle_type") = static_cast<uint32_t>(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT))
        .def("import_fence", &Device::import_fence, py::arg("handle"))
        .def(
            "copy_texture",
            [](Device& d, Texture& src, Texture& dst, const SemList& wait, const SemList& signal,
               const std::shared_ptr<Fence>& fence) {
                const SubmitSync sync = to_submit_sync(wait, signal, fence);
                py::gil_scoped_release nogil;
                d.copy_texture(src, dst, sync);
            },
            py::arg("src"), py::arg("dst"), py::arg("wait") = SemList{}, py::arg("signal") = SemList{},
            py::arg("fence") = nullptr)
        .def(
            "copy_buffer_to_texture",
            [](Device& d, Buffer& src, Texture& dst, uint32_t aspect, uint64_t offset, const SemList& wait,
               const SemList& signal, const std::shared_ptr<Fence>& fence) {
                const SubmitSync sync = to_submit_sync(wait, signal, fence);
                py::gil_scoped_release nogil;
                d.copy_buffer_to_texture(src, dst, static_cast<VkImageAspectFlagBits>(aspect), offset, sync);
            },
            py::arg("src"), py::arg("dst"), py::arg("aspect"), py::arg("offset") = 0, py::arg("wait") = SemList{},
            py::arg("signal") = SemList{}, py::arg("fence") = nullptr);
}

}  // namespace geyser::python
