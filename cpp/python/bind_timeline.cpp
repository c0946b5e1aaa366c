// Binding of geyser/timeline.hpp: declarations, argument names and GIL policy only.
#include <optional>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/timeline.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_timeline(py::module_& m) {
    py::enum_<TimelineKind>(m, "TimelineKind")
        .value("PORTABLE", TimelineKind::kPortable)
        .value("VULKAN", TimelineKind::kVulkan);
    py::enum_<TimelineChoice>(m, "TimelineChoice")
        .value("AUTO", TimelineChoice::kAuto)
        .value("PORTABLE", TimelineChoice::kPortable)
        .value("VULKAN", TimelineChoice::kVulkan);

    py::class_<TimelineHandle>(m, "TimelineHandle")
        .def(py::init([](int fd) {
                 TimelineHandle h;
                 h.kind = TimelineKind::kPortable;
                 h.fd.reset(fd);
                 return h;
             }),
             py::arg("fd"), "A portable timeline's handle; takes ownership of `fd`.")
        .def(py::init([](SyncHandle& semaphore) {
                 TimelineHandle h;
                 h.kind = TimelineKind::kVulkan;
                 h.semaphore = std::move(semaphore);
                 return h;
             }),
             py::arg("semaphore"), "A Vulkan timeline's handle; takes the semaphore handle's fd (it is left without one).")
        .def_readonly("kind", &TimelineHandle::kind)
        .def_property_readonly("fd", &TimelineHandle::native_fd)
        .def_property_readonly(
            "semaphore",
            [](TimelineHandle& h) { return h.kind == TimelineKind::kVulkan ? &h.semaphore : nullptr; },
            py::return_value_policy::reference_internal, "The Vulkan timeline's semaphore handle (None if portable).")
        .def("detach",
             [](TimelineHandle& h) { return h.kind == TimelineKind::kVulkan ? h.semaphore.fd.release() : h.fd.release(); },
             "Gives up the fd: the caller must close it. The handle no longer holds one.")
        .def("close", &TimelineHandle::close)
        .def("duplicate", &TimelineHandle::duplicate);

    py::class_<Timeline, std::shared_ptr<Timeline>>(m, "Timeline")
        .def_property_readonly("kind", &Timeline::kind)
        .def_property_readonly("imported", &Timeline::imported)
        .def_property_readonly("device", &Timeline::device)
        .def_property_readonly("value", &Timeline::value)
        .def("signal", &Timeline::signal, py::arg("value"))
        .def("wait", &Timeline::wait, py::arg("value"), py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def("mark_abandoned", &Timeline::mark_abandoned)
        .def_property_readonly("abandoned", &Timeline::abandoned)
        .def_property_readonly(
            "vk_semaphore",
            [](const Timeline& t) -> std::optional<uint64_t> {
                if (!t.semaphore()) return std::nullopt;
                return raw_handle(*t.device(), t.semaphore()->vk_semaphore());
            },
            "The VkSemaphore of a Vulkan timeline as an int (None for a portable one).");
}

}  // namespace geyser::python
