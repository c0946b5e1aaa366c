// The kMemoryHandle payload codec. It pairs a description with a POSIX file descriptor (the
// handle travels as SCM_RIGHTS), so it is built only where UniqueFd is (not on Windows).
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/wire.hpp"

namespace geyser {

namespace {

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

bool single_bit(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Both directions apply the same rules; only the error class differs (a bad argument on the way
// out, a bad peer on the way in). Returns an empty string when the description is acceptable.
std::string memory_handle_problem(const MemoryHandle& h) {
    const auto kind = static_cast<uint32_t>(h.kind);
    if (kind != static_cast<uint32_t>(ResourceKind::kTexture) &&
        kind != static_cast<uint32_t>(ResourceKind::kBuffer)) {
        return "field 'kind': unknown resource kind " + std::to_string(kind) +
               " (expected 1 = texture or 2 = buffer)";
    }
    const auto type = static_cast<uint32_t>(h.handle_type);
    if (!single_bit(type)) {
        return "field 'handle_type': expected exactly one VkExternalMemoryHandleTypeFlagBits bit, found " +
               hex(type);
    }
    // Only these two handle types are POSIX fds; any other bit would describe a handle that cannot
    // be what arrived in SCM_RIGHTS.
    if (type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT &&
        type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT) {
        return "field 'handle_type': " + hex(type) +
               " is not a file-descriptor handle type (expected opaque_fd 0x1 or dma_buf 0x200)";
    }
    if (h.size == 0) return "field 'size': allocation size must be > 0";

    const auto texture_format = static_cast<uint32_t>(h.texture_format);
    if (texture_format > static_cast<uint32_t>(TextureFormat::kRg11b10Float)) {
        return "field 'texture_format': " + std::to_string(texture_format) + " is not a TextureFormat (0..21)";
    }
    if (h.vk_tiling != VK_IMAGE_TILING_OPTIMAL && h.vk_tiling != VK_IMAGE_TILING_LINEAR &&
        h.vk_tiling != VK_IMAGE_TILING_DRM_FORMAT_MODIFIER_EXT) {
        return "field 'vk_tiling': unknown VkImageTiling " + std::to_string(static_cast<int64_t>(h.vk_tiling));
    }

    if (h.kind == ResourceKind::kTexture) {
        if (h.width == 0 || h.height == 0) {
            return "fields 'width'/'height': a texture needs a non-zero extent, found " + std::to_string(h.width) +
                   "x" + std::to_string(h.height);
        }
        if (h.vk_format == VK_FORMAT_UNDEFINED) return "field 'vk_format': a texture needs a format, found UNDEFINED";
        // VUID-VkImageCreateInfo-usage-requiredbitmask: an image's usage must not be 0.
        if (h.vk_usage == 0) return "field 'vk_usage': a texture needs at least one usage bit";
    } else {
        if (h.buffer_size == 0) return "field 'buffer_size': a buffer must be > 0 bytes";
        if (h.buffer_size > h.size) {
            return "field 'buffer_size': " + std::to_string(h.buffer_size) + " bytes exceed the allocation size " +
                   std::to_string(h.size);
        }
        // VUID-VkBufferCreateInfo-usage-requiredbitmask: a buffer's usage must not be 0.
        if (h.buffer_usage == 0) return "field 'buffer_usage': a buffer needs at least one usage bit";
    }
    return {};
}

}  // namespace

// ---- MemoryHandle codec ---------------------------------------------------------------------

std::vector<uint8_t> encode_memory_handle(const MemoryHandle& h) {
    const std::string problem = memory_handle_problem(h);
    if (!problem.empty()) throw InvalidArgumentError("cannot send this memory handle: " + problem);

    WireWriter w;
    w.u32(static_cast<uint32_t>(h.kind));
    w.u32(static_cast<uint32_t>(h.handle_type));
    w.u64(h.size);
    w.u32(h.memory_type_index);
    w.boolean(h.dedicated);
    w.uuid(h.device_uuid);
    w.uuid(h.driver_uuid);
    w.u32(h.width);
    w.u32(h.height);
    w.u32(static_cast<uint32_t>(h.vk_format));
    w.u32(h.vk_usage);
    w.u32(static_cast<uint32_t>(h.vk_tiling));
    w.u32(h.vk_create_flags);
    w.u32(static_cast<uint32_t>(h.vk_layout));
    w.u32(static_cast<uint32_t>(h.texture_format));
    w.u32(h.texture_usage);
    w.u64(h.buffer_size);
    w.u32(h.buffer_usage);
    return w.take();
}

MemoryHandle decode_memory_handle(const uint8_t* data, size_t size, UniqueFd fd) {
    if (!fd) throw ProtocolError("memory_handle: no file descriptor accompanied the description");

    WireReader r(data, size, "memory_handle");
    const uint32_t kind = r.u32("kind");
    const uint32_t handle_type = r.u32("handle_type");
    MemoryHandle h;
    h.size = r.u64("size");
    h.memory_type_index = r.u32("memory_type_index");
    h.dedicated = r.boolean("dedicated");
    h.device_uuid = r.uuid("device_uuid");
    h.driver_uuid = r.uuid("driver_uuid");
    h.width = r.u32("width");
    h.height = r.u32("height");
    const uint32_t vk_format = r.u32("vk_format");
    h.vk_usage = r.u32("vk_usage");
    const uint32_t vk_tiling = r.u32("vk_tiling");
    h.vk_create_flags = r.u32("vk_create_flags");
    const uint32_t vk_layout = r.u32("vk_layout");
    const uint32_t texture_format = r.u32("texture_format");
    h.texture_usage = r.u32("texture_usage");
    h.buffer_size = r.u64("buffer_size");
    h.buffer_usage = r.u32("buffer_usage");
    r.finish();

    // VkFormat, VkImageTiling, VkImageLayout and the handle-type bits are C enums with no fixed
    // underlying type whose enumerators are all non-negative int32 values; converting a value
    // outside that range into one is undefined behaviour, so it is refused while still a u32.
    constexpr uint32_t kEnumMax = static_cast<uint32_t>(std::numeric_limits<int32_t>::max());
    const struct {
        const char* field;
        uint32_t value;
    } vulkan_enums[] = {{"handle_type", handle_type}, {"vk_format", vk_format}, {"vk_tiling", vk_tiling},
                        {"vk_layout", vk_layout}};
    for (const auto& e : vulkan_enums) {
        if (e.value > kEnumMax) {
            throw ProtocolError(std::string("memory_handle: field '") + e.field + "': " + hex(e.value) +
                                " is not a Vulkan enum value (above INT32_MAX)");
        }
    }
    // ResourceKind and TextureFormat have a fixed uint32_t underlying type, so any value converts;
    // memory_handle_problem then rejects the unknown ones.
    h.kind = static_cast<ResourceKind>(kind);
    h.handle_type = static_cast<VkExternalMemoryHandleTypeFlagBits>(handle_type);
    h.vk_format = static_cast<VkFormat>(vk_format);
    h.vk_tiling = static_cast<VkImageTiling>(vk_tiling);
    h.vk_layout = static_cast<VkImageLayout>(vk_layout);
    h.texture_format = static_cast<TextureFormat>(texture_format);

    const std::string problem = memory_handle_problem(h);
    if (!problem.empty()) throw ProtocolError("memory_handle: " + problem);
    h.fd = std::move(fd);
    return h;
}

}  // namespace geyser
