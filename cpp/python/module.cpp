// geyser._native: the pybind11 module. Maps every geyser::Error onto its mirror in geyser.errors,
// once, and registers the binding files. No logic lives here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"

namespace py = pybind11;

namespace {

// Python classes for each core error, fetched from geyser.errors when the module loads.
struct ErrorClasses {
    py::object base, unavailable, vulkan, unsupported_format, unsupported_operation, invalid_handle,
        device_mismatch, timeout, peer_gone, dropped, protocol, invalid_argument, os_error, cuda, gl;
};

ErrorClasses& classes() {
    // Leaked on purpose: exception classes must outlive every call that might raise them, and
    // destroying Python objects at interpreter exit from a C++ static is unsafe.
    static ErrorClasses* c = new ErrorClasses();
    return *c;
}

void raise(const py::object& cls, const std::exception& e) {
    py::object instance = cls(e.what());
    PyErr_SetObject(cls.ptr(), instance.ptr());
}

// Python runs signal handlers in the main thread only, so only a wait there checks for them.
unsigned long g_main_thread = 0;

// The core's interrupt check (interrupt.hpp): a pending Ctrl-C (or any signal whose handler
// raises) ends the wait with the handler's exception, KeyboardInterrupt for SIGINT.
void check_python_signals() {
    if (PyThread_get_thread_ident() != g_main_thread) return;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "Geyser's C++ core (geyser::core) exposed to Python. Use the geyser package instead.";
    py::module_ errors = py::module_::import("geyser.errors");
    ErrorClasses& c = classes();
    c.base = errors.attr("GeyserError");
    c.unavailable = errors.attr("VulkanUnavailableError");
    c.vulkan = errors.attr("VulkanError");
    c.unsupported_format = errors.attr("UnsupportedFormatError");
    c.unsupported_operation = errors.attr("UnsupportedOperationError");
    c.invalid_handle = errors.attr("InvalidHandleError");
    c.device_mismatch = errors.attr("DeviceMismatchError");
    c.timeout = errors.attr("TimeoutError");
    c.peer_gone = errors.attr("PeerGoneError");
    c.dropped = errors.attr("SubscriptionDroppedError");
    c.protocol = errors.attr("ProtocolError");
    c.invalid_argument = errors.attr("InvalidArgumentError");
    c.os_error = errors.attr("GeyserOSError");
    c.cuda = errors.attr("CudaError");
    c.gl = errors.attr("GLError");

    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        const ErrorClasses& c = classes();
        try {
            std::rethrow_exception(p);
        } catch (const geyser::VulkanError& e) {
            py::object instance = c.vulkan(e.what());
            instance.attr("result") = e.result();
            instance.attr("result_name") = e.result_name();
            instance.attr("call") = e.call();
            PyErr_SetObject(c.vulkan.ptr(), instance.ptr());
        } catch (const geyser::CudaError& e) {
            py::object instance = c.cuda(e.what());
            instance.attr("result") = e.result();
            instance.attr("result_name") = e.result_name();
            instance.attr("call") = e.call();
            PyErr_SetObject(c.cuda.ptr(), instance.ptr());
        } catch (const geyser::GLError& e) {
            py::object instance = c.gl(e.what());
            instance.attr("error") = e.error();
            instance.attr("error_name") = e.error_name();
            instance.attr("call") = e.call();
            PyErr_SetObject(c.gl.ptr(), instance.ptr());
        } catch (const geyser::OsError& e) {
            py::object instance = c.os_error(e.what());
            instance.attr("errno") = e.error_code();
            instance.attr("call") = e.call();
            PyErr_SetObject(c.os_error.ptr(), instance.ptr());
        } catch (const geyser::VulkanUnavailableError& e) {
            raise(c.unavailable, e);
        } catch (const geyser::UnsupportedFormatError& e) {
            raise(c.unsupported_format, e);
        } catch (const geyser::UnsupportedOperationError& e) {
            raise(c.unsupported_operation, e);
        } catch (const geyser::InvalidHandleError& e) {
            raise(c.invalid_handle, e);
        } catch (const geyser::DeviceMismatchError& e) {
            raise(c.device_mismatch, e);
        } catch (const geyser::TimeoutError& e) {
            raise(c.timeout, e);
        } catch (const geyser::PeerGoneError& e) {
            raise(c.peer_gone, e);
        } catch (const geyser::SubscriptionDroppedError& e) {
            raise(c.dropped, e);
        } catch (const geyser::ProtocolError& e) {
            raise(c.protocol, e);
        } catch (const geyser::InvalidArgumentError& e) {
            raise(c.invalid_argument, e);
        } catch (const geyser::Error& e) {
            raise(c.base, e);
        }
    });

    g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    geyser::set_interrupt_check(&check_python_signals);

    m.def("validation_messages", &geyser::validation_messages,
          "Validation-layer warnings and errors seen so far (GEYSER_VALIDATION=1).");
    m.def("clear_validation_messages", &geyser::clear_validation_messages);
    m.def("validation_enabled", &geyser::validation_enabled);

    // One binding file per core header. Bound before their users: pybind11 converts default
    // arguments when a function is bound (Device's TimelineChoice::kAuto, SyncList{}).
    geyser::python::bind_formats(m);
    geyser::python::bind_sync(m);
    geyser::python::bind_timeline(m);
    geyser::python::bind_device(m);
    geyser::python::bind_memory(m);
    geyser::python::bind_ipc(m);
    geyser::python::bind_tensor_layout(m);
    geyser::python::bind_sender(m);
    geyser::python::bind_cuda(m);
    geyser::python::bind_cuda_frames(m);
    geyser::python::bind_peer_copy(m);
    geyser::python::bind_gpu_topology(m);
    geyser::python::bind_gl(m);
    geyser::python::bind_explain(m);
}
