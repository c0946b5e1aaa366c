#include "geyser/memory.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "geyser/device.hpp"
#include "vulkan/external_memory.hpp"
#include "vulkan/format_support.hpp"
#include "vulkan/formats.hpp"
#include "vulkan/transfer.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

namespace {

constexpr VkExternalMemoryHandleTypeFlagBits kOpaqueFd = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;

std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}

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

VkImageCreateInfo image_info(uint32_t w, uint32_t h, VkFormat format, VkImageUsageFlags usage) {
    VkImageCreateInfo ci{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ci.imageType = VK_IMAGE_TYPE_2D;
    ci.format = format;
    ci.extent = {w, h, 1};
    ci.mipLevels = 1;
    ci.arrayLayers = 1;
    ci.samples = VK_SAMPLE_COUNT_1_BIT;
    ci.tiling = VK_IMAGE_TILING_OPTIMAL;
    ci.usage = usage;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    ci.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    return ci;
}

struct Requirements {
    VkMemoryRequirements memory{};
    bool dedicated = false;  // required or preferred
    bool required_dedicated = false;
};

Requirements image_requirements(const Device& d, VkImage image) {
    VkImageMemoryRequirementsInfo2 info{VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2};
    info.image = image;
    VkMemoryDedicatedRequirements ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
    VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
    chain(req, ded);
    d.vk().vkGetImageMemoryRequirements2(d.vk_device(), &info, &req);
    return {req.memoryRequirements, ded.prefersDedicatedAllocation || ded.requiresDedicatedAllocation,
            ded.requiresDedicatedAllocation == VK_TRUE};
}

Requirements buffer_requirements(const Device& d, VkBuffer buffer) {
    VkBufferMemoryRequirementsInfo2 info{VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2};
    info.buffer = buffer;
    VkMemoryDedicatedRequirements ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
    VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
    chain(req, ded);
    d.vk().vkGetBufferMemoryRequirements2(d.vk_device(), &info, &req);
    return {req.memoryRequirements, ded.prefersDedicatedAllocation || ded.requiresDedicatedAllocation,
            ded.requiresDedicatedAllocation == VK_TRUE};
}

// The checks every import shares: resource kind, device identity, handle type, fd kind.
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

// Import of an opaque handle must repeat the exporter's allocationSize and memoryTypeIndex (the
// spec's VkMemoryAllocateInfo import rules), and the driver does not check them; compare with
// what this device requires for the identical resource.
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

// ---------------------------------------------------------------------------------------------
// Device: capabilities, creation, export, import.

std::shared_ptr<Texture> Device::create_shareable_texture(const TextureDescriptor& desc) {
    require_owner_process("create a texture");
    require_memory_export("textures");
    check_descriptor(desc);
    const FormatSupport support = format_support(desc.format, desc.usage);
    const FormatInfo& info = format_info(desc.format);
    if (!support.shareable()) {
        throw UnsupportedFormatError(std::string(info.name) + " with usage " + texture_usage_to_string(desc.usage) +
                                     " cannot be shared as opaque_fd on '" + info_.name + "': " + support.reason);
    }
    const HandleTypeSupport& caps = support.handle_types.at(kOpaqueFd);
    if (desc.width > caps.max_width || desc.height > caps.max_height) {
        throw InvalidArgumentError("texture extent " + std::to_string(desc.width) + "x" + std::to_string(desc.height) +
                                   " exceeds this format's maximum " + std::to_string(caps.max_width) + "x" +
                                   std::to_string(caps.max_height));
    }
    const VkImageUsageFlags vk_usage = vk_image_usage(desc.format, desc.usage);

    std::shared_ptr<Texture> tex(new Texture(shared_from_this(), desc, support.vk_format, vk_usage));
    VkExternalMemoryImageCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO};
    ext.handleTypes = kOpaqueFd;
    VkImageCreateInfo ci = image_info(desc.width, desc.height, support.vk_format, vk_usage);
    chain(ci, ext);
    vk_call("vkCreateImage", [&] { return table_->vkCreateImage(device_, &ci, nullptr, &tex->image_); });

    const Requirements req = image_requirements(*this, tex->image_);
    tex->dedicated_ = req.dedicated || caps.dedicated_only;
    tex->allocation_size_ = req.memory.size;
    tex->memory_type_ = choose_memory_type(req.memory.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);

    VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
    export_info.handleTypes = kOpaqueFd;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.memory.size;
    mai.memoryTypeIndex = tex->memory_type_;
    chain(mai, export_info);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    if (tex->dedicated_) {
        dedicated.image = tex->image_;
        chain(mai, dedicated);
    }
    vk_call("vkAllocateMemory(export)", [&] { return table_->vkAllocateMemory(device_, &mai, nullptr, &tex->memory_); });
    vk_call("vkBindImageMemory", [&] { return table_->vkBindImageMemory(device_, tex->image_, tex->memory_, 0); });
    return tex;
}

MemoryHandle Device::export_texture(Texture& texture) {
    require_owner_process("export a texture");
    if (texture.device_.get() != this) {
        throw DeviceMismatchError("texture belongs to device '" + texture.device_->info().name +
                                  "', not to this Device object");
    }
    if (!texture.exportable_) {
        throw UnsupportedOperationError("this texture was imported into memory the driver cannot export again; "
                                        "forward the original handle instead (handle.duplicate())");
    }
    {
        std::lock_guard<std::mutex> lock(texture.mutex_);
        if (!texture.initialized_) texture.record_initial_release();
    }
    MemoryHandle h;
    h.kind = ResourceKind::kTexture;
    h.handle_type = kOpaqueFd;
    h.fd = export_memory(*this, texture.memory_, kOpaqueFd);
    h.size = texture.allocation_size_;
    h.memory_type_index = texture.memory_type_;
    h.dedicated = texture.dedicated_;
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    h.width = texture.descriptor_.width;
    h.height = texture.descriptor_.height;
    h.vk_format = texture.vk_format_;
    h.vk_usage = texture.vk_usage_;
    h.vk_tiling = VK_IMAGE_TILING_OPTIMAL;
    h.vk_create_flags = 0;
    h.vk_layout = texture.external_layout_;
    h.texture_format = texture.descriptor_.format;
    h.texture_usage = texture.descriptor_.usage;
    return h;
}

std::shared_ptr<Texture> Device::import_texture(const MemoryHandle& h) {
    require_owner_process("import a texture");
    require_memory_export("textures");
    // The portable tag decides how the other side reads the bytes (an RGBA8 image tagged
    // R32_FLOAT would download as float32), and no driver can tell: refuse a contradiction first.
    if (h.kind == ResourceKind::kTexture) {
        const std::string mismatch = format_tag_mismatch(h.texture_format, h.vk_format);
        if (!mismatch.empty()) throw InvalidHandleError("texture handle " + mismatch);
    }
    check_common(*this, h, ResourceKind::kTexture, info_.image_memory);
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
    if (!is_known_layout(h.vk_layout)) diff += "; layout " + std::to_string(h.vk_layout) + " is not a shareable layout";
    HandleTypeSupport caps;
    if (diff.empty()) {
        std::string reason;
        if (!query_image_format(*this, h.vk_format, h.vk_usage, h.handle_type, caps, reason) || !caps.importable) {
            diff += "; VkFormat " + std::to_string(h.vk_format) + " with usage " + hex32(h.vk_usage) +
                    " is not importable here";
        } else if (h.width > caps.max_width || h.height > caps.max_height) {
            diff += "; extent " + std::to_string(h.width) + "x" + std::to_string(h.height) + " exceeds maximum " +
                    std::to_string(caps.max_width) + "x" + std::to_string(caps.max_height);
        }
    }
    if (!diff.empty()) throw InvalidHandleError("texture handle does not describe a valid image: " + diff.substr(2));

    TextureDescriptor desc;
    desc.width = h.width;
    desc.height = h.height;
    desc.format = h.texture_format;
    desc.usage = h.texture_usage;
    std::shared_ptr<Texture> tex(new Texture(shared_from_this(), desc, h.vk_format, h.vk_usage));
    VkExternalMemoryImageCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO};
    ext.handleTypes = h.handle_type;
    VkImageCreateInfo ci = image_info(h.width, h.height, h.vk_format, h.vk_usage);
    chain(ci, ext);
    vk_call("vkCreateImage", [&] { return table_->vkCreateImage(device_, &ci, nullptr, &tex->image_); });

    const Requirements req = image_requirements(*this, tex->image_);
    check_allocation(*this, h, req, diff);
    if (caps.dedicated_only && !h.dedicated) diff += "; this format requires a dedicated allocation";
    if (!diff.empty()) {
        throw InvalidHandleError("texture handle does not match this device's requirements for a " +
                                 std::to_string(h.width) + "x" + std::to_string(h.height) + " VkFormat " +
                                 std::to_string(h.vk_format) + " image: " + diff.substr(2));
    }

    MemoryImport request{h.handle_type, h.fd.get(), h.size, h.memory_type_index};
    if (h.dedicated) request.dedicated_image = tex->image_;
    tex->memory_ = import_memory(*this, request);
    tex->allocation_size_ = h.size;
    tex->memory_type_ = h.memory_type_index;
    tex->dedicated_ = h.dedicated;
    tex->imported_ = true;
    tex->exportable_ = false;
    tex->external_layout_ = h.vk_layout == VK_IMAGE_LAYOUT_UNDEFINED ? VK_IMAGE_LAYOUT_GENERAL : h.vk_layout;
    tex->initialized_ = h.vk_layout != VK_IMAGE_LAYOUT_UNDEFINED;
    vk_call("vkBindImageMemory(import)", [&] { return table_->vkBindImageMemory(device_, tex->image_, tex->memory_, 0); });
    return tex;
}

std::shared_ptr<Buffer> Device::create_shareable_buffer(VkDeviceSize size, VkBufferUsageFlags usage) {
    require_owner_process("create a buffer");
    require_memory_export("buffers");
    if (size == 0) throw InvalidArgumentError("buffer size must be non-zero");
    usage |= VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    {
        VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
        info.usage = usage;
        info.handleType = kOpaqueFd;
        VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
        vkGetPhysicalDeviceExternalBufferProperties(physical_, &info, &props);
        const auto f = props.externalMemoryProperties.externalMemoryFeatures;
        if (!(f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) || !(f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT)) {
            throw UnsupportedOperationError("buffers with usage " + hex32(usage) + " cannot be shared as opaque_fd on '" +
                                            info_.name + "'");
        }
    }
    std::shared_ptr<Buffer> buf(new Buffer(shared_from_this(), size, usage));
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = kOpaqueFd;
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = usage;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    chain(bci, ext);
    vk_call("vkCreateBuffer", [&] { return table_->vkCreateBuffer(device_, &bci, nullptr, &buf->buffer_); });
    const Requirements req = buffer_requirements(*this, buf->buffer_);
    buf->dedicated_ = req.dedicated;
    buf->allocation_size_ = req.memory.size;
    buf->memory_type_ = choose_memory_type(req.memory.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
    export_info.handleTypes = kOpaqueFd;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.memory.size;
    mai.memoryTypeIndex = buf->memory_type_;
    chain(mai, export_info);
    VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
    if (buf->dedicated_) {
        dedicated.buffer = buf->buffer_;
        chain(mai, dedicated);
    }
    vk_call("vkAllocateMemory(export)", [&] { return table_->vkAllocateMemory(device_, &mai, nullptr, &buf->memory_); });
    vk_call("vkBindBufferMemory", [&] { return table_->vkBindBufferMemory(device_, buf->buffer_, buf->memory_, 0); });
    return buf;
}

std::shared_ptr<Texture> Device::import_texture(const MemoryHandle& handle, std::shared_ptr<Timeline> timeline) {
    auto texture = import_texture(handle);
    texture->set_timeline(std::move(timeline));
    return texture;
}

void Device::release_texture_handle(MemoryHandle& handle) {
    if (handle.kind != ResourceKind::kTexture) {
        throw InvalidHandleError(std::string("release_texture_handle got a ") + to_string(handle.kind) + "'s handle");
    }
    handle.close();
}

void Device::release_buffer_handle(MemoryHandle& handle) {
    if (handle.kind != ResourceKind::kBuffer) {
        throw InvalidHandleError(std::string("release_buffer_handle got a ") + to_string(handle.kind) + "'s handle");
    }
    handle.close();
}

MemoryHandle Device::export_buffer(Buffer& buffer) {
    require_owner_process("export a buffer");
    if (buffer.device_.get() != this) {
        throw DeviceMismatchError("buffer belongs to device '" + buffer.device_->info().name +
                                  "', not to this Device object");
    }
    if (!buffer.exportable_) {
        throw UnsupportedOperationError("this buffer was imported into memory the driver cannot export again; "
                                        "forward the original handle instead (handle.duplicate())");
    }
    {
        std::lock_guard<std::mutex> lock(buffer.mutex_);
        if (!buffer.initialized_) buffer.record_initial_release();
    }
    MemoryHandle h;
    h.kind = ResourceKind::kBuffer;
    h.handle_type = kOpaqueFd;
    h.fd = export_memory(*this, buffer.memory_, kOpaqueFd);
    h.size = buffer.allocation_size_;
    h.memory_type_index = buffer.memory_type_;
    h.dedicated = buffer.dedicated_;
    h.device_uuid = info_.device_uuid;
    h.driver_uuid = info_.driver_uuid;
    h.buffer_size = buffer.size_;
    h.buffer_usage = buffer.usage_;
    return h;
}

std::shared_ptr<Buffer> Device::import_buffer(const MemoryHandle& h) {
    require_owner_process("import a buffer");
    require_memory_export("buffers");
    check_common(*this, h, ResourceKind::kBuffer, info_.buffer_memory);
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
    std::shared_ptr<Buffer> buf(new Buffer(shared_from_this(), h.buffer_size, h.buffer_usage));
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = h.handle_type;
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = h.buffer_size;
    bci.usage = h.buffer_usage;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    chain(bci, ext);
    if (h.buffer_usage == 0) throw InvalidHandleError("buffer handle has no usage flags");
    vk_call("vkCreateBuffer", [&] { return table_->vkCreateBuffer(device_, &bci, nullptr, &buf->buffer_); });
    const Requirements req = buffer_requirements(*this, buf->buffer_);
    std::string diff;
    check_allocation(*this, h, req, diff);
    if (!diff.empty()) {
        throw InvalidHandleError("buffer handle does not match this device's requirements for a " +
                                 std::to_string(h.buffer_size) + "-byte buffer: " + diff.substr(2));
    }
    MemoryImport request{h.handle_type, h.fd.get(), h.size, h.memory_type_index};
    if (h.dedicated) request.dedicated_buffer = buf->buffer_;
    buf->memory_ = import_memory(*this, request);
    buf->allocation_size_ = h.size;
    buf->memory_type_ = h.memory_type_index;
    buf->dedicated_ = h.dedicated;
    buf->imported_ = true;
    buf->initialized_ = true;
    buf->exportable_ = false;
    vk_call("vkBindBufferMemory(import)", [&] { return table_->vkBindBufferMemory(device_, buf->buffer_, buf->memory_, 0); });
    return buf;
}

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

// ---------------------------------------------------------------------------------------------
// Texture

Texture::Texture(std::shared_ptr<Device> device, TextureDescriptor descriptor, VkFormat vk_format,
                 VkImageUsageFlags vk_usage)
    : device_(std::move(device)), descriptor_(std::move(descriptor)), vk_format_(vk_format), vk_usage_(vk_usage) {}

Texture::~Texture() {
    if (device_->inherited_across_fork()) return;  // the parent's objects are the parent's
    const auto& vk = device_->vk();
    if (image_ != VK_NULL_HANDLE) vk.vkDestroyImage(device_->vk_device(), image_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vk.vkFreeMemory(device_->vk_device(), memory_, nullptr);
}

VkImageAspectFlags Texture::aspects() const noexcept {
    try {
        return format_aspects(vk_format_);
    } catch (...) {
        return 0;
    }
}

size_t Texture::host_size(VkImageAspectFlagBits aspect) const {
    return static_cast<size_t>(descriptor_.width) * descriptor_.height * aspect_texel_size(vk_format_, aspect);
}

namespace {

VkImageMemoryBarrier image_barrier(VkImage image, VkImageAspectFlags aspects, VkImageLayout from, VkImageLayout to,
                                   uint32_t src_family, uint32_t dst_family, VkAccessFlags src_access,
                                   VkAccessFlags dst_access) {
    VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
    b.srcAccessMask = src_access;
    b.dstAccessMask = dst_access;
    b.oldLayout = from;
    b.newLayout = to;
    b.srcQueueFamilyIndex = src_family;
    b.dstQueueFamilyIndex = dst_family;
    b.image = image;
    b.subresourceRange = {aspects, 0, 1, 0, 1};
    return b;
}

}  // namespace

void Texture::record_initial_release() {
    // A new image has no defined layout; give it the resting layout and release it to the
    // external queue family, so the next acquire (an importer's in the handle's layout, or
    // begin_access's) mirrors a release. The release is the one every operation ends with, from
    // UNDEFINED: a never-used image holds nothing to keep.
    OneTimeCommands cmds(*device_);
    record_release(cmds.cmd(), VK_IMAGE_LAYOUT_UNDEFINED, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0);
    cmds.submit_and_wait();
    initialized_ = true;
}

std::shared_ptr<Timeline> Texture::timeline() const {
    std::lock_guard<std::mutex> lock(timeline_mutex_);
    return timeline_;
}

void Texture::set_timeline(std::shared_ptr<Timeline> timeline) {
    std::lock_guard<std::mutex> lock(timeline_mutex_);
    timeline_ = std::move(timeline);
}

void Texture::upload(VkImageAspectFlagBits aspect, const void* data, size_t size, const SubmitSync& sync) {
    transfer(aspect, const_cast<void*>(data), size, true, sync);
}

void Texture::download(VkImageAspectFlagBits aspect, void* out, size_t size, const SubmitSync& sync) {
    transfer(aspect, out, size, false, sync);
}

void Texture::transfer(VkImageAspectFlagBits aspect, void* host, size_t size, bool to_image, const SubmitSync& sync) {
    device_->require_owner_process(to_image ? "upload to a texture" : "download a texture");
    require_usage(to_image ? VK_IMAGE_USAGE_TRANSFER_DST_BIT : VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                  to_image ? "uploaded to" : "downloaded from");
    const size_t expected = host_size(aspect);
    if (size != expected) {
        throw InvalidArgumentError("expected " + std::to_string(expected) + " bytes for a " +
                                   std::to_string(descriptor_.width) + "x" + std::to_string(descriptor_.height) +
                                   " texture, got " + std::to_string(size));
    }
    const SplitSync split(*device_, sync);
    split.wait_on_host();
    std::lock_guard<std::mutex> lock(mutex_);
    StagingBuffer staging(*device_, size, !to_image);
    if (to_image) std::memcpy(staging.data(), host, size);

    const auto& vk = device_->vk();
    const VkImageLayout work = to_image ? VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL : VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    const VkAccessFlags access = to_image ? VK_ACCESS_TRANSFER_WRITE_BIT : VK_ACCESS_TRANSFER_READ_BIT;
    OneTimeCommands cmds(*device_);
    VkCommandBuffer cb = cmds.cmd();
    record_acquire(cb, work, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    const VkBufferImageCopy region = copy_region(aspect, 0);
    if (to_image) {
        vk.vkCmdCopyBufferToImage(cb, staging.buffer(), image_, work, 1, &region);
    } else {
        vk.vkCmdCopyImageToBuffer(cb, image_, work, staging.buffer(), 1, &region);
        VkMemoryBarrier host_read{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        host_read.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        host_read.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &host_read, 0,
                                nullptr, 0, nullptr);
    }
    record_release(cb, work, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    cmds.submit_and_wait(split);
    initialized_ = true;
    if (!to_image) std::memcpy(host, staging.data(), size);
    split.signal_on_host();
}

void Texture::require_usage(VkImageUsageFlags bit, const char* what) const {
    if (!(vk_usage_ & bit)) {
        throw UnsupportedOperationError(std::string("texture usage lacks ") +
                                        (bit == VK_IMAGE_USAGE_TRANSFER_DST_BIT ? "COPY_DST" : "COPY_SRC") +
                                        ", so it cannot be " + what);
    }
}

VkBufferImageCopy Texture::copy_region(VkImageAspectFlagBits aspect, VkDeviceSize buffer_offset) const {
    VkBufferImageCopy region{};
    region.bufferOffset = buffer_offset;
    region.imageSubresource = {static_cast<VkImageAspectFlags>(aspect), 0, 0, 1};
    region.imageExtent = {descriptor_.width, descriptor_.height, 1};
    return region;
}

void Texture::record_acquire(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages,
                             VkAccessFlags access) {
    const auto& vk = device_->vk();
    const VkImageAspectFlags all = format_aspects(vk_format_);
    if (!initialized_) {
        // Only Geyser's own operations get here (begin_access releases a new image first): they
        // submit this command buffer and wait for it under mutex_, so nothing can acquire the
        // image between this transition and their release.
        VkImageMemoryBarrier init = image_barrier(image_, all, VK_IMAGE_LAYOUT_UNDEFINED, work, VK_QUEUE_FAMILY_IGNORED,
                                                  VK_QUEUE_FAMILY_IGNORED, 0, access);
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 0, nullptr, 1, &init);
        return;
    }
    // Acquire from the external queue family in exactly the layout the releasing side named
    // (the acquire must mirror the release), then move to the working layout. An acquire's
    // source scope is empty: what orders it after the release is a semaphore or a host wait.
    VkImageMemoryBarrier acquire = image_barrier(image_, all, external_layout_, external_layout_,
                                                 VK_QUEUE_FAMILY_EXTERNAL, device_->queue_family_index(), 0, access);
    vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 0, nullptr, 1, &acquire);
    if (external_layout_ != work) {
        VkImageMemoryBarrier to_work = image_barrier(image_, all, external_layout_, work, VK_QUEUE_FAMILY_IGNORED,
                                                     VK_QUEUE_FAMILY_IGNORED, access, access);
        vk.vkCmdPipelineBarrier(cb, stages, stages, 0, 0, nullptr, 0, nullptr, 1, &to_work);
    }
}

void Texture::record_release(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages,
                             VkAccessFlags access) {
    const auto& vk = device_->vk();
    const VkImageAspectFlags all = format_aspects(vk_format_);
    if (external_layout_ != work) {
        VkImageMemoryBarrier back = image_barrier(image_, all, work, external_layout_, VK_QUEUE_FAMILY_IGNORED,
                                                  VK_QUEUE_FAMILY_IGNORED, access, 0);
        vk.vkCmdPipelineBarrier(cb, stages, stages, 0, 0, nullptr, 0, nullptr, 1, &back);
    }
    // The release names the same layout twice: the acquire that mirrors it (in another process,
    // perhaps) only knows external_layout(), carried in the handle.
    VkImageMemoryBarrier release = image_barrier(image_, all, external_layout_, external_layout_,
                                                 device_->queue_family_index(), VK_QUEUE_FAMILY_EXTERNAL, access, 0);
    vk.vkCmdPipelineBarrier(cb, stages, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 0, nullptr, 1,
                            &release);
}

namespace {

// Why `layout` cannot be the layout of an access to an image of `usage`; empty when it can. A
// barrier's layouts need the usage that goes with them (VUID-VkImageMemoryBarrier-oldLayout-01208
// to -01213), a transition's new layout must not be UNDEFINED or PREINITIALIZED
// (VUID-VkImageMemoryBarrier-newLayout-01198), and Geyser shares only the core layouts.
std::string access_layout_problem(VkImageLayout layout, VkImageUsageFlags usage) {
    struct Rule {
        VkImageLayout layout;
        const char* name;
        VkImageUsageFlags any_of;  // 0: any usage
        const char* usage_name;
    };
    static const Rule kRules[] = {
        {VK_IMAGE_LAYOUT_GENERAL, "GENERAL", 0, ""},
        {VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, "COLOR_ATTACHMENT_OPTIMAL", VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT,
         "COLOR_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL, "DEPTH_STENCIL_ATTACHMENT_OPTIMAL",
         VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, "DEPTH_STENCIL_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_DEPTH_STENCIL_READ_ONLY_OPTIMAL, "DEPTH_STENCIL_READ_ONLY_OPTIMAL",
         VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, "DEPTH_STENCIL_ATTACHMENT (RENDER_ATTACHMENT)"},
        {VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, "SHADER_READ_ONLY_OPTIMAL",
         VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_INPUT_ATTACHMENT_BIT, "SAMPLED (TEXTURE_BINDING)"},
        {VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, "TRANSFER_SRC_OPTIMAL", VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
         "TRANSFER_SRC (COPY_SRC)"},
        {VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, "TRANSFER_DST_OPTIMAL", VK_IMAGE_USAGE_TRANSFER_DST_BIT,
         "TRANSFER_DST (COPY_DST)"},
    };
    std::string names;
    for (const Rule& r : kRules) {
        if (r.layout == layout) {
            if (r.any_of != 0 && !(usage & r.any_of)) {
                return std::string("layout ") + r.name + " needs usage " + r.usage_name +
                       ", which this texture lacks (usage " + hex32(usage) + ")";
            }
            return {};
        }
        names += names.empty() ? r.name : std::string(", ") + r.name;
    }
    return "VkImageLayout " + std::to_string(static_cast<int64_t>(layout)) +
           " is not a layout Geyser shares; use one of " + names;
}

}  // namespace

void Texture::check_access(const char* what, VkCommandBuffer cb, VkImageLayout layout,
                           VkPipelineStageFlags stages) const {
    device_->require_owner_process(what);
    if (cb == VK_NULL_HANDLE) {
        throw InvalidArgumentError(std::string("cannot ") + what + ": the command buffer is null");
    }
    // Without synchronization2, which Geyser does not enable, a barrier's stage masks must not be
    // 0 (VUID-vkCmdPipelineBarrier-srcStageMask-03937 and -dstStageMask-03937).
    if (stages == 0) {
        throw InvalidArgumentError(std::string("cannot ") + what +
                                   ": stages is 0; name the pipeline stages your commands run in");
    }
    const std::string problem = access_layout_problem(layout, vk_usage_);
    if (!problem.empty()) throw InvalidArgumentError(std::string("cannot ") + what + ": " + problem);
}

void Texture::begin_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages,
                           VkAccessFlags access) {
    check_access("begin access to a texture", cb, layout, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    // An acquire must mirror a release (VUID-VkImageMemoryBarrier-oldLayout-01197: its layout is
    // the image's current one). A never-used image has none, and recording UNDEFINED -> layout
    // here would make the state depend on when the caller submits `cb` (a Geyser operation or an
    // export in between would acquire what was never released). So release it now, on the GPU,
    // and record the acquire every later access records.
    if (!initialized_) record_initial_release();
    record_acquire(cb, layout, stages, access);
}

void Texture::end_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages,
                         VkAccessFlags access) {
    check_access("end access to a texture", cb, layout, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!initialized_) {
        throw InvalidArgumentError("cannot end access to a texture whose access never began: call begin_access "
                                   "first (nothing has acquired it from VK_QUEUE_FAMILY_EXTERNAL)");
    }
    record_release(cb, layout, stages, access);
}

// ---------------------------------------------------------------------------------------------
// Buffer

Buffer::Buffer(std::shared_ptr<Device> device, VkDeviceSize size, VkBufferUsageFlags usage)
    : device_(std::move(device)), size_(size), usage_(usage) {}

Buffer::~Buffer() {
    if (device_->inherited_across_fork()) return;  // the parent's objects are the parent's
    const auto& vk = device_->vk();
    if (buffer_ != VK_NULL_HANDLE) vk.vkDestroyBuffer(device_->vk_device(), buffer_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vk.vkFreeMemory(device_->vk_device(), memory_, nullptr);
}

void Buffer::write(const void* data, size_t size, VkDeviceSize offset, const SubmitSync& sync) {
    transfer(const_cast<void*>(data), size, offset, true, sync);
}

void Buffer::read(void* out, size_t size, VkDeviceSize offset, const SubmitSync& sync) {
    transfer(out, size, offset, false, sync);
}

void Buffer::transfer(void* host, size_t size, VkDeviceSize offset, bool to_buffer, const SubmitSync& sync) {
    device_->require_owner_process(to_buffer ? "write a buffer" : "read a buffer");
    require_range(offset, size);
    if (size == 0) {
        if (!sync.wait.empty() || !sync.signal.empty() || sync.fence) {
            throw InvalidArgumentError("a zero-byte copy submits nothing, so it cannot wait or signal");
        }
        return;
    }
    const SplitSync split(*device_, sync);
    split.wait_on_host();
    std::lock_guard<std::mutex> lock(mutex_);
    StagingBuffer staging(*device_, size, !to_buffer);
    if (to_buffer) std::memcpy(staging.data(), host, size);
    const auto& vk = device_->vk();
    const VkAccessFlags access = to_buffer ? VK_ACCESS_TRANSFER_WRITE_BIT : VK_ACCESS_TRANSFER_READ_BIT;
    OneTimeCommands cmds(*device_);
    VkCommandBuffer cb = cmds.cmd();
    record_acquire(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    VkBufferCopy region{};
    region.size = size;
    if (to_buffer) {
        region.dstOffset = offset;
        vk.vkCmdCopyBuffer(cb, staging.buffer(), buffer_, 1, &region);
    } else {
        region.srcOffset = offset;
        vk.vkCmdCopyBuffer(cb, buffer_, staging.buffer(), 1, &region);
        VkMemoryBarrier host_read{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        host_read.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        host_read.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &host_read, 0,
                                nullptr, 0, nullptr);
    }
    record_release(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, access);
    cmds.submit_and_wait(split);
    initialized_ = true;
    if (!to_buffer) std::memcpy(host, staging.data(), size);
    split.signal_on_host();
}

void Buffer::require_range(VkDeviceSize offset, VkDeviceSize size) const {
    if (offset > size_ || size > size_ - offset) {
        throw InvalidArgumentError("range [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                                   ") is outside the " + std::to_string(size_) + "-byte buffer");
    }
}

namespace {

VkBufferMemoryBarrier whole_buffer_barrier(VkBuffer buffer, uint32_t src_family, uint32_t dst_family,
                                           VkAccessFlags src_access, VkAccessFlags dst_access) {
    VkBufferMemoryBarrier b{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    b.buffer = buffer;
    b.size = VK_WHOLE_SIZE;
    b.srcQueueFamilyIndex = src_family;
    b.dstQueueFamilyIndex = dst_family;
    b.srcAccessMask = src_access;
    b.dstAccessMask = dst_access;
    return b;
}

}  // namespace

void Buffer::record_acquire(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    // Buffers rest released to the external queue family, like textures, so another process or
    // API may use them between operations; a buffer never released yet has nothing to acquire
    // (only Geyser's own operations, which submit and wait under mutex_, get here with one).
    if (!initialized_) return;
    VkBufferMemoryBarrier b =
        whole_buffer_barrier(buffer_, VK_QUEUE_FAMILY_EXTERNAL, device_->queue_family_index(), 0, access);
    device_->vk().vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, stages, 0, 0, nullptr, 1, &b, 0,
                                       nullptr);
}

void Buffer::record_release(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    VkBufferMemoryBarrier b =
        whole_buffer_barrier(buffer_, device_->queue_family_index(), VK_QUEUE_FAMILY_EXTERNAL, access, 0);
    device_->vk().vkCmdPipelineBarrier(cb, stages, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 1, &b, 0,
                                       nullptr);
}

void Buffer::record_initial_release() {
    OneTimeCommands cmds(*device_);
    record_release(cmds.cmd(), VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0);
    cmds.submit_and_wait();
    initialized_ = true;
}

void Buffer::check_access(const char* what, VkCommandBuffer cb, VkPipelineStageFlags stages) const {
    device_->require_owner_process(what);
    if (cb == VK_NULL_HANDLE) {
        throw InvalidArgumentError(std::string("cannot ") + what + ": the command buffer is null");
    }
    if (stages == 0) {
        throw InvalidArgumentError(std::string("cannot ") + what +
                                   ": stages is 0; name the pipeline stages your commands run in");
    }
}

void Buffer::begin_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    check_access("begin access to a buffer", cb, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    // As Texture::begin_access: the acquire recorded here mirrors a release that has happened.
    if (!initialized_) record_initial_release();
    record_acquire(cb, stages, access);
}

void Buffer::end_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access) {
    check_access("end access to a buffer", cb, stages);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!initialized_) {
        throw InvalidArgumentError("cannot end access to a buffer whose access never began: call begin_access "
                                   "first (nothing has acquired it from VK_QUEUE_FAMILY_EXTERNAL)");
    }
    record_release(cb, stages, access);
}

// ---------------------------------------------------------------------------------------------
// Device: copies between shared resources, ordered by SubmitSync.

void Device::copy_texture(Texture& src, Texture& dst, const SubmitSync& sync) {
    require_owner_process("copy a texture");
    if (src.device_.get() != this || dst.device_.get() != this) {
        throw DeviceMismatchError("both textures of a copy must belong to this Device object");
    }
    if (&src == &dst) throw InvalidArgumentError("cannot copy a texture onto itself");
    if (src.vk_format_ != dst.vk_format_ || src.width() != dst.width() || src.height() != dst.height()) {
        throw InvalidArgumentError("a texture copy needs the same format and extent: source " +
                                   std::to_string(src.width()) + "x" + std::to_string(src.height()) + " VkFormat " +
                                   std::to_string(src.vk_format_) + ", destination " + std::to_string(dst.width()) +
                                   "x" + std::to_string(dst.height()) + " VkFormat " + std::to_string(dst.vk_format_));
    }
    src.require_usage(VK_IMAGE_USAGE_TRANSFER_SRC_BIT, "copied from");
    dst.require_usage(VK_IMAGE_USAGE_TRANSFER_DST_BIT, "copied to");
    const SplitSync split(*this, sync);
    split.wait_on_host();
    std::scoped_lock lock(src.mutex_, dst.mutex_);
    OneTimeCommands cmds(*this);
    VkCommandBuffer cb = cmds.cmd();
    constexpr VkPipelineStageFlags kTransfer = VK_PIPELINE_STAGE_TRANSFER_BIT;
    src.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    VkImageCopy region{};
    const VkImageAspectFlags aspects = format_aspects(src.vk_format_);
    region.srcSubresource = {aspects, 0, 0, 1};
    region.dstSubresource = {aspects, 0, 0, 1};
    region.extent = {src.width(), src.height(), 1};
    table_->vkCmdCopyImage(cb, src.image_, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, dst.image_,
                           VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
    src.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    cmds.submit_and_wait(split);
    src.initialized_ = true;
    dst.initialized_ = true;
    split.signal_on_host();
}

void Device::copy_buffer_to_texture(Buffer& src, Texture& dst, VkImageAspectFlagBits aspect, VkDeviceSize offset,
                                    const SubmitSync& sync) {
    require_owner_process("copy a buffer to a texture");
    if (src.device_.get() != this || dst.device_.get() != this) {
        throw DeviceMismatchError("the buffer and the texture of a copy must belong to this Device object");
    }
    const VkDeviceSize needed = dst.host_size(aspect);
    src.require_range(offset, needed);
    // vkCmdCopyBufferToImage: bufferOffset must be a multiple of the texel size (and of 4 for
    // depth/stencil).
    const VkDeviceSize texel = aspect_texel_size(dst.vk_format_, aspect);
    const VkDeviceSize align = (aspect == VK_IMAGE_ASPECT_COLOR_BIT) ? texel : 4;
    if (offset % align != 0) {
        throw InvalidArgumentError("buffer offset " + std::to_string(offset) + " must be a multiple of " +
                                   std::to_string(align));
    }
    dst.require_usage(VK_IMAGE_USAGE_TRANSFER_DST_BIT, "copied to");
    const SplitSync split(*this, sync);
    split.wait_on_host();
    std::scoped_lock lock(src.mutex_, dst.mutex_);
    OneTimeCommands cmds(*this);
    VkCommandBuffer cb = cmds.cmd();
    constexpr VkPipelineStageFlags kTransfer = VK_PIPELINE_STAGE_TRANSFER_BIT;
    src.record_acquire(cb, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_acquire(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    const VkBufferImageCopy region = dst.copy_region(aspect, offset);
    table_->vkCmdCopyBufferToImage(cb, src.buffer_, dst.image_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
    src.record_release(cb, kTransfer, VK_ACCESS_TRANSFER_READ_BIT);
    dst.record_release(cb, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, kTransfer, VK_ACCESS_TRANSFER_WRITE_BIT);
    cmds.submit_and_wait(split);
    src.initialized_ = true;
    dst.initialized_ = true;
    split.signal_on_host();
}

}  // namespace geyser
