#include "geyser/copy_to.hpp"

#include <vector>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/types.hpp"

namespace geyser {

namespace {

// The device the handle was exported by, as this process sees it.
std::shared_ptr<Device> source_device(const MemoryHandle& handle) {
    for (const DeviceInfo& d : enumerate_devices()) {
        if (d.device_uuid == handle.device_uuid && d.driver_uuid == handle.driver_uuid) {
            return Device::open(uuid_to_hex(handle.device_uuid));
        }
    }
    throw DeviceMismatchError("the handle's device " + uuid_to_hex(handle.device_uuid) + " (driver " +
                              uuid_to_hex(handle.driver_uuid) +
                              ") is not visible in this process, so it cannot be copied from here: copy it "
                              "in a process that sees that device");
}

}  // namespace

std::shared_ptr<Texture> copy_texture_to(const std::shared_ptr<Device>& device, const MemoryHandle& handle) {
    if (!device) throw InvalidArgumentError("copy_texture_to: no device");
    device->require_owner_process("copy a texture to this device");
    if (handle.kind != ResourceKind::kTexture) throw InvalidHandleError("copy_texture_to takes a texture handle");
    if (handle.texture_format == TextureFormat::kUnknown) {
        throw InvalidHandleError("the texture handle carries no portable format, so no texture of another device "
                                 "can be made to match it");
    }
    const std::shared_ptr<Device> source = source_device(handle);
    const std::shared_ptr<Texture> from = source->import_texture(handle);
    TextureDescriptor desc;
    desc.width = handle.width;
    desc.height = handle.height;
    desc.format = handle.texture_format;
    desc.usage = handle.texture_usage;
    std::shared_ptr<Texture> to = device->create_shareable_texture(desc);
    std::vector<uint8_t> host;
    for (uint32_t bit = 1; bit <= VK_IMAGE_ASPECT_STENCIL_BIT; bit <<= 1) {
        if (!(from->aspects() & bit)) continue;
        const auto aspect = static_cast<VkImageAspectFlagBits>(bit);
        host.resize(from->host_size(aspect));
        from->download(aspect, host.data(), host.size());
        to->upload(aspect, host.data(), host.size());
    }
    return to;
}

std::shared_ptr<Buffer> copy_buffer_to(const std::shared_ptr<Device>& device, const MemoryHandle& handle) {
    if (!device) throw InvalidArgumentError("copy_buffer_to: no device");
    device->require_owner_process("copy a buffer to this device");
    if (handle.kind != ResourceKind::kBuffer) throw InvalidHandleError("copy_buffer_to takes a buffer handle");
    const std::shared_ptr<Device> source = source_device(handle);
    const std::shared_ptr<Buffer> from = source->import_buffer(handle);
    std::shared_ptr<Buffer> to = device->create_shareable_buffer(from->size(), from->usage());
    std::vector<uint8_t> host(static_cast<size_t>(from->size()));
    from->read(host.data(), host.size());
    to->write(host.data(), host.size());
    return to;
}

}  // namespace geyser
