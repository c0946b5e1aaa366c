// CUDA interop: Vulkan memory and semaphores exported by Geyser, imported into the CUDA driver API.
//
// The CUDA driver (libcuda.so.1) is loaded at run time, like the Vulkan loader: nothing links
// against it, so the core builds and runs without CUDA, and cuda_status() says why it cannot be
// used. Everything here runs in the CUDA device's primary context (the one the CUDA runtime,
// PyTorch and CuPy use), so device pointers are valid in theirs.
//
// Rules this code enforces because neither driver does (docs/cuda.md):
// - the CUDA device is the one whose UUID equals the Vulkan device UUID; anything else throws
//   DeviceMismatchError before CUDA sees the handle;
// - the fd must be the kind of file the Vulkan device exports (Device::check_opaque_fd), and the
//   size and dedication passed to cuImportExternalMemory are the Vulkan allocation's;
// - a texture maps as a CUDA array whose format, extent and flags match the VkImage (an
//   optimal-tiling image has no linear layout, so it is never handed out as a device pointer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "geyser/memory.hpp"
#include "geyser/sync.hpp"
#include "geyser/types.hpp"

namespace geyser {
class Device;
}

namespace geyser::cuda {

/// Whether the CUDA driver API can be used in this process, and if not, why.
struct CudaStatus {
    bool available = false;
    std::string reason;       ///< Empty when available.
    int driver_version = 0;   ///< cuDriverGetVersion, e.g. 13000 for CUDA 13.0; 0 when unknown.
    int device_count = 0;
};

/// Loads libcuda.so.1 and calls cuInit(0) once per process (thread-safe); later calls return the
/// same answer. Never throws.
CudaStatus cuda_status();

/// A CUDA stream handle as an integer (a CUstream; 0 is the legacy default stream). PyTorch gives
/// it as `torch.cuda.Stream.cuda_stream`, CuPy as `cupy.cuda.Stream.ptr`.
using StreamHandle = uintptr_t;

/// The CUDA device that is the same physical GPU as a Vulkan Device, and its primary context
/// (retained for this object's lifetime). Holds the Vulkan Device alive: imports check their
/// handles against it. Thread-safe.
class CudaContext {
public:
    /// Finds the CUDA device whose UUID equals `device`'s Vulkan device UUID. Throws
    /// UnsupportedOperationError when CUDA is unavailable (with cuda_status().reason) and
    /// DeviceMismatchError when no CUDA device has that UUID.
    static std::shared_ptr<CudaContext> for_device(std::shared_ptr<Device> device);
    ~CudaContext();
    CudaContext(const CudaContext&) = delete;
    CudaContext& operator=(const CudaContext&) = delete;

    int ordinal() const noexcept { return ordinal_; }
    const Uuid& uuid() const noexcept { return uuid_; }
    const std::string& name() const noexcept { return name_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }
    /// The primary CUcontext, as an integer.
    uintptr_t context() const noexcept { return reinterpret_cast<uintptr_t>(context_); }
    /// Throws InvalidArgumentError unless [pointer, pointer + size) lies in one allocation of
    /// device memory, and DeviceMismatchError unless that memory is this CUDA device's (what a
    /// tensor must be before Geyser copies to or from it).
    void check_pointer(uint64_t pointer, uint64_t size, const char* what) const;
    /// Makes work enqueued on `stream` after this call wait for the work already enqueued on
    /// `other` (an event recorded on `other`, waited on by `stream`). Nothing waits on the host.
    void order_after(StreamHandle stream, StreamHandle other) const;
    /// cuStreamSynchronize(stream) in this context.
    void synchronize(StreamHandle stream = 0) const;
    /// Throws DeviceMismatchError unless `stream` belongs to this context (cuStreamGetCtx; 0, the
    /// legacy default stream, and the per-thread default stream belong to whichever context is
    /// current, so to this one here). `what` names the stream in the message. The handle must be
    /// a live CUstream (or 0): CUDA cannot tell a freed or made-up one from memory.
    void check_stream(StreamHandle stream, const char* what) const;

private:
    CudaContext() = default;
    std::shared_ptr<Device> device_;
    int ordinal_ = -1;
    int cu_device_ = 0;
    void* context_ = nullptr;
    Uuid uuid_{};
    std::string name_;
};

/// The last work an object enqueued on any stream, as a CUDA event, so that its destructor can
/// tell whether freeing it now would pull memory or a semaphore from under queued work. Internal
/// to CudaTexture and CudaSemaphore; thread-safe.
class PendingWork {
public:
    PendingWork() = default;
    ~PendingWork();
    PendingWork(const PendingWork&) = delete;
    PendingWork& operator=(const PendingWork&) = delete;
    /// Records an event on `stream` after what has been enqueued there so far.
    void record(StreamHandle stream);
    /// True when nothing recorded is still queued or running (or nothing was ever recorded).
    /// Call with the owner's context current.
    bool finished() const;
    /// The same for what was recorded on `stream` alone (true when nothing was).
    bool finished(StreamHandle stream) const;
    /// Destroys the events (owner's context current); abandon() forgets them instead, for an
    /// owner that leaves its objects allocated because work is still queued.
    void destroy();
    void abandon();

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<StreamHandle, void*>> events_;  // one CUevent per stream used
};

/// Exported Vulkan buffer memory imported into CUDA and mapped linearly: `device_pointer()` is a
/// CUdeviceptr to `size()` bytes, the same memory the Vulkan buffer (in any process) uses. Owns
/// the CUexternalMemory and the mapping, both freed on destruction (cuMemFree, which waits for
/// the device); holds its context alive. Immutable after import, so safe to share between threads.
class CudaBuffer {
public:
    /// Imports a duplicate of `handle.fd` (the caller keeps its handle) and maps
    /// [0, handle.buffer_size). Throws DeviceMismatchError for another device, InvalidHandleError
    /// for a texture handle, a closed or foreign fd, an inconsistent size or an import CUDA
    /// refuses, CudaError when mapping fails.
    static std::unique_ptr<CudaBuffer> import(std::shared_ptr<CudaContext> context, const MemoryHandle& handle);
    ~CudaBuffer();
    CudaBuffer(const CudaBuffer&) = delete;
    CudaBuffer& operator=(const CudaBuffer&) = delete;

    uint64_t device_pointer() const noexcept { return pointer_; }
    uint64_t size() const noexcept { return size_; }
    const std::shared_ptr<CudaContext>& context() const noexcept { return context_; }

private:
    CudaBuffer() = default;
    std::shared_ptr<CudaContext> context_;
    void* memory_ = nullptr;  // CUexternalMemory
    uint64_t pointer_ = 0;
    uint64_t size_ = 0;
};

/// How a texture format maps onto a CUDA array: element type and channel count.
struct CudaArrayFormat {
    uint32_t cu_format = 0;      ///< CUarray_format value.
    uint32_t channels = 0;
    uint32_t bytes_per_texel = 0;
};

/// The CUDA array format of a VkFormat. Throws UnsupportedFormatError for formats CUDA arrays
/// cannot hold (depth/stencil, packed 10/11-bit formats). Pure; thread-safe.
CudaArrayFormat cuda_array_format(VkFormat format);

/// Exported Vulkan image memory imported into CUDA and mapped as a CUDA array (level 0 of a
/// one-level mipmapped array). Optimal-tiling images have a driver-private texel layout, so the
/// array is reached by copies to and from linear device memory (a tensor), never by pointer.
/// Owns the CUexternalMemory and the mipmapped array; holds its context alive. Copies may be
/// enqueued from several threads at once. Destroyed while one of its copies is still queued (for
/// example behind a stream wait that is never satisfied), it leaves its CUDA objects allocated
/// rather than free memory under that copy or block: finish or synchronize the stream first.
class CudaTexture {
public:
    /// Imports a duplicate of `handle.fd`. Throws as CudaBuffer::import, UnsupportedFormatError
    /// for formats cuda_array_format refuses.
    static std::unique_ptr<CudaTexture> import(std::shared_ptr<CudaContext> context, const MemoryHandle& handle);
    ~CudaTexture();
    CudaTexture(const CudaTexture&) = delete;
    CudaTexture& operator=(const CudaTexture&) = delete;

    uint32_t width() const noexcept { return width_; }
    uint32_t height() const noexcept { return height_; }
    const CudaArrayFormat& format() const noexcept { return format_; }
    /// The CUarray of level 0, as an integer.
    uintptr_t array() const noexcept { return reinterpret_cast<uintptr_t>(array_); }
    /// Copies the whole texture into linear device memory at `dst` (rows `pitch` bytes apart,
    /// pitch >= width * bytes_per_texel), enqueued on `stream` (device to device, asynchronous).
    void copy_to_device(uint64_t dst, uint64_t pitch, StreamHandle stream) const;
    /// Copies linear device memory at `src` into the whole texture, enqueued on `stream`.
    void copy_from_device(uint64_t src, uint64_t pitch, StreamHandle stream) const;
    const std::shared_ptr<CudaContext>& context() const noexcept { return context_; }

private:
    friend class PeerCopy;  // records its copies in pending_
    CudaTexture() = default;
    void copy(uint64_t linear, uint64_t pitch, StreamHandle stream, bool to_array) const;
    std::shared_ptr<CudaContext> context_;
    mutable PendingWork pending_;
    void* memory_ = nullptr;   // CUexternalMemory
    void* mipmap_ = nullptr;   // CUmipmappedArray
    void* array_ = nullptr;    // CUarray (level 0, owned by mipmap_)
    uint32_t width_ = 0;
    uint32_t height_ = 0;
    CudaArrayFormat format_{};
};

/// An exported Vulkan semaphore (binary or timeline, opaque FD) imported into CUDA, so CUDA streams
/// wait on it and signal it without the host. Owns the CUexternalSemaphore; holds its context
/// alive. Thread-safe. cuDestroyExternalSemaphore requires every wait and signal on it to have
/// completed, so a semaphore destroyed with one still queued (a wait for a value its producer
/// never signals) is left allocated instead of destroyed under it.
class CudaSemaphore {
public:
    /// Imports a duplicate of `handle.fd`. Throws InvalidHandleError for a fence or sync-FD handle
    /// (CUDA takes opaque FDs of semaphores only), DeviceMismatchError for another device.
    static std::unique_ptr<CudaSemaphore> import(std::shared_ptr<CudaContext> context, const SyncHandle& handle);
    ~CudaSemaphore();
    CudaSemaphore(const CudaSemaphore&) = delete;
    CudaSemaphore& operator=(const CudaSemaphore&) = delete;

    bool timeline() const noexcept { return timeline_; }
    /// Makes work enqueued on `stream` after this call wait until the semaphore reaches `value`
    /// (a timeline) or is signalled (binary; `value` must be 0). Returns at once.
    void wait(uint64_t value, StreamHandle stream) const;
    /// Signals `value` (timeline) or the binary semaphore once `stream`'s earlier work is done.
    void signal(uint64_t value, StreamHandle stream) const;
    /// Signals every one of `semaphores` (timelines of this context, none null) to `value` once
    /// `stream`'s earlier work is done: one cuSignalExternalSemaphoresAsync for all of them.
    /// Unlike signal(), it records nothing for idle() (an event per semaphore per call would cost
    /// more than the call): the caller keeps each semaphore alive until the stream has passed this
    /// point, which it learns from a PendingWork of its own recorded on the stream after it.
    /// InvalidArgumentError for a binary or null semaphore, or one of another context.
    static void signal_all(const std::vector<const CudaSemaphore*>& semaphores, uint64_t value, StreamHandle stream);
    /// Makes work enqueued on `stream` after this call wait until each of `semaphores` reaches
    /// its value in `values` (timelines of one context): one cuWaitExternalSemaphoresAsync. Records
    /// nothing for idle(), as signal_all. InvalidArgumentError as signal_all's, and for lists of
    /// different lengths.
    static void wait_all(const std::vector<const CudaSemaphore*>& semaphores, const std::vector<uint64_t>& values,
                         StreamHandle stream);
    /// Whether every wait and signal enqueued on it so far has completed (cuEventQuery of each
    /// stream's last one; no wait). False also when CUDA cannot be asked (then assume queued work).
    bool idle() const noexcept;
    const std::shared_ptr<CudaContext>& context() const noexcept { return context_; }

private:
    CudaSemaphore() = default;
    void check_value(uint64_t value, const char* what) const;
    // signal_all's and wait_all's checks; the CUexternalSemaphores, reused by the thread's calls.
    static const std::vector<void*>& raw_timelines(const std::vector<const CudaSemaphore*>& semaphores, const char* what);
    std::shared_ptr<CudaContext> context_;
    mutable PendingWork pending_;
    void* semaphore_ = nullptr;  // CUexternalSemaphore
    bool timeline_ = false;
};

}  // namespace geyser::cuda
