// Binding of geyser/device.hpp: declarations, argument names and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"

namespace py = pybind11;

namespace geyser::python {

void bind_device(py::module_& m) {
    py::class_<ExternalHandleTypes>(m, "ExternalHandleTypes")
        .def_readonly("exportable", &ExternalHandleTypes::exportable)
        .def_readonly("importable", &ExternalHandleTypes::importable);

    py::class_<DeviceInfo>(m, "DeviceInfo")
        .def_readonly("index", &DeviceInfo::index)
        .def_readonly("name", &DeviceInfo::name)
        .def_readonly("driver_name", &DeviceInfo::driver_name)
        .def_readonly("driver_info", &DeviceInfo::driver_info)
        .def_readonly("driver_version", &DeviceInfo::driver_version)
        .def_readonly("api_version", &DeviceInfo::api_version)
        .def_readonly("vendor_id", &DeviceInfo::vendor_id)
        .def_readonly("device_id", &DeviceInfo::device_id)
        .def_property_readonly("device_type", [](const DeviceInfo& d) { return static_cast<int>(d.device_type); })
        .def_property_readonly("device_uuid", [](const DeviceInfo& d) { return uuid_to_hex(d.device_uuid); })
        .def_property_readonly("driver_uuid", [](const DeviceInfo& d) { return uuid_to_hex(d.driver_uuid); })
        .def_readonly("timeline_semaphores", &DeviceInfo::timeline_semaphores)
        .def_readonly("image_memory", &DeviceInfo::image_memory)
        .def_readonly("buffer_memory", &DeviceInfo::buffer_memory)
        .def_readonly("binary_semaphore", &DeviceInfo::binary_semaphore)
        .def_readonly("timeline_semaphore", &DeviceInfo::timeline_semaphore)
        .def_readonly("fence", &DeviceInfo::fence)
        .def_readonly("extensions", &DeviceInfo::extensions);

    m.def("enumerate_devices", &enumerate_devices);
    m.def("external_handle_type_name", &external_handle_type_name, py::arg("bit"));
    m.def("external_handle_type_bit", &external_handle_type_bit, py::arg("name"));

    py::class_<HandleTypeSupport>(m, "HandleTypeSupport")
        .def_readonly("exportable", &HandleTypeSupport::exportable)
        .def_readonly("importable", &HandleTypeSupport::importable)
        .def_readonly("dedicated_only", &HandleTypeSupport::dedicated_only)
        .def_readonly("max_width", &HandleTypeSupport::max_width)
        .def_readonly("max_height", &HandleTypeSupport::max_height);

    py::class_<FormatSupport>(m, "FormatSupport")
        .def_property_readonly("format", [](const FormatSupport& s) { return static_cast<uint32_t>(s.format); })
        .def_readonly("usage", &FormatSupport::usage)
        .def_property_readonly("vk_format", [](const FormatSupport& s) { return static_cast<int>(s.vk_format); })
        .def_readonly("handle_types", &FormatSupport::handle_types, "{handle type bit: HandleTypeSupport}")
        .def_readonly("reason", &FormatSupport::reason)
        .def_property_readonly("shareable", &FormatSupport::shareable);

    // Every Device method, in geyser/device.hpp's order and groups.
    py::class_<Device, std::shared_ptr<Device>>(m, "Device")
        // ---- The device itself
        .def_static("open", &Device::open, py::arg("selector") = "")
        .def_property_readonly("info", &Device::info, py::return_value_policy::reference_internal)
        // ---- Format support
        .def("format_support",
             [](const Device& d, uint32_t format, uint32_t usage) {
                 return d.format_support(static_cast<TextureFormat>(format), usage);
             },
             py::arg("format"), py::arg("usage"), py::call_guard<py::gil_scoped_release>())
        // ---- Textures
        .def("create_shareable_texture",
             [](Device& d, uint32_t width, uint32_t height, uint32_t format, uint32_t usage, std::string label) {
                 TextureDescriptor desc;
                 desc.width = width;
                 desc.height = height;
                 desc.format = static_cast<TextureFormat>(format);
                 desc.usage = usage;
                 desc.label = std::move(label);
                 py::gil_scoped_release nogil;
                 return d.create_shareable_texture(desc);
             },
             py::arg("width"), py::arg("height"), py::arg("format"), py::arg("usage"), py::arg("label") = "")
        .def("export_texture", &Device::export_texture, py::arg("texture"), py::call_guard<py::gil_scoped_release>())
        .def("import_texture",
             py::overload_cast<const MemoryHandle&, std::shared_ptr<Timeline>>(&Device::import_texture),
             py::arg("handle"), py::arg("timeline") = nullptr, py::call_guard<py::gil_scoped_release>())
        .def("release_texture_handle", &Device::release_texture_handle, py::arg("handle"))
        // ---- Buffers
        .def("create_shareable_buffer", &Device::create_shareable_buffer, py::arg("size"), py::arg("usage") = 0,
             py::call_guard<py::gil_scoped_release>())
        .def("export_buffer", &Device::export_buffer, py::arg("buffer"), py::call_guard<py::gil_scoped_release>())
        .def("import_buffer", &Device::import_buffer, py::arg("handle"), py::call_guard<py::gil_scoped_release>())
        .def("release_buffer_handle", &Device::release_buffer_handle, py::arg("handle"))
        // ---- Copies between shared resources
        .def(
            "copy_texture",
            [](Device& d, Texture& src, Texture& dst, const SyncList& wait, const SyncList& signal,
               const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                py::gil_scoped_release nogil;
                d.copy_texture(src, dst, sync);
            },
            py::arg("src"), py::arg("dst"), py::arg("wait") = SyncList{}, py::arg("signal") = SyncList{},
            py::arg("fence") = nullptr, py::arg("timeout_ns") = kDefaultHostWaitTimeout)
        .def(
            "copy_buffer_to_texture",
            [](Device& d, Buffer& src, Texture& dst, uint32_t aspect, uint64_t offset, const SyncList& wait,
               const SyncList& signal, const std::shared_ptr<Fence>& fence, std::chrono::nanoseconds timeout_ns) {
                const SubmitSync sync = to_submit_sync(wait, signal, fence, timeout_ns);
                py::gil_scoped_release nogil;
                d.copy_buffer_to_texture(src, dst, static_cast<VkImageAspectFlagBits>(aspect), offset, sync);
            },
            py::arg("src"), py::arg("dst"), py::arg("aspect"), py::arg("offset") = 0, py::arg("wait") = SyncList{},
            py::arg("signal") = SyncList{}, py::arg("fence") = nullptr,
            py::arg("timeout_ns") = kDefaultHostWaitTimeout)
        // ---- Semaphores
        .def("create_shared_semaphore", &Device::create_shared_semaphore, py::arg("type"), py::arg("initial_value") = 0)
        .def("create_semaphore", &Device::create_semaphore, py::arg("type"), py::arg("initial_value") = 0)
        .def("export_semaphore", &Device::export_semaphore, py::arg("semaphore"),
             py::arg("handle_type") = static_cast<uint32_t>(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT))
        .def("import_semaphore", &Device::import_semaphore, py::arg("handle"))
        // ---- Fences
        .def("create_shared_fence", &Device::create_shared_fence, py::arg("signaled") = false)
        .def("create_fence", &Device::create_fence, py::arg("signaled") = false)
        .def("export_fence", &Device::export_fence, py::arg("fence"),
             py::arg("handle_type") = static_cast<uint32_t>(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT))
        .def("import_fence", &Device::import_fence, py::arg("handle"))
        // ---- Timelines, and a texture's frame timeline
        .def("create_shared_timeline", &Device::create_shared_timeline, py::arg("choice") = TimelineChoice::kAuto,
             py::arg("initial_value") = 0)
        .def("create_timeline", &Device::create_timeline, py::arg("choice") = TimelineChoice::kAuto,
             py::arg("initial_value") = 0)
        .def("export_timeline", &Device::export_timeline, py::arg("timeline"))
        .def("import_timeline", &Device::import_timeline, py::arg("handle"))
        .def("signal_texture_ready", &Device::signal_texture_ready, py::arg("texture"), py::arg("value"))
        .def("wait_for_texture", &Device::wait_for_texture, py::arg("texture"), py::arg("value"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>())
        // ---- Raw handles and queries
        .def("choose_memory_type", &Device::choose_memory_type, py::arg("type_bits"), py::arg("required"),
             py::arg("preferred"))
        .def_property_readonly("memory_type_count",
                               [](const Device& d) { return d.memory_properties().memoryTypeCount; })
        .def("memory_type_flags",
             [](const Device& d, uint32_t i) {
                 if (i >= d.memory_properties().memoryTypeCount) throw py::index_error("no such memory type");
                 return d.memory_properties().memoryTypes[i].propertyFlags;
             },
             py::arg("index"))
        .def_property_readonly("queue_family_index", &Device::queue_family_index)
        .def_property_readonly("vk_instance", [](const Device& d) { return raw_handle(d, d.vk_instance()); })
        .def_property_readonly("vk_physical_device",
                               [](const Device& d) { return raw_handle(d, d.vk_physical_device()); })
        .def_property_readonly("vk_device", [](const Device& d) { return raw_handle(d, d.vk_device()); })
        .def_property_readonly("vk_queue", [](const Device& d) { return raw_handle(d, d.vk_queue()); })
        // Device::queue_mutex() for Python's own submissions to vk_queue; geyser.Device.queue_mutex()
        // pairs the two calls in a with-block, on one thread.
        .def("lock_queue",
             [](const Device& d) {
                 d.require_owner_process("lock the queue");
                 py::gil_scoped_release nogil;
                 d.queue_mutex().lock();
             })
        .def("unlock_queue", [](const Device& d) { d.queue_mutex().unlock(); })
        .def("heap_usage", &Device::heap_usage);
}

}  // namespace geyser::python
