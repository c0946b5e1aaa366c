// Binding of geyser/sync.hpp: declarations, argument names and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/sync.hpp"

namespace py = pybind11;

namespace geyser::python {

SubmitSync to_submit_sync(const SyncList& wait, const SyncList& signal, const std::shared_ptr<Fence>& fence,
                          std::chrono::nanoseconds host_wait_timeout) {
    auto points = [](const SyncList& list) {
        std::vector<SyncPoint> out;
        for (const auto& [target, value] : list) {
            if (const auto* sem = std::get_if<std::shared_ptr<Semaphore>>(&target)) {
                out.emplace_back(sem->get(), value);
            } else {
                out.emplace_back(std::get<std::shared_ptr<Timeline>>(target).get(), value);
            }
        }
        return out;
    };
    SubmitSync s;
    s.wait = points(wait);
    s.signal = points(signal);
    s.fence = fence.get();
    s.host_wait_timeout = host_wait_timeout;
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

    py::class_<Fence, std::shared_ptr<Fence>>(m, "Fence")
        .def_property_readonly("imported", &Fence::imported)
        .def_property_readonly("device", &Fence::device)
        .def_property_readonly("vk_fence", [](const Fence& f) { return raw_handle(*f.device(), f.vk_fence()); })
        .def_property_readonly("signaled", &Fence::signaled)
        .def("wait", &Fence::wait, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def("reset", &Fence::reset);
}

}  // namespace geyser::python
