// OpenGL interop: Geyser's textures, buffers and semaphores imported into the caller's OpenGL
// context with GL_EXT_memory_object_fd and GL_EXT_semaphore_fd, so that GL renders into and reads
// from the same memory Vulkan (in any process) uses, with no copy.
//
// Nothing links against libGL, libEGL or libGLX: the window-system library that made the current
// context is found at run time (libEGL.so.1, then libGLX.so.0) and every GL entry point comes from
// its eglGetProcAddress or glXGetProcAddressARB. Everything here acts on the context current on
// the calling thread, which must be the one the object was made in (GL objects are per context).
//
// Rules this code enforces because the GL drivers do not (docs/gl.md):
// - the context is the Vulkan device's: one of GL_DEVICE_UUID_EXT (every index below
//   GL_NUM_DEVICE_UUIDS_EXT) and GL_DRIVER_UUID_EXT equal the Device's UUIDs, and every handle is
//   checked against that Device (DeviceMismatchError) before the GL driver sees its fd;
// - the fd is the kind of file the Vulkan device exports (Device::check_opaque_fd), and GL imports
//   a duplicate (a successful glImportMemoryFdEXT takes ownership of it);
// - every GL error is read right after the call that can raise it and becomes a GLError naming it;
// - a GL object is deleted in its own context: closing it with another context current throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/memory.hpp"
#include "geyser/sender.hpp"
#include "geyser/subscriber.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"
#include "geyser/types.hpp"

namespace geyser {
class Device;
}  // namespace geyser

namespace geyser::gl {

namespace api {
struct Functions;
}

/// How GL work is ordered against Vulkan work on the same memory.
enum class SyncPath : uint8_t {
    /// The context has GL_EXT_semaphore_fd: GL waits on and signals the Vulkan semaphores
    /// themselves, passing the textures' layouts (glWaitSemaphoreEXT / glSignalSemaphoreEXT).
    kGlSemaphore = 1,
    /// The context has no GL semaphores (Mesa's llvmpipe): the host orders the work. A GL fence
    /// (glFenceSync, glClientWaitSync with a bound) completes before the shared timeline is
    /// signalled, and the host waits on the timeline before GL reads.
    kHost = 2,
};
/// "gl_semaphore" or "host".
const char* to_string(SyncPath path);

/// What the current context offers Geyser. Plain data.
struct GlInfo {
    std::string platform;  ///< "egl" or "glx"
    std::string vendor, renderer, version;
    bool memory_object_fd = false;    ///< GL_EXT_memory_object and GL_EXT_memory_object_fd
    bool semaphore_fd = false;        ///< GL_EXT_semaphore and GL_EXT_semaphore_fd
    bool timeline_semaphore = false;  ///< GL_NV_timeline_semaphore
    std::vector<Uuid> device_uuids;   ///< GL_DEVICE_UUID_EXT, every index
    Uuid driver_uuid{};               ///< GL_DRIVER_UUID_EXT
};

/// The layout a GL semaphore wait or signal names for a texture that Vulkan uses in `layout`
/// (GL_LAYOUT_GENERAL_EXT for GENERAL, and so on). InvalidArgumentError for a layout GL has no
/// name for (UNDEFINED, PREINITIALIZED, PRESENT_SRC and the like).
uint32_t gl_layout(VkImageLayout layout);

/// The caller's current OpenGL context, matched to a Vulkan Device. Holds the Device alive. Every
/// member that calls GL requires this context to be current on the calling thread
/// (UnsupportedOperationError otherwise), and so is used from one thread at a time, as GL is.
class GlContext {
public:
    /// The context current on this thread. Throws UnsupportedOperationError when no EGL or GLX
    /// context is current or it lacks GL_EXT_memory_object_fd (saying what is missing), and
    /// DeviceMismatchError unless one of its GL_DEVICE_UUID_EXT and its GL_DRIVER_UUID_EXT are
    /// `device`'s.
    static std::shared_ptr<GlContext> current(std::shared_ptr<Device> device);
    ~GlContext();
    GlContext(const GlContext&) = delete;
    GlContext& operator=(const GlContext&) = delete;

    const GlInfo& info() const noexcept { return info_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }
    /// kGlSemaphore where the context has GL_EXT_semaphore_fd, else kHost.
    SyncPath sync_path() const noexcept { return info_.semaphore_fd ? SyncPath::kGlSemaphore : SyncPath::kHost; }
    /// The EGLContext or GLXContext, as an integer.
    uintptr_t handle() const noexcept { return reinterpret_cast<uintptr_t>(context_); }
    /// Whether this context is current on the calling thread.
    bool is_current() const noexcept;
    /// Throws UnsupportedOperationError naming `what` and the context that is current instead.
    void require_current(const char* what) const;
    /// glFlush: submits the GL work so far.
    void flush() const;
    /// Waits on the host, for at most `timeout`, until the GL work submitted so far has
    /// completed: a glFenceSync waited on with glClientWaitSync in slices. TimeoutError after
    /// `timeout` (the fence is deleted either way). The host sync path's ordering step.
    void finish(std::chrono::nanoseconds timeout) const;
    /// Internal: the entry points (for the GL objects' own files).
    const api::Functions& functions() const noexcept { return *functions_; }

private:
    GlContext() = default;
    std::shared_ptr<Device> device_;
    std::unique_ptr<api::Functions> functions_;
    GlInfo info_;
    uint8_t platform_ = 0;
    void* context_ = nullptr;
};

/// A GL texture (GL_TEXTURE_2D, one level, optimal tiling) over a Geyser texture's memory,
/// imported through a GL memory object. Owns the texture name and the memory object; deleted by
/// close() (or the destructor) in their context. Holds its GlContext alive.
class GlTexture {
public:
    /// Imports a duplicate of `handle.fd` (the caller keeps its handle): glCreateMemoryObjectsEXT,
    /// GL_DEDICATED_MEMORY_OBJECT_EXT as exported, glImportMemoryFdEXT, then glTexStorageMem2DEXT
    /// with the format table's GL internal format. Throws InvalidHandleError for a buffer handle,
    /// a closed or foreign fd or another handle type, DeviceMismatchError for another device,
    /// UnsupportedFormatError for a format with no GL equivalent (naming it), GLError when GL
    /// refuses the import. Nothing is left behind on failure.
    static std::unique_ptr<GlTexture> import(std::shared_ptr<GlContext> context, const MemoryHandle& handle);
    /// close() when the owning context is current; otherwise nothing can be deleted safely (the
    /// names would be another context's) and the GL objects are left to their context.
    ~GlTexture();
    GlTexture(const GlTexture&) = delete;
    GlTexture& operator=(const GlTexture&) = delete;

    uint32_t name() const noexcept { return name_; }
    uint32_t target() const noexcept { return 0x0DE1; /* GL_TEXTURE_2D */ }
    uint32_t internal_format() const noexcept { return internal_format_; }
    uint32_t memory_object() const noexcept { return memory_; }
    uint32_t width() const noexcept { return width_; }
    uint32_t height() const noexcept { return height_; }
    TextureFormat format() const noexcept { return format_; }
    VkFormat vk_format() const noexcept { return vk_format_; }
    /// The layout Vulkan releases and acquires the texture in (the handle's vk_layout).
    VkImageLayout layout() const noexcept { return layout_; }
    /// Deletes the texture and the memory object. Idempotent. Throws UnsupportedOperationError,
    /// deleting nothing, when another context (or none) is current.
    void close();
    bool closed() const noexcept { return name_ == 0; }
    const std::shared_ptr<GlContext>& context() const noexcept { return context_; }

private:
    GlTexture() = default;
    std::shared_ptr<GlContext> context_;
    uint32_t name_ = 0;
    uint32_t memory_ = 0;
    uint32_t internal_format_ = 0;
    uint32_t width_ = 0;
    uint32_t height_ = 0;
    TextureFormat format_ = TextureFormat::kUnknown;
    VkFormat vk_format_ = VK_FORMAT_UNDEFINED;
    VkImageLayout layout_ = VK_IMAGE_LAYOUT_GENERAL;
};

/// A GL buffer object over a Geyser buffer's memory (glBufferStorageMemEXT, immutable storage of
/// the buffer's size). Owns the buffer name and the memory object, as GlTexture does.
class GlBuffer {
public:
    /// Imports a duplicate of `handle.fd` as a GL buffer of the first `size` bytes (0: the whole
    /// buffer, handle.buffer_size). Throws as GlTexture::import (InvalidHandleError for a texture
    /// handle), InvalidArgumentError for a size above the buffer's. Mesa's llvmpipe (22.3) wants
    /// 16 bytes of the allocation after the GL buffer's end and raises GL_OUT_OF_MEMORY without
    /// them: there, import a smaller range of a buffer made that much larger (docs/gl.md).
    static std::unique_ptr<GlBuffer> import(std::shared_ptr<GlContext> context, const MemoryHandle& handle,
                                            uint64_t size = 0);
    ~GlBuffer();
    GlBuffer(const GlBuffer&) = delete;
    GlBuffer& operator=(const GlBuffer&) = delete;

    uint32_t name() const noexcept { return name_; }
    uint32_t memory_object() const noexcept { return memory_; }
    uint64_t size() const noexcept { return size_; }
    /// As GlTexture::close.
    void close();
    bool closed() const noexcept { return name_ == 0; }
    const std::shared_ptr<GlContext>& context() const noexcept { return context_; }

private:
    GlBuffer() = default;
    std::shared_ptr<GlContext> context_;
    uint32_t name_ = 0;
    uint32_t memory_ = 0;
    uint64_t size_ = 0;
};

/// A Vulkan semaphore (binary, or timeline with GL_NV_timeline_semaphore) imported into GL with
/// GL_EXT_semaphore_fd, so that GL work waits on and signals Vulkan work with no host wait. Owns
/// the GL semaphore name, deleted by close() in its context.
class GlSemaphore {
public:
    /// Imports a duplicate of `handle.fd`. Throws UnsupportedOperationError when the context has
    /// no GL_EXT_semaphore_fd (or, for a timeline, no GL_NV_timeline_semaphore), InvalidHandleError
    /// for a fence, a sync FD or a closed fd, DeviceMismatchError for another device.
    static std::unique_ptr<GlSemaphore> import(std::shared_ptr<GlContext> context, const SyncHandle& handle);
    ~GlSemaphore();
    GlSemaphore(const GlSemaphore&) = delete;
    GlSemaphore& operator=(const GlSemaphore&) = delete;

    uint32_t name() const noexcept { return name_; }
    bool timeline() const noexcept { return timeline_; }
    /// GL work after this waits until the semaphore reaches `value` (timeline; 0 is reached at
    /// once) or is signalled (binary; `value` must be 0). Each texture is acquired from the layout Vulkan released it
    /// in (its layout()); the buffers are acquired too. Returns at once.
    void wait(uint64_t value, const std::vector<const GlTexture*>& textures = {},
              const std::vector<const GlBuffer*>& buffers = {}) const;
    /// Signals `value` (timeline) or the binary semaphore once the GL work so far is done, each
    /// texture released in its layout() for Vulkan to acquire; then glFlush. Returns at once.
    void signal(uint64_t value, const std::vector<const GlTexture*>& textures = {},
                const std::vector<const GlBuffer*>& buffers = {}) const;
    void close();
    bool closed() const noexcept { return name_ == 0; }
    const std::shared_ptr<GlContext>& context() const noexcept { return context_; }

private:
    GlSemaphore() = default;
    void submit(bool signal, uint64_t value, const std::vector<const GlTexture*>& textures,
                const std::vector<const GlBuffer*>& buffers) const;
    std::shared_ptr<GlContext> context_;
    uint32_t name_ = 0;
    bool timeline_ = false;
};

/// A headless OpenGL context for scripts and tests: EGL, on the device platform
/// (EGL_EXT_platform_device) or else the surfaceless one (EGL_MESA_platform_surfaceless), with no
/// surface. Picks the EGL device whose GL UUIDs are the Vulkan device's. Owns the EGL context.
/// Window and context creation for real programs is left to the libraries people already use
/// (moderngl, glfw, pyglet).
class HeadlessContext {
public:
    /// Creates the context and makes it current on the calling thread. Throws
    /// UnsupportedOperationError when libEGL or both platforms are missing, DeviceMismatchError
    /// when no EGL device is `device`'s GPU.
    static std::unique_ptr<HeadlessContext> create(const std::shared_ptr<Device>& device);
    /// Releases the context from this thread if it is current here, then destroys it.
    ~HeadlessContext();
    HeadlessContext(const HeadlessContext&) = delete;
    HeadlessContext& operator=(const HeadlessContext&) = delete;

    void make_current() const;
    /// Makes no context current on this thread (eglMakeCurrent with EGL_NO_CONTEXT).
    void release_current() const;
    /// "device" or "surfaceless".
    const std::string& platform() const noexcept { return platform_; }
    uintptr_t egl_display() const noexcept { return reinterpret_cast<uintptr_t>(display_); }
    uintptr_t egl_context() const noexcept { return reinterpret_cast<uintptr_t>(context_); }

private:
    HeadlessContext() = default;
    void* display_ = nullptr;
    void* context_ = nullptr;
    std::string platform_;
};

/// One frame of a ring in GL: its number, its slot and the GL texture of that slot.
struct GlFrame {
    uint64_t number = 0;
    uint32_t slot = 0;
    GlTexture* texture = nullptr;
    /// GlSubscriber: how GL's reads were ordered after the producer's ready signal (kGpu: by
    /// glWaitSemaphoreEXT, with no host wait). GlSender: kHost.
    ReadyWait ready_wait = ReadyWait::kHost;
};

/// A Sender's ring imported into GL once, for writing frames from GL. Borrows the Sender, which
/// must outlive it. Used from the thread whose context is current, as the Sender's
/// begin_frame/end_frame are.
class GlSender {
public:
    /// Imports every ring texture and, on the GL semaphore path with a Vulkan ready timeline, the
    /// ready timeline as a GL timeline semaphore.
    GlSender(std::shared_ptr<GlContext> context, Sender& sender);
    GlSender(const GlSender&) = delete;
    GlSender& operator=(const GlSender&) = delete;
    /// Sender::begin_frame: the slot to draw into, once every subscriber has released it. GL
    /// semaphore path: then the GL acquire (glWaitSemaphoreEXT on the ready timeline at the slot's
    /// previous frame, already reached, with the texture's layout).
    GlFrame begin_frame(std::chrono::nanoseconds timeout);
    /// Publishes the frame. GL semaphore path: glSignalSemaphoreEXT on the ready timeline to the
    /// frame number, the texture released in its layout, and Sender::end_frame(kGpu) (no host
    /// wait). Host path: GlContext::finish(timeout), then Sender::end_frame(kHost).
    void end_frame(const GlFrame& frame, std::chrono::nanoseconds timeout);
    /// Sender::abandon_frame.
    void abandon_frame(const GlFrame& frame);
    /// The path end_frame takes.
    SyncPath sync_path() const noexcept { return ready_ ? SyncPath::kGlSemaphore : SyncPath::kHost; }
    const std::vector<std::unique_ptr<GlTexture>>& ring() const noexcept { return ring_; }
    /// Deletes the GL objects (their context current). Idempotent.
    void close();

private:
    std::shared_ptr<GlContext> context_;
    Sender& sender_;
    std::vector<std::unique_ptr<GlTexture>> ring_;
    std::unique_ptr<GlSemaphore> ready_;
    std::optional<Sender::Frame> pending_;
};

/// A Subscriber's ring imported into GL once, for reading frames in GL. Borrows the Subscriber.
class GlSubscriber {
public:
    GlSubscriber(std::shared_ptr<GlContext> context, Subscriber& subscriber);
    /// Frames still held are released, after GlContext::finish (bounded by a second) where the
    /// context is current here; otherwise GL may still be reading them when the producer hears.
    ~GlSubscriber();
    GlSubscriber(const GlSubscriber&) = delete;
    GlSubscriber& operator=(const GlSubscriber&) = delete;
    /// The next frame, for GL to read. GL semaphore path (sync_path() kGlSemaphore: the context
    /// has GL_EXT_semaphore_fd + GL_NV_timeline_semaphore and the ready timeline is a Vulkan one):
    /// Subscriber::next_frame(ReadyWait::kGpu), which returns once the frame is announced, then
    /// glWaitSemaphoreEXT on the ready timeline (imported once) at the frame number with the
    /// texture's layout, so GL's later commands read after the producer's writes with no host
    /// wait (GlFrame::ready_wait kGpu). Host path: Subscriber::next_frame(ReadyWait::kHost), the
    /// host waiting for the ready timeline within `timeout`.
    GlFrame next_frame(std::chrono::nanoseconds timeout);
    /// Done with the frame: GlContext::finish(timeout), a host wait for GL's reads (protocol 2
    /// releases by message, so the host must know they are done; on the GPU path a producer that
    /// never signals the frame shows up here, as TimeoutError), then Subscriber::release.
    void release(const GlFrame& frame, std::chrono::nanoseconds timeout);
    SyncPath sync_path() const noexcept { return ready_ ? SyncPath::kGlSemaphore : SyncPath::kHost; }
    const std::vector<std::unique_ptr<GlTexture>>& ring() const noexcept { return ring_; }
    /// Deletes the GL objects (their context current). Frames still held are released, after
    /// GlContext::finish (bounded by a second). Idempotent.
    void close();

private:
    std::shared_ptr<GlContext> context_;
    Subscriber& subscriber_;
    std::vector<std::unique_ptr<GlTexture>> ring_;
    std::unique_ptr<GlSemaphore> ready_;
    std::map<uint64_t, Subscriber::Frame> held_;  // the frames next_frame returned, by number
};

}  // namespace geyser::gl
