// Internal to the binding: one declaration per binding file.
#pragma once

#include <pybind11/pybind11.h>

namespace geyser::python {

void bind_device(pybind11::module_& m);
void bind_memory(pybind11::module_& m);

}  // namespace geyser::python
