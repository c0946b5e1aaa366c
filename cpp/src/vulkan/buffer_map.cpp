// Buffer: the host mapping of a buffer whose memory is host-visible and host-coherent, so that
// the host reads and writes the shared memory itself, with no staging copy.
#include <mutex>
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "text.hpp"
#include "vulkan/vk.hpp"

namespace geyser {
namespace {

constexpr VkMemoryPropertyFlags kMappable = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

VkMemoryPropertyFlags memory_flags(const Device& device, uint32_t memory_type) {
    const VkPhysicalDeviceMemoryProperties& props = device.memory_properties();
    return memory_type < props.memoryTypeCount ? props.memoryTypes[memory_type].propertyFlags : 0;
}

}  // namespace

bool Buffer::host_mappable() const noexcept {
    return (memory_flags(*device_, memory_type_) & kMappable) == kMappable;
}

std::string Buffer::map_refusal() const {
    const VkMemoryPropertyFlags f = memory_flags(*device_, memory_type_);
    const std::string where = "this buffer's memory (type " + std::to_string(memory_type_) + ", property flags " +
                              hex32(f) + ") on '" + device_->info().name + "'";
    if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
        return where + " is not host-visible: the host reaches it only through copies (read/write)";
    }
    if (!(f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
        return where + " is host-visible but not host-coherent: a view would need explicit flushes; use "
                       "read/write";
    }
    return "";
}

void* Buffer::map() {
    device_->require_owner_process("map a buffer");
    std::lock_guard<std::mutex> lock(mutex_);
    if (mapped_ != nullptr) return mapped_;
    if (!host_mappable()) throw UnsupportedOperationError(map_refusal());
    // The buffer is bound at offset 0 of its memory, so the mapping starts at its first byte.
    // vkFreeMemory in ~Buffer unmaps it.
    vk_call("vkMapMemory(buffer)", [&] {
        return device_->vk().vkMapMemory(device_->vk_device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_);
    });
    return mapped_;
}

}  // namespace geyser
