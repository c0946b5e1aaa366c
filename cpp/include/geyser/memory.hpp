// Shareable textures and buffers, and the handle that carries one to another process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"
#include "geyser/sync.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"

namespace geyser {

class Device;
class Timeline;

/// Everything an importer needs to import exported memory, plus the OS handle itself.
/// Move-only: it owns `fd` and closes it on destruction (close() earlier if you like).
struct MemoryHandle {
    ResourceKind kind = ResourceKind::kTexture;
    VkExternalMemoryHandleTypeFlagBits handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    UniqueFd fd;
    /// The VkDeviceMemory allocation size (the memory requirement, never width*height*texel).
    VkDeviceSize size = 0;
    uint32_t memory_type_index = 0;
    bool dedicated = false;
    Uuid device_uuid{};
    Uuid driver_uuid{};

    // Texture only.
    uint32_t width = 0;
    uint32_t height = 0;
    VkFormat vk_format = VK_FORMAT_UNDEFINED;
    VkImageUsageFlags vk_usage = 0;
    VkImageTiling vk_tiling = VK_IMAGE_TILING_OPTIMAL;
    VkImageCreateFlags vk_create_flags = 0;
    /// The layout the exporter leaves the image in each time it releases it to
    /// VK_QUEUE_FAMILY_EXTERNAL; an importer acquires it in this layout.
    VkImageLayout vk_layout = VK_IMAGE_LAYOUT_GENERAL;
    TextureFormat texture_format = TextureFormat::kUnknown;
    uint32_t texture_usage = 0;

    // Buffer only.
    VkDeviceSize buffer_size = 0;
    VkBufferUsageFlags buffer_usage = 0;

    /// Closes the fd now; the rest of the description stays readable.
    void close() noexcept { fd.reset(); }
    /// A copy of the description with a duplicate of the fd.
    MemoryHandle duplicate() const;
};

/// A 2D image and its exportable (or imported) memory. Created by Device; holds its Device
/// alive. Host I/O goes through a staging buffer and copy commands; each operation acquires the
/// image from VK_QUEUE_FAMILY_EXTERNAL and releases it back, so another process or API can use it
/// between operations. Your own command buffers do the same with begin_access/end_access.
/// Member functions are thread-safe: copies are serialised by an internal mutex (taken after a
/// SubmitSync's host waits, so a waiting copy does not hold it).
class Texture {
public:
    ~Texture();
    Texture(const Texture&) = delete;
    Texture& operator=(const Texture&) = delete;

    /// The portable description: what it was created with, or what an imported handle's tags
    /// say (format kUnknown and usage 0 for a handle described only in Vulkan terms; the label
    /// is empty for imports).
    const TextureDescriptor& descriptor() const noexcept { return descriptor_; }
    uint32_t width() const noexcept { return descriptor_.width; }
    uint32_t height() const noexcept { return descriptor_.height; }
    /// The Vulkan format the image has (for a created texture, the one format_support picked).
    VkFormat vk_format() const noexcept { return vk_format_; }
    VkImageUsageFlags vk_usage() const noexcept { return vk_usage_; }
    bool imported() const noexcept { return imported_; }
    bool dedicated() const noexcept { return dedicated_; }
    VkDeviceSize allocation_size() const noexcept { return allocation_size_; }
    uint32_t memory_type_index() const noexcept { return memory_type_; }
    VkImage vk_image() const noexcept { return image_; }
    VkDeviceMemory vk_memory() const noexcept { return memory_; }
    /// The layout the image rests in while released to VK_QUEUE_FAMILY_EXTERNAL.
    VkImageLayout external_layout() const noexcept { return external_layout_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }

    /// The aspects host I/O can address: COLOR, or DEPTH and/or STENCIL.
    VkImageAspectFlags aspects() const noexcept;
    /// Bytes a tightly packed host copy of `aspect` takes.
    size_t host_size(VkImageAspectFlagBits aspect) const;
    /// Copies `size` bytes (exactly host_size(aspect)) from host memory into the image.
    /// Throws InvalidArgumentError on a size mismatch, UnsupportedOperationError when the usage
    /// lacks TRANSFER_DST.
    /// `sync` orders the copy on the GPU after/before other work (SubmitSync).
    void upload(VkImageAspectFlagBits aspect, const void* data, size_t size, const SubmitSync& sync = {});
    /// Copies the image's `aspect` into `out` (exactly host_size(aspect) bytes).
    void download(VkImageAspectFlagBits aspect, void* out, size_t size, const SubmitSync& sync = {});

    /// The texture's frame timeline: which frame of it is ready (Device::signal_texture_ready,
    /// Device::wait_for_texture). Null until set, imported with the texture, or created by the
    /// first signal_texture_ready. The texture shares ownership of it.
    std::shared_ptr<Timeline> timeline() const;
    /// Replaces the frame timeline (null for none).
    void set_timeline(std::shared_ptr<Timeline> timeline);


    /// Records into `cb` what makes the image yours for the commands you record after it: the
    /// acquire from VK_QUEUE_FAMILY_EXTERNAL in external_layout() (the mirror of the release
    /// every Geyser operation, and every other process's end_access, ends with), then the
    /// transition to `layout`, made visible to `access` at `stages`. These are the barriers
    /// Geyser's own copies record, with TRANSFER there.
    ///
    /// The rules (docs/access.md):
    /// - `cb` is a primary or secondary command buffer you own (Geyser keeps no reference to it
    ///   and submits nothing of it), in the recording state, outside a render pass instance (an
    ///   ownership transfer inside one is invalid,
    ///   VUID-vkCmdPipelineBarrier-srcQueueFamilyIndex-01182), allocated from a pool created for
    ///   device()->queue_family_index() and submitted to device()->vk_queue() (the barriers name
    ///   that family; Vulkan cannot check which family a command buffer's pool has, so Geyser
    ///   cannot either). Submitting to that queue needs device()->queue_mutex() held.
    /// - `layout` is one Geyser shares (GENERAL, TRANSFER_SRC/DST_OPTIMAL, SHADER_READ_ONLY_OPTIMAL,
    ///   COLOR_ATTACHMENT_OPTIMAL, DEPTH_STENCIL_ATTACHMENT/READ_ONLY_OPTIMAL) that the usage
    ///   allows (VUID-VkImageMemoryBarrier-oldLayout-01208..01213); a storage image wants GENERAL.
    ///   InvalidArgumentError otherwise, and for `stages` == 0 (VkPipelineStageFlags must not be
    ///   0 without synchronization2) or a null `cb`.
    /// - Record end_access after your commands, in the same or a later command buffer submitted
    ///   after this one. Between the two, on the GPU timeline, the image belongs to your queue
    ///   family: no Geyser operation on this texture (upload, download, copies) and no other
    ///   process may use it, unless ordered by semaphores (pass the timeline your submission
    ///   signals in SubmitSync::wait) or by waiting on the host for your submission first.
    ///   Geyser's own operations return only after their GPU work has completed, so work you
    ///   submit after one returns is ordered after it. Work of another process is ordered by the
    ///   shared timeline it signals: wait on it in your submission (at `stages`) or on the host.
    /// - First use: an image no operation has used yet has no defined layout, and an acquire must
    ///   mirror a release (VUID-VkImageMemoryBarrier-oldLayout-01197). So for such an image
    ///   begin_access first submits, and waits for, Geyser's initial release (UNDEFINED ->
    ///   external_layout(), released to VK_QUEUE_FAMILY_EXTERNAL, the one export_texture does),
    ///   and then records the same acquire as always. The recorded barriers never depend on
    ///   when you submit them. Do not hold device()->queue_mutex() or pool_mutex() while calling.
    /// - Thread safety: serialised with this texture's other member functions while recording.
    ///   UnsupportedOperationError in a fork() child of the process that opened the Device.
    void begin_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages, VkAccessFlags access);
    /// Records into `cb` the end of your access: the transition from `layout` (the layout your
    /// commands left the image in) back to external_layout(), making the writes of `access` at
    /// `stages` available, then the release to VK_QUEUE_FAMILY_EXTERNAL in external_layout(),
    /// which the next acquire (Geyser's, yours, or another process's) mirrors. The rules of
    /// begin_access apply; InvalidArgumentError if this texture was never made ready for access
    /// (no begin_access, no Geyser operation, never exported), since there is nothing to release.
    void end_access(VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages, VkAccessFlags access);

private:
    friend class Device;
    Texture(std::shared_ptr<Device> device, TextureDescriptor descriptor, VkFormat vk_format,
            VkImageUsageFlags vk_usage);
    void record_initial_release();  // first use: UNDEFINED -> external layout, then release
    void transfer(VkImageAspectFlagBits aspect, void* host, size_t size, bool to_image, const SubmitSync& sync);
    void require_usage(VkImageUsageFlags bit, const char* what) const;
    VkBufferImageCopy copy_region(VkImageAspectFlagBits aspect, VkDeviceSize buffer_offset) const;
    // Around every recorded operation, Geyser's and begin_access/end_access alike: acquire from
    // VK_QUEUE_FAMILY_EXTERNAL into `work` for `access` at `stages`, and release back in the
    // external layout. Callers hold mutex_.
    void record_acquire(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages, VkAccessFlags access);
    void record_release(VkCommandBuffer cb, VkImageLayout work, VkPipelineStageFlags stages, VkAccessFlags access);
    // The checks begin_access and end_access share; `what` names the call.
    void check_access(const char* what, VkCommandBuffer cb, VkImageLayout layout, VkPipelineStageFlags stages) const;

    std::shared_ptr<Device> device_;
    TextureDescriptor descriptor_;
    VkFormat vk_format_ = VK_FORMAT_UNDEFINED;
    VkImageUsageFlags vk_usage_ = 0;
    VkImage image_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    VkDeviceSize allocation_size_ = 0;
    uint32_t memory_type_ = 0;
    bool dedicated_ = false;
    bool imported_ = false;
    bool exportable_ = true;
    // Imported memory whose driver frees it by what it keeps in the file (Mesa): a duplicate
    // of the fd, to restore that before the free (Device::keep_memory_file_for_free).
    UniqueFd memory_file_;
    // The external handle type the memory was allocated exportable as, or imported from.
    VkExternalMemoryHandleTypeFlagBits handle_type_{};
    VkImageTiling tiling_ = VK_IMAGE_TILING_OPTIMAL;
    VkImageCreateFlags create_flags_ = 0;
    VkImageLayout external_layout_ = VK_IMAGE_LAYOUT_GENERAL;
    // False until the first operation or export gives the image a defined layout.
    bool initialized_ = false;
    std::mutex mutex_;
    // The frame timeline has a lock of its own: mutex_ is held for whole copies.
    mutable std::mutex timeline_mutex_;
    std::shared_ptr<Timeline> timeline_;
};

/// A linear buffer and its exportable (or imported) memory. Holds its Device alive.
class Buffer {
public:
    ~Buffer();
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    VkDeviceSize size() const noexcept { return size_; }
    VkBufferUsageFlags usage() const noexcept { return usage_; }
    bool imported() const noexcept { return imported_; }
    bool dedicated() const noexcept { return dedicated_; }
    VkDeviceSize allocation_size() const noexcept { return allocation_size_; }
    uint32_t memory_type_index() const noexcept { return memory_type_; }
    VkBuffer vk_buffer() const noexcept { return buffer_; }
    VkDeviceMemory vk_memory() const noexcept { return memory_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }

    /// Copies `size` bytes from host memory to [offset, offset+size). Throws InvalidArgumentError
    /// when the range falls outside the buffer.
    void write(const void* data, size_t size, VkDeviceSize offset = 0, const SubmitSync& sync = {});
    /// Copies [offset, offset+size) into `out`.
    void read(void* out, size_t size, VkDeviceSize offset = 0, const SubmitSync& sync = {});

    /// Whether map() can give the host the memory itself: the buffer's memory type is
    /// HOST_VISIBLE and HOST_COHERENT (every buffer on a CPU driver such as lavapipe; resizable-BAR
    /// memory on GPUs). Defined in vulkan/buffer_map.cpp, as are map_refusal() and map().
    bool host_mappable() const noexcept;
    /// Why map() refuses on this buffer, or "" where host_mappable().
    std::string map_refusal() const;
    /// A pointer to the buffer's bytes [0, size()) in its memory, no copy: writes through it are
    /// what the GPU and every process that imported the memory see. Mapped on first use, unmapped
    /// when the buffer is destroyed (so it stays valid while the Buffer lives). Host accesses are
    /// ordered like host I/O: wait for the writer's timeline first, signal yours after.
    /// UnsupportedOperationError saying why (map_refusal()) where the memory is not host-visible
    /// and host-coherent, and in a fork() child.
    void* map();

    /// Texture::begin_access for the whole buffer, without layouts: records the acquire from
    /// VK_QUEUE_FAMILY_EXTERNAL, made visible to `access` at `stages`. The same rules: `cb` is
    /// yours, for device()->queue_family_index(), outside a render pass; between begin_access
    /// and end_access on the GPU timeline no Geyser operation on this buffer and no other
    /// process may use it unless ordered by semaphores; a buffer never released yet is first
    /// released by a submission Geyser waits for, so the acquire mirrors a release. Serialised
    /// with this buffer's other member functions; UnsupportedOperationError in a fork() child;
    /// InvalidArgumentError for a null `cb` or `stages` == 0.
    void begin_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access);
    /// Records the release back to VK_QUEUE_FAMILY_EXTERNAL, making the writes of `access` at
    /// `stages` available. InvalidArgumentError if the buffer was never made ready for access.
    void end_access(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access);

private:
    friend class Device;
    Buffer(std::shared_ptr<Device> device, VkDeviceSize size, VkBufferUsageFlags usage);
    void transfer(void* host, size_t size, VkDeviceSize offset, bool to_buffer, const SubmitSync& sync);
    void record_initial_release();  // first export before any operation: release to external
    void require_range(VkDeviceSize offset, VkDeviceSize size) const;
    // As Texture's: the one acquire and release every operation records. Callers hold mutex_.
    void record_acquire(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access);
    void record_release(VkCommandBuffer cb, VkPipelineStageFlags stages, VkAccessFlags access);
    void check_access(const char* what, VkCommandBuffer cb, VkPipelineStageFlags stages) const;

    std::shared_ptr<Device> device_;
    VkDeviceSize size_ = 0;
    VkBufferUsageFlags usage_ = 0;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    VkDeviceSize allocation_size_ = 0;
    uint32_t memory_type_ = 0;
    bool dedicated_ = false;
    bool imported_ = false;
    bool exportable_ = true;
    // Imported memory whose driver frees it by what it keeps in the file (Mesa): a duplicate
    // of the fd, to restore that before the free (Device::keep_memory_file_for_free).
    UniqueFd memory_file_;
    // The external handle type the memory was allocated exportable as, or imported from.
    VkExternalMemoryHandleTypeFlagBits handle_type_{};
    // False until the buffer has first been released to VK_QUEUE_FAMILY_EXTERNAL.
    bool initialized_ = false;
    std::mutex mutex_;
    void* mapped_ = nullptr;  // map(): the host mapping of the whole memory, once made
};

}  // namespace geyser
