// Physical-device discovery and the logical Device that owns every Geyser object's parent state.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"
#include "geyser/timeline.hpp"
#include "geyser/types.hpp"

struct VolkDeviceTable;

namespace geyser {

class Instance;
class Texture;
class Buffer;
struct MemoryHandle;
struct SyncHandle;
struct SubmitSync;
class MemoryFileRules;
enum class SemaphoreType : uint32_t;

/// External handle types (VkExternal*HandleTypeFlags bit masks) a device can export and import
/// for one kind of object. A type counts only when the device also has the extension for it.
struct ExternalHandleTypes {
    uint32_t exportable = 0;
    uint32_t importable = 0;
};

/// What `devices()` reports for one physical device. Plain data; safe to copy.
struct DeviceInfo {
    uint32_t index = 0;
    std::string name;
    std::string driver_name;
    std::string driver_info;
    /// VkPhysicalDeviceDriverProperties::driverID; 0 where the device does not report one.
    VkDriverId driver_id = static_cast<VkDriverId>(0);
    uint32_t driver_version = 0;
    uint32_t api_version = 0;
    uint32_t vendor_id = 0;
    uint32_t device_id = 0;
    VkPhysicalDeviceType device_type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    Uuid device_uuid{};
    Uuid driver_uuid{};
    bool timeline_semaphores = false;
    /// Optimal-tiling RGBA8 sampled/transfer image memory.
    ExternalHandleTypes image_memory;
    /// Transfer-usage buffer memory.
    ExternalHandleTypes buffer_memory;
    ExternalHandleTypes binary_semaphore;
    ExternalHandleTypes timeline_semaphore;
    ExternalHandleTypes fence;
    std::vector<std::string> extensions;
};

/// Every physical device the Vulkan loader reports, in the loader's order.
/// Throws VulkanUnavailableError when there is no loader or no driver.
std::vector<DeviceInfo> enumerate_devices();

/// What one external memory handle type allows for a 2D optimal-tiling image of one VkFormat and
/// usage (vkGetPhysicalDeviceImageFormatProperties2 with VkPhysicalDeviceExternalImageFormatInfo).
/// Plain data.
struct HandleTypeSupport {
    bool exportable = false;
    bool importable = false;
    bool dedicated_only = false;  ///< Export and import need a dedicated allocation.
    uint32_t max_width = 0;
    uint32_t max_height = 0;
};

/// What Device::format_support answers for one TextureFormat and usage, asked before any
/// allocation. Plain data; safe to copy.
struct FormatSupport {
    TextureFormat format = TextureFormat::kUnknown;
    /// The TextureUsage bits asked about.
    uint32_t usage = 0;
    /// The Vulkan format the device would use: the first of the format's vk_formats that is
    /// exportable and importable as an opaque FD, else the first it can create with external
    /// memory at all; VK_FORMAT_UNDEFINED when it can create none.
    VkFormat vk_format = VK_FORMAT_UNDEFINED;
    /// For vk_format, each memory handle type (a VkExternalMemoryHandleTypeFlagBits bit) the device
    /// has the extension for and can create the image with.
    std::map<uint32_t, HandleTypeSupport> handle_types;
    /// Why the format is not shareable; empty when it is.
    std::string reason;

    /// Exportable and importable as an opaque FD, the handle type create_shareable_texture uses.
    bool shareable() const noexcept;
};

/// An open logical device with one queue. Created by Device::open and shared: every Texture,
/// Buffer and sync object holds a std::shared_ptr to its Device, so the VkDevice is destroyed only
/// after the last of them. All public member functions are thread-safe.
///
/// Device is the front end of everything Geyser does with a GPU, so this declaration lists it all,
/// grouped by concept. The rule for where each group is defined: with its concept, next to the
/// class it makes or uses (the file is named in the group's heading), so each concept's logic is
/// in one file; device.cpp holds only the device itself (discovery, opening, the fork guard) and
/// the queries and raw handles at the end. docs/architecture.md has the whole layout.
class Device : public std::enable_shared_from_this<Device> {
public:
    // ---- The device itself (cpp/src/vulkan/device.cpp)
    /// Opens a device. `selector` empty means the GEYSER_DEVICE environment variable, else the
    /// first discrete GPU, else integrated, else any other, else a CPU driver. Otherwise it is a
    /// device index ("0"), a device UUID (32 hex digits, dashes allowed), a CUDA ordinal
    /// ("cuda:1": the GPU CUDA numbers 1 under this process's CUDA_VISIBLE_DEVICES, matched by
    /// UUID; geyser/gpu_topology.hpp) or a case-insensitive substring of the device name. Throws
    /// VulkanUnavailableError if nothing matches; for a CUDA ordinal, UnsupportedOperationError
    /// saying why when CUDA cannot be used here, InvalidArgumentError for a malformed one or one
    /// CUDA does not have.
    static std::shared_ptr<Device> open(const std::string& selector = {});

    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    const DeviceInfo& info() const noexcept { return info_; }
    /// Whether this process is a fork() child that inherited this Device from the parent that
    /// opened it. Vulkan objects cannot be used across fork(): every operation on an inherited
    /// Device, and on the textures, buffers, semaphores and fences made with it, throws
    /// UnsupportedOperationError, and destroying them in the child frees nothing (the parent's
    /// objects are the parent's). Send objects to a child through a channel or a
    /// multiprocessing Queue or Pipe instead: the child imports them on a device of its own.
    /// The raw accessors below (vk(), vk_device(), vk_queue(), command_pool(), the mutexes) are
    /// not checked: C++ code that records its own work must check this first.
    bool inherited_across_fork() const noexcept;
    /// Throws UnsupportedOperationError if inherited_across_fork(); `what` names the operation.
    void require_owner_process(const char* what) const;

    // ---- Format support (cpp/src/vulkan/format_support.cpp)
    /// Whether a texture of `format` with `usage` (TextureUsage bits) can be shared, and as
    /// which VkFormat; asked before any allocation. An empty usage is answered "not shareable"
    /// with the reason. Throws InvalidArgumentError for a format outside the table or bits that
    /// are not TextureUsage bits.
    FormatSupport format_support(TextureFormat format, uint32_t usage) const;

    // ---- Textures (cpp/src/vulkan/texture.cpp)
    /// Creates a 2D optimal-tiling image whose memory is allocated exportable as an opaque FD.
    /// Checks the descriptor (check_descriptor: InvalidArgumentError), picks the VkFormat
    /// format_support names and derives the VkImageUsageFlags (vk_image_usage) before any Vulkan
    /// object is created: UnsupportedFormatError with the reason when the device cannot share the
    /// format with that usage, InvalidArgumentError when the extent exceeds the device's maximum.
    std::shared_ptr<Texture> create_shareable_texture(const TextureDescriptor& desc);
    /// A fresh OS handle to the texture's memory, plus everything an importer must know. The
    /// caller owns the returned handle (and so its fd). Exporting twice gives two fds.
    MemoryHandle export_texture(Texture& texture);
    /// Imports a texture from a handle. Checks the handle first: a non-zero texture_format tag
    /// must be in the table and list the handle's vk_format (InvalidHandleError naming both,
    /// before any driver call); then against this device (UUIDs, kind, handle type, image
    /// parameters, size, memory type, dedication). Then it imports a duplicate of its fd:
    /// `handle` keeps its fd and stays usable whatever happens.
    std::shared_ptr<Texture> import_texture(const MemoryHandle& handle);
    /// import_texture(handle), with `timeline` as the texture's frame timeline (Texture::timeline).
    std::shared_ptr<Texture> import_texture(const MemoryHandle& handle, std::shared_ptr<Timeline> timeline);
    /// Releases what an export of a texture holds: closes the handle's fd (the description stays
    /// readable). InvalidHandleError for a buffer's handle.
    void release_texture_handle(MemoryHandle& handle);

    // ---- Buffers (cpp/src/vulkan/buffer.cpp)
    /// Creates a buffer whose memory is allocated exportable. `usage` gains TRANSFER_SRC|DST.
    std::shared_ptr<Buffer> create_shareable_buffer(VkDeviceSize size, VkBufferUsageFlags usage = 0);
    MemoryHandle export_buffer(Buffer& buffer);
    std::shared_ptr<Buffer> import_buffer(const MemoryHandle& handle);
    /// Closes a buffer handle's fd. InvalidHandleError for a texture's handle.
    void release_buffer_handle(MemoryHandle& handle);

    // ---- Copies between shared resources (cpp/src/vulkan/copies.cpp)
    /// Copies `src` into `dst` on the GPU (same format and extent; COPY_SRC / COPY_DST usage),
    /// acquiring both from and releasing both to VK_QUEUE_FAMILY_EXTERNAL, ordered by `sync`.
    void copy_texture(Texture& src, Texture& dst, const SubmitSync& sync);
    /// Copies host_size(aspect) tightly packed bytes at `offset` of `src` into `dst`'s `aspect`.
    void copy_buffer_to_texture(Buffer& src, Texture& dst, VkImageAspectFlagBits aspect, VkDeviceSize offset,
                                const SubmitSync& sync);

    // ---- Semaphores (cpp/src/vulkan/semaphore.cpp)
    /// Creates a semaphore exportable as every handle type the device supports for its type.
    /// Throws UnsupportedOperationError when the device cannot export that semaphore type (or,
    /// for timelines, has no timeline semaphores at all). The caller shares ownership.
    std::shared_ptr<Semaphore> create_shared_semaphore(SemaphoreType type, uint64_t initial_value = 0);
    /// Creates a local (not exportable) semaphore, for ordering this process's own GPU work.
    /// Throws UnsupportedOperationError for a timeline on a device without timeline semaphores.
    std::shared_ptr<Semaphore> create_semaphore(SemaphoreType type, uint64_t initial_value = 0);
    /// A new OS handle for `semaphore` as `handle_type` (opaque FD by default; sync FD for binary
    /// semaphores only, where the driver supports it). The caller owns the handle.
    SyncHandle export_semaphore(Semaphore& semaphore,
                                uint32_t handle_type = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT);
    /// Imports a semaphore. Checks primitive, UUIDs, handle type, permanence and (if given) the
    /// expected type before the driver sees the fd, and imports a duplicate of it.
    std::shared_ptr<Semaphore> import_semaphore(const SyncHandle& handle);

    // ---- Fences (cpp/src/vulkan/fence.cpp)
    /// Creates a fence exportable as every handle type the device supports. Throws
    /// UnsupportedOperationError when the device cannot export fences.
    std::shared_ptr<Fence> create_shared_fence(bool signaled = false);
    /// Creates a local (not exportable) fence.
    std::shared_ptr<Fence> create_fence(bool signaled = false);
    SyncHandle export_fence(Fence& fence, uint32_t handle_type = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT);
    std::shared_ptr<Fence> import_fence(const SyncHandle& handle);

    // ---- Timelines, and a texture's frame timeline (cpp/src/sync/timeline.cpp)
    /// A timeline another process can import: kVulkan (an exportable timeline semaphore; throws
    /// UnsupportedOperationError where the device cannot export one), kPortable, or kAuto (kVulkan
    /// where the device can export timeline semaphores as opaque FD, else kPortable). Starts at
    /// `initial_value`. The caller shares ownership. InvalidArgumentError for an unknown choice.
    std::shared_ptr<Timeline> create_shared_timeline(TimelineChoice choice = TimelineChoice::kAuto,
                                                     uint64_t initial_value = 0);
    /// A timeline for this process's own ordering: kVulkan is a local timeline semaphore (it
    /// cannot be exported; UnsupportedOperationError without timeline semaphores), kPortable a
    /// portable timeline, kAuto kVulkan wherever the device has timeline semaphores, else kPortable.
    std::shared_ptr<Timeline> create_timeline(TimelineChoice choice = TimelineChoice::kAuto,
                                              uint64_t initial_value = 0);
    /// A new OS handle for `timeline` (a duplicate fd each time). The caller owns the handle.
    /// DeviceMismatchError for another Device's timeline; UnsupportedOperationError for a local
    /// Vulkan one (create_timeline).
    TimelineHandle export_timeline(Timeline& timeline);
    /// Imports a timeline from a handle, as a duplicate of its fd: `handle` keeps its fd whatever
    /// happens. A kVulkan handle must describe a timeline semaphore, checked (with the rest of
    /// import_semaphore's checks) before the driver sees the fd; a kPortable one is opened with
    /// PortableTimeline::import_fd. Anything else, a closed fd, or an fd in the other kind's
    /// place throws InvalidHandleError, and no fd is left open.
    std::shared_ptr<Timeline> import_timeline(const TimelineHandle& handle);

    /// Says frame `value` of `texture` is ready: signals its frame timeline (Texture::timeline),
    /// creating a shared one (kAuto, from 0) on first use. As Timeline::signal: equal is a no-op,
    /// lower throws InvalidArgumentError. DeviceMismatchError for another Device's texture.
    void signal_texture_ready(Texture& texture, uint64_t value);
    /// Waits until frame `value` of `texture` is ready (its frame timeline reaches it).
    /// UnsupportedOperationError when the texture has no timeline; TimeoutError after
    /// `timeout`; PeerGoneError when a portable one was abandoned first.
    void wait_for_texture(Texture& texture, uint64_t value, std::chrono::nanoseconds timeout);

    // ---- Raw handles and queries (cpp/src/vulkan/device.cpp), for the core's own implementation
    // files and for C++ users who record their own work (docs/access.md: Texture::begin_access and
    // end_access say when an image is yours). Borrowed: valid for the Device's lifetime; destroy
    // none of them.
    /// The process-wide VkInstance every Device shares, created for Vulkan 1.2 where the loader
    /// has it, else 1.1 (the device's own version is DeviceInfo::api_version).
    VkInstance vk_instance() const noexcept;
    VkDevice vk_device() const noexcept { return device_; }
    VkPhysicalDevice vk_physical_device() const noexcept { return physical_; }
    /// The device's one queue. vkQueueSubmit needs it externally synchronised: hold
    /// queue_mutex() around your own submissions to it.
    VkQueue vk_queue() const noexcept { return queue_; }
    /// The queue family of vk_queue(): create the command pools of work on Geyser's resources for
    /// it, since their acquire and release barriers name it.
    uint32_t queue_family_index() const noexcept { return queue_family_; }
    /// The per-device function table (volk). Valid for the Device's lifetime. To call through it,
    /// include <volk.h> with VK_NO_PROTOTYPES defined and the same VK_USE_PLATFORM_* macros as
    /// the core (none on Linux; VK_USE_PLATFORM_WIN32_KHR on Windows), or the table's layout differs.
    const VolkDeviceTable& vk() const noexcept { return *table_; }
    bool has_extension(const char* name) const;
    /// Bytes this process uses in each memory heap (VK_EXT_memory_budget), or empty where the
    /// device lacks the extension.
    std::vector<uint64_t> heap_usage() const;
    /// Throws DeviceMismatchError unless a handle's UUIDs name this device and driver.
    void check_same_device(const Uuid& device_uuid, const Uuid& driver_uuid) const;
    /// Picks a memory type from `type_bits`: the first with all of `required`, preferring one
    /// that also has all of `preferred`. Throws UnsupportedOperationError if none qualifies.
    uint32_t choose_memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                                VkMemoryPropertyFlags preferred) const;
    const VkPhysicalDeviceMemoryProperties& memory_properties() const noexcept { return memory_props_; }
    /// Serialises queue submission (vkQueueSubmit requires external synchronisation).
    std::mutex& queue_mutex() const noexcept { return queue_mutex_; }
    /// Serialises use of the device's command pool.
    std::mutex& pool_mutex() const noexcept { return pool_mutex_; }
    VkCommandPool command_pool() const noexcept { return command_pool_; }

    // ---- Screening opaque FDs before a driver sees them (cpp/src/vulkan/opaque_fd_kind.cpp)
    /// Which kind of object an opaque FD carries.
    enum class FdFamily { kMemory = 0, kSemaphore = 1, kFence = 2 };
    /// Throws InvalidHandleError unless `fd` is the same kind of file (type and device numbers)
    /// as the opaque FDs this device itself exports for `family`, learnt once by exporting a
    /// small object. A foreign fd then never reaches the driver: NVIDIA's refuses one, but after
    /// that also refuses every later import of the memory it was described as
    /// (docs/hardware.md). Does nothing where the device cannot export that family.
    void check_opaque_fd(int fd, FdFamily family);
    /// Throws InvalidHandleError unless the file behind memory fd `fd` is what this device's
    /// driver exports for an allocation of `allocation_size` bytes: its size, its seals and the
    /// driver's own header where the driver keeps one in the file (Mesa does), learnt from the
    /// same sample export as the fd's kind (vulkan/external_memory/memory_file.hpp). Run after
    /// check_opaque_fd. Nothing to check where the fd is a device node (NVIDIA), or where the
    /// device cannot export memory.
    void check_opaque_memory_file(int fd, uint64_t allocation_size);
    /// For an fd of memory of this driver (allocation `allocation_size` bytes, exported here or
    /// imported after check_opaque_memory_file): rewrites the driver's header in the file where
    /// a holder of the fd changed it, since the driver reads it again to free the memory and to
    /// import it elsewhere. Returns whether it had changed. Throws OsError when the file cannot
    /// be written.
    bool repair_memory_file(int fd, uint64_t allocation_size);
    /// A duplicate of the imported memory fd `fd` for the import to keep until it frees the
    /// memory (and repair_memory_file first), where the driver frees memory by what it keeps in
    /// the file (Mesa); an empty UniqueFd elsewhere.
    UniqueFd keep_memory_file_for_free(int fd);

private:
    Device(std::shared_ptr<Instance> instance, VkPhysicalDevice physical, DeviceInfo info);  // device.cpp
    void require_memory_export(const char* what) const;                                     // device.cpp
    // The one body behind create_shared_* and create_* of each concept, in its file.
    std::shared_ptr<Semaphore> make_semaphore(SemaphoreType type, uint64_t initial_value, bool exportable);
    std::shared_ptr<Fence> make_fence(bool signaled, bool exportable);
    std::shared_ptr<Timeline> make_timeline(TimelineChoice choice, uint64_t initial_value, bool shared);

    std::shared_ptr<Instance> instance_;
    uint64_t fork_generation_ = 0;  // the process's fork generation when the device was opened
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    DeviceInfo info_;
    VkDevice device_ = VK_NULL_HANDLE;
    std::unique_ptr<VolkDeviceTable> table_;
    uint32_t queue_family_ = 0;
    VkQueue queue_ = VK_NULL_HANDLE;
    VkCommandPool command_pool_ = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties memory_props_{};
    mutable std::mutex queue_mutex_;
    mutable std::mutex pool_mutex_;
    struct LearntFdKind {
        bool learnt = false;
        bool known = false;  // false: this device cannot export the family
        uint32_t type = 0;
        uint64_t dev = 0;
        uint64_t rdev = 0;
    };
    // The kind of fd each family exports as, and what the driver puts in its memory's files;
    // both learnt once from a sample export (opaque_fd_kind.cpp), under fd_kind_mutex_.
    const LearntFdKind& learnt_fd_kind(FdFamily family);
    std::mutex fd_kind_mutex_;
    LearntFdKind fd_kinds_[3];
    std::shared_ptr<const MemoryFileRules> memory_file_rules_;
};

/// Validation-layer messages (warnings and errors) seen since the process started, when the
/// environment has GEYSER_VALIDATION=1. Thread-safe.
std::vector<std::string> validation_messages();
/// Forgets the messages validation_messages() returns.
void clear_validation_messages();
/// Whether instances created by this process have the Khronos validation layer enabled.
bool validation_enabled();

}  // namespace geyser
