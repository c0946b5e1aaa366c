// Binding of geyser/gl.hpp: declarations and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <vector>

#include "bindings.hpp"
#include "geyser/gl.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_gl(py::module_& m) {
    using namespace geyser::gl;
    py::module_ g = m.def_submodule("gl", "OpenGL interop (geyser/gl.hpp)");
    py::enum_<SyncPath>(g, "SyncPath").value("GL_SEMAPHORE", SyncPath::kGlSemaphore).value("HOST", SyncPath::kHost);
    g.def("gl_layout", [](int layout) { return gl_layout(static_cast<VkImageLayout>(layout)); }, py::arg("layout"));

    py::class_<GlInfo>(g, "GlInfo")
        .def_readonly("platform", &GlInfo::platform)
        .def_readonly("vendor", &GlInfo::vendor)
        .def_readonly("renderer", &GlInfo::renderer)
        .def_readonly("version", &GlInfo::version)
        .def_readonly("memory_object_fd", &GlInfo::memory_object_fd)
        .def_readonly("semaphore_fd", &GlInfo::semaphore_fd)
        .def_readonly("timeline_semaphore", &GlInfo::timeline_semaphore)
        .def_property_readonly("device_uuids",
                               [](const GlInfo& i) {
                                   std::vector<py::bytes> out;
                                   for (const Uuid& u : i.device_uuids) out.push_back(uuid_bytes(u));
                                   return out;
                               })
        .def_property_readonly("driver_uuid", [](const GlInfo& i) { return uuid_bytes(i.driver_uuid); });

    py::class_<GlContext, std::shared_ptr<GlContext>>(g, "GlContext")
        .def_static("current", &GlContext::current, py::arg("device"))
        .def_property_readonly("info", &GlContext::info, py::return_value_policy::reference_internal)
        .def_property_readonly("device", &GlContext::device)
        .def_property_readonly("sync_path", &GlContext::sync_path)
        .def_property_readonly("handle", &GlContext::handle)
        .def_property_readonly("is_current", &GlContext::is_current)
        .def("flush", &GlContext::flush)
        .def("finish", &GlContext::finish, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>());

    py::class_<GlTexture, std::shared_ptr<GlTexture>>(g, "GlTexture")
        .def_static(
            "import_handle",
            [](std::shared_ptr<GlContext> c, const MemoryHandle& h) {
                return std::shared_ptr<GlTexture>(GlTexture::import(std::move(c), h));
            },
            py::arg("context"), py::arg("handle"))
        .def_property_readonly("name", &GlTexture::name)
        .def_property_readonly("target", &GlTexture::target)
        .def_property_readonly("internal_format", &GlTexture::internal_format)
        .def_property_readonly("memory_object", &GlTexture::memory_object)
        .def_property_readonly("width", &GlTexture::width)
        .def_property_readonly("height", &GlTexture::height)
        .def_property_readonly("format", [](const GlTexture& t) { return static_cast<uint32_t>(t.format()); })
        .def_property_readonly("vk_format", [](const GlTexture& t) { return static_cast<int>(t.vk_format()); })
        .def_property_readonly("layout", [](const GlTexture& t) { return static_cast<int>(t.layout()); })
        .def_property_readonly("closed", &GlTexture::closed)
        .def_property_readonly("context", &GlTexture::context)
        .def("close", &GlTexture::close);

    py::class_<GlBuffer, std::shared_ptr<GlBuffer>>(g, "GlBuffer")
        .def_static(
            "import_handle",
            [](std::shared_ptr<GlContext> c, const MemoryHandle& h, uint64_t size) {
                return std::shared_ptr<GlBuffer>(GlBuffer::import(std::move(c), h, size));
            },
            py::arg("context"), py::arg("handle"), py::arg("size") = 0)
        .def_property_readonly("name", &GlBuffer::name)
        .def_property_readonly("memory_object", &GlBuffer::memory_object)
        .def_property_readonly("size", &GlBuffer::size)
        .def_property_readonly("closed", &GlBuffer::closed)
        .def_property_readonly("context", &GlBuffer::context)
        .def("close", &GlBuffer::close);

    py::class_<GlSemaphore, std::shared_ptr<GlSemaphore>>(g, "GlSemaphore")
        .def_static(
            "import_handle",
            [](std::shared_ptr<GlContext> c, const SyncHandle& h) {
                return std::shared_ptr<GlSemaphore>(GlSemaphore::import(std::move(c), h));
            },
            py::arg("context"), py::arg("handle"))
        .def_property_readonly("name", &GlSemaphore::name)
        .def_property_readonly("timeline", &GlSemaphore::timeline)
        .def_property_readonly("closed", &GlSemaphore::closed)
        .def("wait", &GlSemaphore::wait, py::arg("value"), py::arg("textures"), py::arg("buffers"))
        .def("signal", &GlSemaphore::signal, py::arg("value"), py::arg("textures"), py::arg("buffers"))
        .def("close", &GlSemaphore::close);

    py::class_<HeadlessContext>(g, "HeadlessContext")
        .def_static("create", &HeadlessContext::create, py::arg("device"))
        .def("make_current", &HeadlessContext::make_current)
        .def("release_current", &HeadlessContext::release_current)
        .def_property_readonly("platform", &HeadlessContext::platform)
        .def_property_readonly("egl_display", &HeadlessContext::egl_display)
        .def_property_readonly("egl_context", &HeadlessContext::egl_context);

    py::class_<GlFrame>(g, "GlFrame")
        .def_readonly("number", &GlFrame::number)
        .def_readonly("slot", &GlFrame::slot)
        .def_readonly("ready_wait", &GlFrame::ready_wait);

    py::class_<GlSender>(g, "GlSender")
        .def(py::init<std::shared_ptr<GlContext>, Sender&>(), py::arg("context"), py::arg("sender"), py::keep_alive<1, 3>())
        .def("begin_frame", &GlSender::begin_frame, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def("end_frame", &GlSender::end_frame, py::arg("frame"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>())
        .def("abandon_frame", &GlSender::abandon_frame, py::arg("frame"))
        .def_property_readonly("sync_path", &GlSender::sync_path)
        .def_property_readonly("ring", [](const GlSender& s) {
            std::vector<GlTexture*> out;
            for (const auto& t : s.ring()) out.push_back(t.get());
            return out;
        }, py::return_value_policy::reference_internal)
        .def("close", &GlSender::close);

    py::class_<GlSubscriber>(g, "GlSubscriber")
        .def(py::init<std::shared_ptr<GlContext>, Subscriber&>(), py::arg("context"), py::arg("subscriber"),
             py::keep_alive<1, 3>())
        .def("next_frame", &GlSubscriber::next_frame, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def("release", &GlSubscriber::release, py::arg("frame"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("sync_path", &GlSubscriber::sync_path)
        .def_property_readonly("ring", [](const GlSubscriber& s) {
            std::vector<GlTexture*> out;
            for (const auto& t : s.ring()) out.push_back(t.get());
            return out;
        }, py::return_value_policy::reference_internal)
        .def("close", &GlSubscriber::close);
}

}  // namespace geyser::python
