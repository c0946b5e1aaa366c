// Binding of geyser/sender.hpp, geyser/subscriber.hpp, geyser/sender_directory.hpp and the
// SenderInfo of geyser/sender_protocol.hpp: declarations, argument names, buffer conversion and
// GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender.hpp"
#include "geyser/tensor_layout.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

SenderOptions options_of(uint32_t ring_size, TimelineChoice sync, std::chrono::nanoseconds release_timeout,
                         DeliveryMode mode, StalledPolicy stalled, uint32_t max_pending_handshakes,
                         uint32_t max_handshakes_per_peer, uint32_t max_subscriptions_per_peer,
                         bool peer_copy_host_staging) {
    SenderOptions o;
    o.ring_size = ring_size;
    o.sync = sync;
    o.release_timeout = release_timeout;
    o.mode = mode;
    o.stalled = stalled;
    o.max_pending_handshakes = max_pending_handshakes;
    o.max_handshakes_per_peer = max_handshakes_per_peer;
    o.max_subscriptions_per_peer = max_subscriptions_per_peer;
    o.peer_copy_host_staging = peer_copy_host_staging;
    return o;
}

}  // namespace

void bind_sender(py::module_& m) {
    m.def("sender_socket_path", &sender_socket_path, py::arg("name"));
    m.def("check_sender_name", &check_sender_name, py::arg("name"));

    py::enum_<TimelineRole>(m, "TimelineRole")
        .value("READY", TimelineRole::kReady)
        .value("RELEASED", TimelineRole::kReleased);
    py::enum_<DeliveryMode>(m, "DeliveryMode")
        .value("LOSSLESS", DeliveryMode::kLossless)
        .value("LATEST", DeliveryMode::kLatest);
    py::enum_<StalledPolicy>(m, "StalledPolicy")
        .value("DROP", StalledPolicy::kDrop)
        .value("SKIP", StalledPolicy::kSkip);
    py::enum_<SenderEvent::Kind>(m, "SenderEventKind")
        .value("JOINED", SenderEvent::Kind::kJoined)
        .value("LEFT", SenderEvent::Kind::kLeft)
        .value("DROPPED", SenderEvent::Kind::kDropped)
        .value("STALLED", SenderEvent::Kind::kStalled);
    py::class_<SenderEvent>(m, "SenderEvent")
        .def_readonly("kind", &SenderEvent::kind)
        .def_readonly("pid", &SenderEvent::pid)
        .def_readonly("client", &SenderEvent::client)
        .def_readonly("message", &SenderEvent::message);
    py::class_<SenderStats>(m, "SenderStats")
        .def_readonly("frames_published", &SenderStats::frames_published)
        .def_readonly("subscribers_joined", &SenderStats::subscribers_joined)
        .def_readonly("subscribers_dropped", &SenderStats::subscribers_dropped)
        .def_readonly("stalls_skipped", &SenderStats::stalls_skipped)
        .def_readonly("accepts_deferred", &SenderStats::accepts_deferred)
        .def_readonly("frames_copied", &SenderStats::frames_copied)
        .def_readonly("frames_peer_copied", &SenderStats::frames_peer_copied)
        .def_readonly("ready_submissions", &SenderStats::ready_submissions);
    py::enum_<ReadySignal>(m, "ReadySignal")
        .value("HOST", ReadySignal::kHost)
        .value("GPU", ReadySignal::kGpu);

    py::class_<SenderInfo>(m, "SenderInfo")
        .def_readonly("name", &SenderInfo::name)
        .def_readonly("producer_pid", &SenderInfo::producer_pid)
        .def_readonly("ring_size", &SenderInfo::ring_size)
        .def_readonly("width", &SenderInfo::width)
        .def_readonly("height", &SenderInfo::height)
        .def_property_readonly("vk_format", [](const SenderInfo& s) { return static_cast<int>(s.vk_format); })
        .def_property_readonly("texture_format",
                               [](const SenderInfo& s) { return static_cast<uint32_t>(s.texture_format); })
        .def_readonly("texture_usage", &SenderInfo::texture_usage)
        .def_readonly("payload", &SenderInfo::payload)
        .def_readonly("layout", &SenderInfo::layout)
        .def_readonly("sync_kind", &SenderInfo::sync_kind)
        .def_readonly("mode", &SenderInfo::mode)
        .def_readonly("max_held", &SenderInfo::max_held)
        .def_readonly("current_frame", &SenderInfo::current_frame)
        .def_readonly("subscribers", &SenderInfo::subscribers)
        .def_property_readonly("device_uuid", [](const SenderInfo& s) { return uuid_bytes(s.device_uuid); })
        .def_property_readonly("driver_uuid", [](const SenderInfo& s) { return uuid_bytes(s.driver_uuid); });

    m.def("query_sender", &query_sender, py::arg("name"), py::arg("timeout_ns"),
          py::call_guard<py::gil_scoped_release>());
    m.def("list_senders", &list_senders, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>());

    py::class_<Sender>(m, "Sender")
        .def_static(
            "create",
            [](const std::shared_ptr<Device>& device, const std::string& name, uint32_t width, uint32_t height,
               uint32_t format, uint32_t usage, const std::string& label, uint32_t ring_size, TimelineChoice sync,
               std::chrono::nanoseconds release_timeout_ns, DeliveryMode mode, StalledPolicy stalled, uint32_t max_pending_handshakes,
               uint32_t max_handshakes_per_peer, uint32_t max_subscriptions_per_peer, bool peer_copy_host_staging) {
                TextureDescriptor descriptor;
                descriptor.width = width;
                descriptor.height = height;
                descriptor.format = static_cast<TextureFormat>(format);
                descriptor.usage = usage;
                descriptor.label = label;
                const SenderOptions o = options_of(ring_size, sync, release_timeout_ns, mode, stalled,
                                                   max_pending_handshakes, max_handshakes_per_peer,
                                                   max_subscriptions_per_peer, peer_copy_host_staging);
                py::gil_scoped_release nogil;
                return Sender::create(device, name, descriptor, o);
            },
            py::arg("device"), py::arg("name"), py::arg("width"), py::arg("height"), py::arg("format"),
            py::arg("usage"), py::arg("label"), py::arg("ring_size"), py::arg("sync"),
            py::arg("release_timeout_ns"), py::arg("mode"), py::arg("stalled"),
            py::arg("max_pending_handshakes") = SenderOptions{}.max_pending_handshakes,
            py::arg("max_handshakes_per_peer") = SenderOptions{}.max_handshakes_per_peer,
            py::arg("max_subscriptions_per_peer") = SenderOptions{}.max_subscriptions_per_peer,
            py::arg("peer_copy_host_staging") = SenderOptions{}.peer_copy_host_staging)
        .def_static(
            "create",
            [](const std::shared_ptr<Device>& device, const std::string& name, const TensorLayout& layout,
               uint32_t ring_size, TimelineChoice sync, std::chrono::nanoseconds release_timeout_ns, DeliveryMode mode,
               StalledPolicy stalled, uint32_t max_pending_handshakes, uint32_t max_handshakes_per_peer,
               uint32_t max_subscriptions_per_peer, bool peer_copy_host_staging) {
                const SenderOptions o = options_of(ring_size, sync, release_timeout_ns, mode, stalled,
                                                   max_pending_handshakes, max_handshakes_per_peer,
                                                   max_subscriptions_per_peer, peer_copy_host_staging);
                py::gil_scoped_release nogil;
                return Sender::create(device, name, layout, o);
            },
            py::arg("device"), py::arg("name"), py::arg("layout"), py::arg("ring_size"), py::arg("sync"),
            py::arg("release_timeout_ns"), py::arg("mode"), py::arg("stalled"),
            py::arg("max_pending_handshakes") = SenderOptions{}.max_pending_handshakes,
            py::arg("max_handshakes_per_peer") = SenderOptions{}.max_handshakes_per_peer,
            py::arg("max_subscriptions_per_peer") = SenderOptions{}.max_subscriptions_per_peer,
            py::arg("peer_copy_host_staging") = SenderOptions{}.peer_copy_host_staging,
            "A tensor stream: a ring of buffers holding the tensors of `layout`.")
        .def(
            "begin_frame",
            [](Sender& s, std::chrono::nanoseconds timeout_ns) {
                Sender::Frame f;
                {
                    py::gil_scoped_release nogil;
                    f = s.begin_frame(timeout_ns);
                }
                return py::make_tuple(f.number, f.slot);
            },
            py::arg("timeout_ns"), "(number, slot) of the frame begun.")
        .def(
            "end_frame",
            [](Sender& s, uint64_t number, uint32_t slot, ReadySignal ready) {
                Sender::Frame f;
                f.number = number;
                f.slot = slot;
                py::gil_scoped_release nogil;
                s.end_frame(f, ready);
            },
            py::arg("number"), py::arg("slot"), py::arg("ready") = ReadySignal::kHost)
        .def(
            "abandon_frame",
            [](Sender& s, uint64_t number) {
                Sender::Frame f;
                f.number = number;
                s.abandon_frame(f);
            },
            py::arg("number"))
        .def(
            "publish",
            [](Sender& s, uint32_t aspect, const py::buffer& data, std::chrono::nanoseconds timeout_ns) {
                const py::buffer_info b = data.request();
                const size_t size = static_cast<size_t>(b.size * b.itemsize);
                py::gil_scoped_release nogil;
                return s.publish(static_cast<VkImageAspectFlagBits>(aspect), b.ptr, size, timeout_ns);
            },
            py::arg("aspect"), py::arg("data"), py::arg("timeout_ns"),
            "Uploads a C-contiguous buffer as the next frame; returns its number.")
        .def(
            "publish",
            [](Sender& s, const py::buffer& data, std::chrono::nanoseconds timeout_ns) {
                const py::buffer_info b = data.request();
                const size_t size = static_cast<size_t>(b.size * b.itemsize);
                py::gil_scoped_release nogil;
                return s.publish(b.ptr, size, timeout_ns);
            },
            py::arg("data"), py::arg("timeout_ns"),
            "A tensor stream: writes a C-contiguous buffer of the slot's bytes as the next frame; returns its number.")
        .def("close", &Sender::close, py::call_guard<py::gil_scoped_release>())
        .def("wait_for_subscribers", &Sender::wait_for_subscribers, py::arg("count"), py::arg("timeout_ns"),
             py::call_guard<py::gil_scoped_release>())
        .def("take_events", &Sender::take_events, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("stats", py::cpp_function(&Sender::stats, py::call_guard<py::gil_scoped_release>()))
        .def_property_readonly("mode", &Sender::mode)
        .def_property_readonly("closed", &Sender::closed)
        .def_property_readonly("name", &Sender::name)
        .def_property_readonly("frame", &Sender::frame)
        .def_property_readonly("subscribers",
                               py::cpp_function(&Sender::subscribers, py::call_guard<py::gil_scoped_release>()))
        .def_property_readonly("info", py::cpp_function(&Sender::info, py::call_guard<py::gil_scoped_release>()))
        .def_property_readonly("ring", &Sender::ring)
        .def_property_readonly("payload", &Sender::payload)
        .def_property_readonly("buffers", &Sender::buffers)
        .def_property_readonly("layout", &Sender::layout)
        .def_property_readonly("ready", &Sender::ready)
        .def_property_readonly_static("DEFAULT_TIMEOUT", [](const py::object&) { return Sender::kDefault; });

    py::enum_<ReadyWait>(m, "ReadyWait")
        .value("HOST", ReadyWait::kHost)
        .value("GPU", ReadyWait::kGpu);

    py::class_<Subscriber::Frame>(m, "SubscriberFrame")
        .def_property_readonly("number", &Subscriber::Frame::number)
        .def_property_readonly("slot", &Subscriber::Frame::slot)
        .def_property_readonly("ready_wait", &Subscriber::Frame::ready_wait)
        .def_property_readonly("texture", &Subscriber::Frame::texture)
        .def_property_readonly("buffer", &Subscriber::Frame::buffer)
        .def_property_readonly("released", &Subscriber::Frame::released)
        .def("release", &Subscriber::Frame::release, py::call_guard<py::gil_scoped_release>());

    py::enum_<ZeroCopy>(m, "ZeroCopy")
        .value("AUTO", ZeroCopy::kAuto)
        .value("REQUIRE", ZeroCopy::kRequire)
        .value("NEVER", ZeroCopy::kNever);
    py::class_<Subscriber>(m, "Subscriber")
        .def_static("connect", &Subscriber::connect, py::arg("device"), py::arg("name"), py::arg("timeout_ns"),
                    py::arg("client") = "", py::arg("zero_copy") = ZeroCopy::kAuto,
                    py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("path", &Subscriber::path)
        .def_property_readonly("reason", &Subscriber::reason)
        .def_property_readonly("info", &Subscriber::info, py::return_value_policy::copy)
        .def_property_readonly("ring", &Subscriber::ring)
        .def_property_readonly("buffers", &Subscriber::buffers)
        .def_property_readonly("ready", &Subscriber::ready)
        .def(
            "ring_handle", [](const Subscriber& s, size_t slot) { return s.ring_handles().at(slot).duplicate(); },
            py::arg("slot"), "A duplicate of ring slot `slot`'s handle as sent (the caller owns its fd).")
        .def(
            "ready_handle", [](const Subscriber& s) { return s.ready_handle().duplicate(); },
            "A duplicate of the ready timeline's handle as sent (the caller owns its fd).")
        .def("next_frame", &Subscriber::next_frame, py::arg("timeout_ns"), py::arg("wait") = ReadyWait::kHost,
             py::call_guard<py::gil_scoped_release>(),
             "The next frame, once it is ready or (wait=GPU) announced (a SubscriberFrame; it releases itself "
             "when destroyed).")
        .def("release", &Subscriber::release, py::arg("frame"), py::call_guard<py::gil_scoped_release>())
        .def("request_frame", &Subscriber::request_frame, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("held", &Subscriber::held)
        .def_property_readonly("frames_dropped", &Subscriber::frames_dropped)
        .def_property_readonly("fileno", &Subscriber::native_handle);
}

}  // namespace geyser::python
