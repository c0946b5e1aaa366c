#include "vulkan/memory_import_checks.hpp"

#include <string>

#include "posix/fd_kind.hpp"
#include "text.hpp"

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

const FdMemoryService& check_common(Device& d, const MemoryHandle& h, ResourceKind expected,
                                    const ExternalHandleTypes& support) {
    if (h.kind != expected) {
        throw InvalidHandleError(std::string("handle describes a ") + to_string(h.kind) + ", not a " +
                                 to_string(expected));
    }
    d.check_same_device(h.device_uuid, h.driver_uuid);
    if (!(support.importable & h.handle_type)) {
        throw UnsupportedOperationError(std::string("device '") + d.info().name + "' cannot import " +
                                        to_string(expected) + " memory as " + external_handle_type_name(h.handle_type));
    }
    const FdMemoryService& service = memory_service(h.handle_type);
    const int fd = h.fd.get();
    const FdKind kind = FdKind::of(fd, "memory");
    if (kind.never_a_payload()) {
        throw InvalidHandleError("fd " + std::to_string(fd) + " is " + kind.describe() + ", not a Vulkan memory handle (" +
                                 service.name() + ")");
    }
    service.check_fd(d, fd);
    return service;
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
