#include "vulkan/memory_import_checks.hpp"

#include <string>

#include "geyser/formats.hpp"
#include "posix/fd_kind.hpp"
#include "text.hpp"
#include "vulkan/format_support.hpp"

namespace geyser {

namespace {

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

// The usage each layout needs (the spec's VkImageMemoryBarrier layout rules, e.g.
// VUID-VkImageMemoryBarrier-oldLayout-01210): an import transitions the image from its layout.
bool layout_fits_usage(VkImageLayout l, VkImageUsageFlags u) {
    switch (l) {
        case VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL: return (u & VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT) != 0;
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL:
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_READ_ONLY_OPTIMAL:
            return (u & VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT) != 0;
        case VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL: return (u & VK_IMAGE_USAGE_SAMPLED_BIT) != 0;
        case VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL: return (u & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;
        case VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL: return (u & VK_IMAGE_USAGE_TRANSFER_DST_BIT) != 0;
        default: return true;
    }
}

// Import of an opaque handle must repeat the exporter's allocationSize and memoryTypeIndex (the
// spec's VkMemoryAllocateInfo import rules), and the driver does not check them; compare with
// what this device requires for the identical resource. Appends each difference to `diff`.
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

}  // namespace

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
    service.check_fd(d, fd, h.size);
    return service;
}

void check_texture_tag(const MemoryHandle& h) {
    // The portable tag decides how the other side reads the bytes (an RGBA8 image tagged
    // R32_FLOAT would download as float32), and no driver can tell: refuse a contradiction first.
    if (h.kind == ResourceKind::kTexture) {
        const std::string mismatch = format_tag_mismatch(h.texture_format, h.vk_format);
        if (!mismatch.empty()) throw InvalidHandleError("texture handle " + mismatch);
    }
}

HandleTypeSupport check_image_description(const Device& d, const MemoryHandle& h, const ExternalMemoryService& service) {
    // vk_usage goes to vkGetPhysicalDeviceImageFormatProperties2 and vkCreateImage, which take only
    // VkImageUsageFlagBits; Geyser creates textures with TRANSFER_SRC .. DEPTH_STENCIL_ATTACHMENT
    // and never TRANSIENT (a transient image allows attachment usages only,
    // VUID-VkImageCreateInfo-usage-00963), so anything else is not one of its exports.
    constexpr VkImageUsageFlags kTextureUsages = 0x3F;
    if (h.vk_usage & ~kTextureUsages) {
        throw InvalidHandleError("texture handle's VkImageUsageFlags " + hex32(h.vk_usage) +
                                 " has bits outside 0x3f, which Geyser's textures never use");
    }

    // Everything the exporter created the image with must be repeated here; collect every
    // difference so the message says all that is wrong at once.
    std::string diff;
    if (h.width == 0 || h.height == 0) diff += "; extent " + std::to_string(h.width) + "x" + std::to_string(h.height);
    if (h.vk_tiling != VK_IMAGE_TILING_OPTIMAL) diff += "; tiling " + std::to_string(h.vk_tiling) + " (expected optimal)";
    if (h.vk_create_flags != 0) diff += "; create flags " + hex32(h.vk_create_flags) + " (expected 0)";
    if (!is_known_layout(h.vk_layout)) {
        diff += "; layout " + std::to_string(h.vk_layout) + " is not a shareable layout";
    } else if (!layout_fits_usage(h.vk_layout, h.vk_usage)) {
        diff += "; layout " + std::to_string(h.vk_layout) + " needs a usage that " + hex32(h.vk_usage) + " lacks";
    }
    HandleTypeSupport caps;
    if (diff.empty()) {
        std::string reason;
        if (!query_image_format(d, h.vk_format, h.vk_usage, service.handle_type(), caps, reason) ||
            !caps.importable) {
            diff += "; VkFormat " + std::to_string(h.vk_format) + " with usage " + hex32(h.vk_usage) +
                    " is not importable here";
        } else if (h.width > caps.max_width || h.height > caps.max_height) {
            diff += "; extent " + std::to_string(h.width) + "x" + std::to_string(h.height) + " exceeds maximum " +
                    std::to_string(caps.max_width) + "x" + std::to_string(caps.max_height);
        }
    }
    if (!diff.empty()) throw InvalidHandleError("texture handle does not describe a valid image: " + diff.substr(2));
    return caps;
}

void check_image_allocation(const Device& d, const MemoryHandle& h, const Requirements& req,
                            const HandleTypeSupport& caps) {
    std::string diff;
    check_allocation(d, h, req, diff);
    if (caps.dedicated_only && !h.dedicated) diff += "; this format requires a dedicated allocation";
    if (!diff.empty()) {
        throw InvalidHandleError("texture handle does not match this device's requirements for a " +
                                 std::to_string(h.width) + "x" + std::to_string(h.height) + " VkFormat " +
                                 std::to_string(h.vk_format) + " image: " + diff.substr(2));
    }
}

void check_buffer_description(const MemoryHandle& h) {
    // Every Buffer operation is a copy (vkCmdCopyBuffer*), which needs both TRANSFER bits on the
    // VkBuffer the import creates with the handle's usage; create_shareable_buffer always adds
    // them. vkCreateBuffer takes only VkBufferUsageFlagBits, some with limits of their own, so
    // only the usages Geyser creates buffers with are accepted.
    constexpr VkBufferUsageFlags kCopy = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    constexpr VkBufferUsageFlags kBufferUsages = kCopy | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |
                                                 VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_INDEX_BUFFER_BIT |
                                                 VK_BUFFER_USAGE_VERTEX_BUFFER_BIT;
    if ((h.buffer_usage & kCopy) != kCopy || (h.buffer_usage & ~kBufferUsages)) {
        throw InvalidHandleError("buffer handle's usage " + hex32(h.buffer_usage) +
                                 " is not a Geyser buffer's: those have TRANSFER_SRC and TRANSFER_DST (every "
                                 "operation is a copy) and no bits outside " + hex32(kBufferUsages));
    }
    if (h.buffer_size == 0) throw InvalidHandleError("buffer handle has size 0");
    if (h.buffer_size > h.size) {
        throw InvalidHandleError("buffer size " + std::to_string(h.buffer_size) + " exceeds its allocation size " +
                                 std::to_string(h.size));
    }
}

void release_memory(Device& d, VkDeviceMemory memory, UniqueFd& file, VkDeviceSize allocation_size) noexcept {
    if (file.valid()) {
        try {
            (void)d.repair_memory_file(file.get(), allocation_size);
        } catch (...) {
            // Freed as it is: nothing more can be done for it here.
        }
        file.reset();
    }
    if (memory != VK_NULL_HANDLE) d.vk().vkFreeMemory(d.vk_device(), memory, nullptr);
}

void check_buffer_allocation(const Device& d, const MemoryHandle& h, const Requirements& req) {
    std::string diff;
    check_allocation(d, h, req, diff);
    if (!diff.empty()) {
        throw InvalidHandleError("buffer handle does not match this device's requirements for a " +
                                 std::to_string(h.buffer_size) + "-byte buffer: " + diff.substr(2));
    }
}

}  // namespace geyser
