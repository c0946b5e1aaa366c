#include "vulkan/memory_import_checks.hpp"

#include <string>

#include "text.hpp"
#include "vulkan/external_memory.hpp"

namespace geyser {

bool is_known_layout(VkImageLayout l) {
    switch (l) {
        case VK_IMAGE_LAYOUT_UNDEFINED:
        case VK_IMAGE_LAYOUT_GENERAL:
        case VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL:
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL:
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_READ_ONLY_OPTIMAL:
        case VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL:
        case VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL:
        case VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL:
            return true;
        default:
            return false;
    }
}

void check_common(Device& d, const MemoryHandle& h, ResourceKind expected, const ExternalHandleTypes& support) {
    if (h.kind != expected) {
        throw InvalidHandleError(std::string("handle describes a ") + to_string(h.kind) + ", not a " +
                                 to_string(expected));
    }
    d.check_same_device(h.device_uuid, h.driver_uuid);
    if (!(support.importable & h.handle_type)) {
        throw UnsupportedOperationError(std::string("device '") + d.info().name + "' cannot import " +
                                        to_string(expected) + " memory as " + external_handle_type_name(h.handle_type));
    }
    check_memory_fd(d, h.fd.get(), h.handle_type);
}

void check_allocation(const Device& d, const MemoryHandle& h, const Requirements& req, std::string& diff) {
    if (h.size != req.memory.size) {
        diff += "; size " + std::to_string(h.size) + " != required " + std::to_string(req.memory.size);
    }
    if (h.memory_type_index >= d.memory_properties().memoryTypeCount ||
        !(req.memory.memoryTypeBits & (1u << h.memory_type_index))) {
        diff += "; memory type " + std::to_string(h.memory_type_index) + " not in allowed mask " +
                hex32(req.memory.memoryTypeBits);
    }
    if (req.required_dedicated && !h.dedicated) diff += "; this device requires a dedicated allocation";
}

}  // namespace geyser
