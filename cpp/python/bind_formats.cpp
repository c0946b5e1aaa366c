// Binding of geyser/formats.hpp: declarations, argument names and type conversion only.
// geyser.formats builds its TextureFormat, TextureUsage and Aspect enums and its FORMATS table
// from what this exposes, so Python keeps no format numbers of its own.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "geyser/error.hpp"
#include "geyser/formats.hpp"

namespace py = pybind11;

namespace geyser::python {

namespace {

// A Python int as one uint32_t field of a TextureDescriptor. A value that does not fit is refused
// as an InvalidArgumentError naming the field (pybind11 would raise a TypeError that names no
// field); whether a value that fits is valid is check_descriptor's call.
uint32_t u32_field(const py::int_& v, const char* name) {
    int overflow = 0;
    const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (overflow != 0 || x < 0 || x > static_cast<long long>(UINT32_MAX)) {
        throw InvalidArgumentError(std::string(name) + " " + std::string(py::str(v)) +
                                   " is not a 32-bit unsigned value");
    }
    return static_cast<uint32_t>(x);
}

py::tuple vk_formats_of(const FormatInfo& f) {
    std::vector<int> v;
    for (VkFormat vk : f.vk_formats) {
        if (vk != VK_FORMAT_UNDEFINED) v.push_back(static_cast<int>(vk));
    }
    return py::cast(v);
}

}  // namespace

void bind_formats(py::module_& m) {
    py::class_<FormatInfo>(m, "FormatInfo", "One row of the C++ format table (geyser::FormatInfo).")
        .def_property_readonly("format", [](const FormatInfo& f) { return static_cast<uint32_t>(f.format); })
        .def_property_readonly("name", [](const FormatInfo& f) { return std::string(f.name); })
        .def_property_readonly("vk_formats", &vk_formats_of, "The Vulkan formats, in order of preference.")
        .def_readonly("aspects", &FormatInfo::aspects)
        .def_property_readonly("dtype", [](const FormatInfo& f) { return std::string(host_scalar_name(f.scalar)); },
                               "numpy's name for the scalar of the colour or depth aspect's host copy.")
        .def_readonly("channels", &FormatInfo::channels)
        .def_readonly("packed", &FormatInfo::packed)
        .def_readonly("mtl_format", &FormatInfo::mtl_format)
        .def_property_readonly(
            "gl_internal_formats",
            [](const FormatInfo& f) {
                std::vector<uint32_t> v;
                for (size_t i = 0; i < f.vk_formats.size(); ++i) {
                    if (f.vk_formats[i] != VK_FORMAT_UNDEFINED) v.push_back(f.gl_internal_formats[i]);
                }
                return py::tuple(py::cast(v));
            },
            "The GL internal formats, parallel to vk_formats (0: GL has none).");

    m.def("format_table", &format_table, py::return_value_policy::reference);
    m.def("format_info",
          [](const py::int_& format) { return &format_info(static_cast<TextureFormat>(u32_field(format, "format"))); },
          py::arg("format"), py::return_value_policy::reference);
    m.def("format_info", [](const std::string& name) { return &format_info(name); }, py::arg("name"),
          py::return_value_policy::reference);
    m.def("texture_format_for", [](int vk_format) {
        return static_cast<uint32_t>(texture_format_for(static_cast<VkFormat>(vk_format)));
    }, py::arg("vk_format"));
    m.def("format_tag_mismatch", [](uint32_t tag, int vk_format) {
        return format_tag_mismatch(static_cast<TextureFormat>(tag), static_cast<VkFormat>(vk_format));
    }, py::arg("texture_format"), py::arg("vk_format"));
    m.def(
        "host_layout",
        [](uint32_t format, int vk_format, uint32_t aspect) {
            const HostLayout l = host_layout(static_cast<TextureFormat>(format), static_cast<VkFormat>(vk_format),
                                             static_cast<VkImageAspectFlagBits>(aspect));
            return py::make_tuple(std::string(host_scalar_name(l.scalar)), l.channels, l.texel_size);
        },
        py::arg("format"), py::arg("vk_format"), py::arg("aspect"),
        "(numpy dtype name, channels, bytes per texel) of one aspect's host copy.");
    m.def("vk_image_usage", [](uint32_t format, uint32_t usage) {
        return vk_image_usage(static_cast<TextureFormat>(format), usage);
    }, py::arg("format"), py::arg("usage"));
    m.def(
        "check_descriptor",
        [](const py::int_& width, const py::int_& height, const py::int_& format, const py::int_& usage) {
            TextureDescriptor d;
            d.width = u32_field(width, "width");
            d.height = u32_field(height, "height");
            d.format = static_cast<TextureFormat>(u32_field(format, "format"));
            d.usage = u32_field(usage, "usage");
            check_descriptor(d);
        },
        py::arg("width"), py::arg("height"), py::arg("format"), py::arg("usage"));
    m.def("texture_usage_name", [](uint32_t bit) -> py::object {
        const char* n = texture_usage_name(bit);
        return n ? py::object(py::str(n)) : py::object(py::none());
    }, py::arg("bit"));
    m.attr("TEXTURE_USAGE_ALL") = static_cast<uint32_t>(kTextureUsageAll);
    m.attr("D24_MASK") = kD24Mask;
    m.attr("MAX_TEXTURE_EXTENT") = kMaxTextureExtent;
    m.attr("ASPECT_COLOR") = static_cast<uint32_t>(VK_IMAGE_ASPECT_COLOR_BIT);
    m.attr("ASPECT_DEPTH") = static_cast<uint32_t>(VK_IMAGE_ASPECT_DEPTH_BIT);
    m.attr("ASPECT_STENCIL") = static_cast<uint32_t>(VK_IMAGE_ASPECT_STENCIL_BIT);
}

}  // namespace geyser::python
