// Binding of geyser/channel.hpp, geyser/wire.hpp and geyser/sender.hpp: declarations, argument
// names, bytes/fd conversion and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/channel.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender.hpp"
#include "geyser/wire.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

py::bytes to_bytes(const std::vector<uint8_t>& v) { return py::bytes(reinterpret_cast<const char*>(v.data()), v.size()); }

std::vector<uint8_t> from_bytes(const py::bytes& b) {
    std::string s = b;
    return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace

void bind_ipc(py::module_& m) {
    m.attr("MESSAGE_MEMORY_HANDLE") = static_cast<int>(MessageType::kMemoryHandle);
    m.attr("MESSAGE_TIMELINE") = static_cast<int>(MessageType::kTimelineHandle);
    m.attr("MESSAGE_HELLO") = static_cast<int>(MessageType::kHello);
    m.attr("MESSAGE_FRAME") = static_cast<int>(MessageType::kFrame);
    m.attr("MESSAGE_GOODBYE") = static_cast<int>(MessageType::kGoodbye);
    m.attr("MESSAGE_SENDER_INFO") = static_cast<int>(kSenderInfoMessage);
    m.def("runtime_dir", &runtime_dir);
    m.def("sender_socket_path", &sender_socket_path, py::arg("name"));
    m.def("check_sender_name", &check_sender_name, py::arg("name"));

    py::class_<Channel>(m, "Channel")
        .def_static("pair", [] {
            auto p = Channel::pair();
            return py::make_tuple(std::move(p.first), std::move(p.second));
        })
        .def_static("connect", &Channel::connect, py::arg("path"), py::arg("timeout_ns"),
                    py::call_guard<py::gil_scoped_release>())
        .def("send",
             [](Channel& c, uint16_t type, const py::bytes& payload, const std::vector<int>& fds, uint64_t timeout_ns) {
                 std::vector<uint8_t> p = from_bytes(payload);
                 py::gil_scoped_release nogil;
                 c.send(type, p, fds, timeout_ns);
             },
             py::arg("type"), py::arg("payload"), py::arg("fds") = std::vector<int>{},
             py::arg("timeout_ns") = kDefaultSendTimeoutNs)
        .def("receive",
             [](Channel& c, uint64_t timeout_ns) {
                 Message msg;
                 {
                     py::gil_scoped_release nogil;
                     msg = c.receive(timeout_ns);
                 }
                 py::list fds;
                 // The caller owns these fds from here on.
                 for (auto& fd : msg.fds) fds.append(fd.release());
                 return py::make_tuple(msg.type, to_bytes(msg.payload), fds);
             },
             py::arg("timeout_ns"), "(type, payload, fds): the caller owns and must close the fds.")
        .def("peer_pid", [](const Channel& c) { return c.peer_credentials().pid; })
        .def("peer_uid", [](const Channel& c) { return c.peer_credentials().uid; })
        .def("close", &Channel::close)
        .def_property_readonly("is_open", &Channel::is_open)
        .def("fileno", &Channel::native_handle);

    py::class_<Listener>(m, "Listener")
        .def_static("bind", &Listener::bind, py::arg("path"), py::arg("allow_other_users") = false)
        .def("accept", &Listener::accept, py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("path", &Listener::path)
        .def("fileno", &Listener::native_handle);

    m.def("encode_memory_handle", [](const MemoryHandle& h) { return to_bytes(encode_memory_handle(h)); });
    m.def("decode_memory_handle", [](const py::bytes& b, int fd) {
        const std::vector<uint8_t> v = from_bytes(b);
        return decode_memory_handle(v.data(), v.size(), UniqueFd(fd));
    }, py::arg("payload"), py::arg("fd"), "Takes ownership of fd.");

    py::enum_<TimelineRole>(m, "TimelineRole")
        .value("READY", TimelineRole::kReady)
        .value("RELEASED", TimelineRole::kReleased);

    py::class_<Hello>(m, "Hello")
        .def_readonly("protocol", &Hello::protocol)
        .def_readonly("pid", &Hello::pid)
        .def_readonly("subscribe", &Hello::subscribe)
        .def_readonly("client", &Hello::client);
    m.def("decode_hello", [](const py::bytes& b) {
        const std::vector<uint8_t> v = from_bytes(b);
        return decode_hello(v.data(), v.size());
    });
    m.def("encode_hello", [](bool subscribe, uint32_t pid, const std::string& client) {
        Hello h;
        h.subscribe = subscribe;
        h.pid = pid;
        h.client = client;
        return to_bytes(encode_hello(h));
    }, py::arg("subscribe"), py::arg("pid"), py::arg("client") = "");

    py::class_<SenderInfo>(m, "SenderInfo")
        .def(py::init<>())
        .def_readwrite("name", &SenderInfo::name)
        .def_readwrite("producer_pid", &SenderInfo::producer_pid)
        .def_readwrite("ring_size", &SenderInfo::ring_size)
        .def_readwrite("width", &SenderInfo::width)
        .def_readwrite("height", &SenderInfo::height)
        .def_property(
            "vk_format", [](const SenderInfo& s) { return static_cast<int>(s.vk_format); },
            [](SenderInfo& s, int v) { s.vk_format = static_cast<VkFormat>(v); })
        .def_property(
            "texture_format", [](const SenderInfo& s) { return static_cast<uint32_t>(s.texture_format); },
            [](SenderInfo& s, uint32_t v) { s.texture_format = static_cast<TextureFormat>(v); })
        .def_readwrite("texture_usage", &SenderInfo::texture_usage)
        .def_readwrite("sync_kind", &SenderInfo::sync_kind)
        .def_readwrite("current_frame", &SenderInfo::current_frame)
        .def_readwrite("subscribers", &SenderInfo::subscribers)
        .def_property(
            "device_uuid", [](const SenderInfo& s) { return uuid_bytes(s.device_uuid); },
            [](SenderInfo& s, const py::bytes& b) { s.device_uuid = uuid_from(b); })
        .def_property(
            "driver_uuid", [](const SenderInfo& s) { return uuid_bytes(s.driver_uuid); },
            [](SenderInfo& s, const py::bytes& b) { s.driver_uuid = uuid_from(b); });
    m.def("encode_sender_info", [](const SenderInfo& s) { return to_bytes(encode_sender_info(s)); });
    m.def("encode_timeline_announce",
          [](TimelineRole role, TimelineKind kind, const SyncHandle* semaphore) {
              TimelineAnnounce a;
              a.role = role;
              a.kind = kind;
              if (kind == TimelineKind::kVulkan) {
                  if (!semaphore) throw InvalidArgumentError("a Vulkan timeline needs its semaphore handle");
                  a.semaphore = semaphore->duplicate();
              }
              return to_bytes(encode_timeline_announce(a));
          },
          py::arg("role"), py::arg("kind"), py::arg("semaphore") = nullptr);
    m.def("encode_frame_message", [](uint64_t number, uint32_t slot) {
        return to_bytes(encode_frame_message({number, slot}));
    }, py::arg("number"), py::arg("slot"));
    m.def("query_sender", &query_sender, py::arg("name"), py::arg("timeout_ns"),
          py::call_guard<py::gil_scoped_release>());
    m.def("list_senders", &list_senders, py::arg("timeout_ns_each"), py::call_guard<py::gil_scoped_release>());

    py::class_<Subscriber>(m, "Subscriber")
        .def_static("connect", &Subscriber::connect, py::arg("device"), py::arg("name"), py::arg("timeout_ns"),
                    py::arg("client") = "", py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("info", &Subscriber::info, py::return_value_policy::copy)
        .def_property_readonly("ring", &Subscriber::ring)
        .def("next_frame",
             [](Subscriber& s, uint64_t timeout_ns) {
                 Subscriber::Frame f;
                 {
                     py::gil_scoped_release nogil;
                     f = s.next_frame(timeout_ns);
                 }
                 return py::make_tuple(f.number, f.slot, f.texture);
             },
             py::arg("timeout_ns"))
        .def("release", &Subscriber::release, py::arg("frame"));
}

}  // namespace geyser::python
