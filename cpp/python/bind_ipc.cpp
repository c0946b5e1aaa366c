// Binding of geyser/channel.hpp and geyser/wire.hpp: declarations, argument names, bytes/fd
// conversion and GIL policy only.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/channel.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"
#include "geyser/wire.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

py::bytes to_bytes(const std::vector<uint8_t>& v) { return py::bytes(reinterpret_cast<const char*>(v.data()), v.size()); }

std::vector<uint8_t> from_bytes(const py::bytes& b) {
    std::string s = b;
    return std::vector<uint8_t>(s.begin(), s.end());
}

// A decoder's fd argument as an owner: an int that is an fd number, or -1 for none. Anything else
// is refused before ownership is taken (there is nothing to close): TypeError for a non-int (bool
// included, so True never becomes fd 1), InvalidHandleError for an int that no fd can have.
UniqueFd owned_fd(const py::handle& fd) {
    if (PyBool_Check(fd.ptr()) || !PyLong_Check(fd.ptr())) {
        throw py::type_error(std::string("fd must be an int (a file descriptor, or -1 for none), got ") +
                             Py_TYPE(fd.ptr())->tp_name);
    }
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(fd.ptr(), &overflow);
    if (overflow != 0 || n < -1 || n > INT32_MAX) {
        throw InvalidHandleError(py::str(fd).cast<std::string>() + " is not a file descriptor (nor -1 for none)");
    }
    return UniqueFd(static_cast<int>(n));
}

// Decodes `payload` (any C-contiguous bytes-like object) with `decode`, which owns `fd` from the
// start: the fd is closed when the payload is of the wrong type (TypeError) and on every decode
// error (the decoder's ProtocolError).
template <typename Decode>
auto decode_owning(const py::object& payload, const py::object& fd, Decode decode) {
    UniqueFd owned = owned_fd(fd);
    if (!PyObject_CheckBuffer(payload.ptr())) {
        throw py::type_error(std::string("payload must be bytes (the wire encoding), got ") +
                             Py_TYPE(payload.ptr())->tp_name);
    }
    const py::buffer_info info = py::reinterpret_borrow<py::buffer>(payload).request();
    if (!PyBuffer_IsContiguous(reinterpret_cast<Py_buffer*>(info.view()), 'C')) {
        throw py::type_error("payload must be a contiguous bytes-like object");
    }
    return decode(static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size * info.itemsize),
                  std::move(owned));
}

}  // namespace

void bind_ipc(py::module_& m) {
    m.attr("MESSAGE_MEMORY_HANDLE") = static_cast<int>(MessageType::kMemoryHandle);
    m.attr("MESSAGE_SYNC_HANDLE") = static_cast<int>(MessageType::kSyncHandle);
    m.attr("MESSAGE_TIMELINE_HANDLE") = static_cast<int>(MessageType::kTimelineHandle);
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
        .def_static("connect", &Channel::connect, py::arg("path"), py::arg("timeout_ns"), py::arg("wait_for_listener") = true,
                    py::call_guard<py::gil_scoped_release>())
        .def("send",
             [](Channel& c, uint16_t type, const py::bytes& payload, const std::vector<int>& fds, std::chrono::nanoseconds timeout_ns) {
                 std::vector<uint8_t> p = from_bytes(payload);
                 py::gil_scoped_release nogil;
                 c.send(type, p, fds, timeout_ns);
             },
             py::arg("type"), py::arg("payload"), py::arg("fds") = std::vector<int>{},
             py::arg("timeout_ns") = kDefaultSendTimeout)
        .def("receive",
             [](Channel& c, std::chrono::nanoseconds timeout_ns) {
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

    // The handle codecs (the one serialisation of each handle): what the Python handle classes'
    // to_bytes() and from_bytes() call. Each decoder owns `fd` from the start (see decode_owning).
    m.def("encode_memory_handle", [](const MemoryHandle& h) { return to_bytes(encode_memory_handle(h)); },
          py::arg("handle"));
    m.def("decode_memory_handle",
          [](const py::object& payload, const py::object& fd) { return decode_owning(payload, fd, decode_memory_handle); },
          py::arg("payload"), py::arg("fd"), "Takes ownership of fd (closed if refused).");
    m.def("encode_sync_handle", [](const SyncHandle& h) { return to_bytes(encode_sync_handle(h)); }, py::arg("handle"));
    m.def("decode_sync_handle",
          [](const py::object& payload, const py::object& fd) { return decode_owning(payload, fd, decode_sync_handle); },
          py::arg("payload"), py::arg("fd"), "Takes ownership of fd (-1 for an already-signalled sync FD).");
    m.def("encode_timeline_handle",
          [](const TimelineHandle& h) { return to_bytes(encode_timeline_handle(h)); },
          py::arg("handle"));
    m.def("decode_timeline_handle",
          [](const py::object& payload, const py::object& fd) { return decode_owning(payload, fd, decode_timeline_handle); },
          py::arg("payload"), py::arg("fd"), "Takes ownership of fd (closed if refused).");

    m.def("send_handle", py::overload_cast<Channel&, const MemoryHandle&, std::chrono::nanoseconds>(&send_handle), py::arg("channel"),
          py::arg("handle"), py::arg("timeout_ns") = kDefaultSendTimeout, py::call_guard<py::gil_scoped_release>());
    m.def("send_handle", py::overload_cast<Channel&, const SyncHandle&, std::chrono::nanoseconds>(&send_handle), py::arg("channel"),
          py::arg("handle"), py::arg("timeout_ns") = kDefaultSendTimeout, py::call_guard<py::gil_scoped_release>());
    m.def("send_handle", py::overload_cast<Channel&, const TimelineHandle&, std::chrono::nanoseconds>(&send_handle),
          py::arg("channel"), py::arg("handle"), py::arg("timeout_ns") = kDefaultSendTimeout,
          py::call_guard<py::gil_scoped_release>());
    m.def("receive_handle", static_cast<AnyHandle (*)(Channel&, std::chrono::nanoseconds)>(&receive_handle), py::arg("channel"),
          py::arg("timeout_ns"), py::call_guard<py::gil_scoped_release>(),
          "The next handle: a MemoryHandle, SyncHandle or TimelineHandle owning the fd that came with it.");
}

}  // namespace geyser::python
