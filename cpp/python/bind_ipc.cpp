// Binding of geyser/channel.hpp and geyser/wire.hpp: declarations, argument names, bytes/fd
// conversion and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/channel.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender_protocol.hpp"
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

}

}  // namespace geyser::python
