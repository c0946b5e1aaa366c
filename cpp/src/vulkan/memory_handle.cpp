// MemoryHandle: the description of exported memory and its fd.
#include "geyser/memory.hpp"

namespace geyser {

MemoryHandle MemoryHandle::duplicate() const {
    MemoryHandle h;
    h.kind = kind;
    h.handle_type = handle_type;
    h.fd = fd.duplicate();
    h.size = size;
    h.memory_type_index = memory_type_index;
    h.dedicated = dedicated;
    h.device_uuid = device_uuid;
    h.driver_uuid = driver_uuid;
    h.width = width;
    h.height = height;
    h.vk_format = vk_format;
    h.vk_usage = vk_usage;
    h.vk_tiling = vk_tiling;
    h.vk_create_flags = vk_create_flags;
    h.vk_layout = vk_layout;
    h.texture_format = texture_format;
    h.texture_usage = texture_usage;
    h.buffer_size = buffer_size;
    h.buffer_usage = buffer_usage;
    return h;
}

}  // namespace geyser
