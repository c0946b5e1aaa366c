// CUDA interop: contexts matched by UUID, external memory as buffers and arrays, external semaphores.
#include "geyser/cuda.hpp"

#include <cstring>
#include <utility>

#include "cuda/context_scope.hpp"
#include "cuda/cuda_api.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "posix/fd_kind.hpp"

namespace geyser::cuda {

using namespace api;

namespace {

Uuid to_uuid(const CUuuid& u) {
    Uuid out{};
    std::memcpy(out.data(), u.bytes, out.size());
    return out;
}

CUstream as_stream(StreamHandle stream) { return reinterpret_cast<CUstream>(stream); }

// Runs `destroy` with `context` current, from a destructor: nothing may throw, and with no driver
// or no context left there is nothing to free. With `pending` given and its work still queued,
// `destroy` is skipped and the objects stay allocated (the caller's rule says why).
template <typename Destroy>
void destroy_in_context(const CudaContext& context, PendingWork* pending, Destroy&& destroy) noexcept {
    const Driver* d = driver();
    if (d == nullptr || d->cuCtxPushCurrent(reinterpret_cast<CUcontext>(context.context())) != CUDA_SUCCESS) return;
    if (pending == nullptr || pending->finished()) {
        if (pending != nullptr) pending->destroy();
        destroy(*d);
    } else {
        pending->abandon();
    }
    CUcontext popped = nullptr;
    (void)d->cuCtxPopCurrent(&popped);
}

// Checks a memory handle before CUDA sees it. The CUDA driver, like NVIDIA's Vulkan driver,
// checks little of what it is given (DRIVER_FACTS.md), and every NVIDIA opaque fd is
// /dev/nvidiactl, so the description is all there is to go on.
void check_memory_handle(const CudaContext& context, const MemoryHandle& h, ResourceKind kind, const char* what) {
    if (h.kind != kind) {
        throw InvalidHandleError(std::string("a ") + (h.kind == ResourceKind::kTexture ? "texture" : "buffer") +
                                 " handle cannot be imported as a CUDA " + what);
    }
    if (h.handle_type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw InvalidHandleError("CUDA imports Vulkan memory as an opaque FD; this handle's type is " +
                                 std::to_string(static_cast<uint32_t>(h.handle_type)));
    }
    if (!h.fd.valid()) throw InvalidHandleError("the memory handle's fd is closed");
    context.device()->check_same_device(h.device_uuid, h.driver_uuid);
    if (h.size == 0) throw InvalidHandleError("the memory handle's allocation size is 0");
    context.device()->check_opaque_fd(h.fd.get(), Device::FdFamily::kMemory);
    context.device()->check_opaque_memory_file(h.fd.get(), h.size);
}

// CUDA does not check a description against the memory: cuImportExternalMemory accepted an
// allocation size four times the real one (H100, driver 580.159.04), and so did NVIDIA's
// vkAllocateMemory import, so a peer that lies consistently about a size cannot be caught there
// (docs/cuda.md). What can be checked is that the description is one the device itself would
// produce: for a texture, that its allocation size, memory type and dedication are what this
// device requires for that extent, format and usage. Geyser's Vulkan import checks exactly that
// (and imports, which also proves the fd is this device's memory), so a texture handle goes
// through a Vulkan import first, released at once. A buffer's only derived value is its size,
// checked in CudaBuffer::import.
void validate_with_vulkan(const CudaContext& context, const MemoryHandle& h) { (void)context.device()->import_texture(h); }

// cuImportExternalMemory takes ownership of the fd on success only ("Ownership of the file
// descriptor is transferred to the CUDA driver when the handle is imported successfully"), so it
// gets a duplicate, released only then.
CUexternalMemory import_memory(const ContextScope& scope, const MemoryHandle& h) {
    UniqueFd dup = UniqueFd::duplicate_of(h.fd.get());
    const FdKind before = FdKind::of(dup.get(), "the duplicate");
    const uint64_t inode = inode_of(dup.get());
    CUDA_EXTERNAL_MEMORY_HANDLE_DESC desc{};
    desc.type = CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD;
    desc.handle.fd = dup.get();
    // The whole VkDeviceMemory allocation, and DEDICATED exactly when Vulkan allocated it
    // dedicated: the CUDA documentation requires both to match the exporting allocation.
    desc.size = h.size;
    desc.flags = h.dedicated ? kExternalMemoryDedicated : 0;
    CUexternalMemory memory = nullptr;
    const CUresult r = scope.driver().cuImportExternalMemory(&memory, &desc);
    if (r == CUDA_SUCCESS) {
        (void)dup.release();
        return memory;
    }
    forget_if_driver_closed(dup, before, inode);
    throw InvalidHandleError("CUDA refused to import fd " + std::to_string(h.fd.get()) + ": cuImportExternalMemory returned " +
                             result_name(r) + " (size " + std::to_string(h.size) +
                             (h.dedicated ? ", dedicated" : "") + "; not memory this GPU exported, or a size or dedication that does not match it)");
}

}  // namespace

// -- context --------------------------------------------------------------------------------------

std::shared_ptr<CudaContext> CudaContext::for_device(std::shared_ptr<Device> device) {
    if (!device) throw InvalidArgumentError("CudaContext::for_device: no Vulkan device");
    device->require_owner_process("use CUDA with this Vulkan device");
    const Driver& d = require_driver();
    int count = 0;
    check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
    const Uuid& want = device->info().device_uuid;
    std::string seen;
    for (int i = 0; i < count; ++i) {
        CUdevice dev = 0;
        check(d.cuDeviceGet(&dev, i), "cuDeviceGet");
        CUuuid u{};
        check(d.cuDeviceGetUuid(&u, dev), "cuDeviceGetUuid");
        const Uuid uuid = to_uuid(u);
        if (uuid != want) {
            seen += (seen.empty() ? "" : ", ") + uuid_to_hex(uuid);
            continue;
        }
        std::shared_ptr<CudaContext> c(new CudaContext());
        char name[256] = {};
        check(d.cuDeviceGetName(name, sizeof name - 1, dev), "cuDeviceGetName");
        CUcontext ctx = nullptr;
        check(d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        c->device_ = std::move(device);
        c->ordinal_ = i;
        c->cu_device_ = dev;
        c->context_ = ctx;
        c->uuid_ = uuid;
        c->name_ = name;
        return c;
    }
    throw DeviceMismatchError("no CUDA device is the Vulkan device '" + device->info().name + "' (UUID " +
                              uuid_to_hex(want) + "); CUDA devices here: " + (seen.empty() ? "none" : seen));
}

CudaContext::~CudaContext() {
    if (const Driver* d = driver(); d != nullptr && context_ != nullptr) (void)d->cuDevicePrimaryCtxRelease(cu_device_);
}

void CudaContext::synchronize(StreamHandle stream) const {
    ContextScope scope(*this);
    check(scope.driver().cuStreamSynchronize(as_stream(stream)), "cuStreamSynchronize");
}

void CudaContext::check_stream(StreamHandle stream, const char* what) const {
    ContextScope scope(*this);
    CUcontext owner = nullptr;
    const CUresult r = scope.driver().cuStreamGetCtx(as_stream(stream), &owner);
    if (r != CUDA_SUCCESS) {
        throw InvalidArgumentError(std::string(what) + " is not a CUDA stream (cuStreamGetCtx returned " + result_name(r) +
                                   ")");
    }
    if (owner != static_cast<CUcontext>(context_)) {
        throw DeviceMismatchError(std::string(what) + " belongs to another CUDA context than CUDA device " +
                                  std::to_string(ordinal_) + "'s (" + name_ + "): make it on that device");
    }
}

void CudaContext::check_pointer(uint64_t pointer, uint64_t size, const char* what) const {
    if (pointer == 0) throw InvalidArgumentError(std::string(what) + " is a null pointer");
    ContextScope scope(*this);
    const Driver& d = scope.driver();
    int ordinal = -1;
    CUdeviceptr start = 0;
    size_t range = 0;
    CUresult r = d.cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, pointer);
    if (r == CUDA_SUCCESS) r = d.cuPointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, pointer);
    if (r == CUDA_SUCCESS) r = d.cuPointerGetAttribute(&range, CU_POINTER_ATTRIBUTE_RANGE_SIZE, pointer);
    if (r != CUDA_SUCCESS) {
        throw InvalidArgumentError(std::string(what) + " is not CUDA device memory (cuPointerGetAttribute: " +
                                   result_name(r) + ")");
    }
    if (ordinal != ordinal_) {
        throw DeviceMismatchError(std::string(what) + " is memory of CUDA device " + std::to_string(ordinal) +
                                  ", not of CUDA device " + std::to_string(ordinal_) + " (" + name_ + ")");
    }
    if (pointer - start + size > range) {
        throw InvalidArgumentError(std::string(what) + " needs " + std::to_string(size) + " bytes from " +
                                   std::to_string(pointer - start) + " bytes into an allocation of " +
                                   std::to_string(range));
    }
}

void CudaContext::order_after(StreamHandle stream, StreamHandle other) const {
    if (stream == other) return;
    ContextScope scope(*this);
    const Driver& d = scope.driver();
    CUevent event = nullptr;
    check(d.cuEventCreate(&event, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    CUresult r = d.cuEventRecord(event, as_stream(other));
    if (r == CUDA_SUCCESS) r = d.cuStreamWaitEvent(as_stream(stream), event, 0);
    // Destroying an event a stream still waits on is allowed: its resources go once it completes.
    (void)d.cuEventDestroy(event);
    check(r, "cuStreamWaitEvent", "ordering one stream after another");
}

// -- pending work ---------------------------------------------------------------------------------

PendingWork::~PendingWork() { destroy(); }

void PendingWork::destroy() {
    // No driver: no events were made, or this is a fork() child, where the parent's events (and
    // a lock a parent thread may have held at fork) are left alone.
    const Driver* d = driver();
    if (d == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [stream, event] : events_) (void)d->cuEventDestroy(static_cast<CUevent>(event));
    events_.clear();
}

void PendingWork::abandon() {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.clear();
}

void PendingWork::record(StreamHandle stream) {
    const Driver& d = require_driver();
    std::lock_guard<std::mutex> lock(mutex_);
    void* event = nullptr;
    for (const auto& [s, e] : events_) {
        if (s == stream) event = e;
    }
    if (event == nullptr) {
        CUevent created = nullptr;
        check(d.cuEventCreate(&created, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        events_.emplace_back(stream, created);
        event = created;
    }
    // Re-recording an event moves it to the stream's latest work, which follows the earlier work
    // recorded on the same stream.
    check(d.cuEventRecord(static_cast<CUevent>(event), as_stream(stream)), "cuEventRecord");
}

bool PendingWork::finished() const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Driver* d = driver();
    if (d == nullptr) return events_.empty();
    for (const auto& [stream, event] : events_) {
        if (d->cuEventQuery(static_cast<CUevent>(event)) != CUDA_SUCCESS) return false;
    }
    return true;
}

bool PendingWork::finished(StreamHandle stream) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Driver* d = driver();
    for (const auto& [s, event] : events_) {
        if (s != stream) continue;
        return d != nullptr && d->cuEventQuery(static_cast<CUevent>(event)) == CUDA_SUCCESS;
    }
    return true;
}

// -- buffer ---------------------------------------------------------------------------------------

std::unique_ptr<CudaBuffer> CudaBuffer::import(std::shared_ptr<CudaContext> context, const MemoryHandle& handle) {
    if (!context) throw InvalidArgumentError("CudaBuffer::import: no CUDA context");
    check_memory_handle(*context, handle, ResourceKind::kBuffer, "buffer");
    if (handle.buffer_size == 0 || handle.buffer_size > handle.size) {
        throw InvalidHandleError("the buffer handle's size (" + std::to_string(handle.buffer_size) +
                                 " bytes) does not fit its allocation (" + std::to_string(handle.size) + " bytes)");
    }
    ContextScope scope(*context);
    std::unique_ptr<CudaBuffer> b(new CudaBuffer());
    b->memory_ = import_memory(scope, handle);
    CUDA_EXTERNAL_MEMORY_BUFFER_DESC desc{};
    desc.offset = 0;
    desc.size = handle.buffer_size;
    CUdeviceptr pointer = 0;
    const CUresult r = scope.driver().cuExternalMemoryGetMappedBuffer(
        &pointer, static_cast<CUexternalMemory>(b->memory_), &desc);
    if (r != CUDA_SUCCESS) {
        (void)scope.driver().cuDestroyExternalMemory(static_cast<CUexternalMemory>(b->memory_));
        b->memory_ = nullptr;
        check(r, "cuExternalMemoryGetMappedBuffer", "mapping " + std::to_string(handle.buffer_size) + " bytes");
    }
    b->pointer_ = pointer;
    b->size_ = handle.buffer_size;
    b->context_ = std::move(context);
    return b;
}

CudaBuffer::~CudaBuffer() {
    if (memory_ == nullptr) return;
    // The mapping must be freed before the external memory is destroyed (cuDestroyExternalMemory).
    destroy_in_context(*context_, nullptr, [this](const Driver& d) {
        (void)d.cuMemFree(pointer_);
        (void)d.cuDestroyExternalMemory(static_cast<CUexternalMemory>(memory_));
    });
}

// -- texture --------------------------------------------------------------------------------------

CudaArrayFormat cuda_array_format(VkFormat format) {
    switch (format) {
    case VK_FORMAT_R8_UNORM: return {CU_AD_FORMAT_UNSIGNED_INT8, 1, 1};
    case VK_FORMAT_R8G8_UNORM: return {CU_AD_FORMAT_UNSIGNED_INT8, 2, 2};
    case VK_FORMAT_R8G8B8A8_UNORM:
    case VK_FORMAT_R8G8B8A8_SRGB:
    case VK_FORMAT_B8G8R8A8_UNORM:
    case VK_FORMAT_B8G8R8A8_SRGB: return {CU_AD_FORMAT_UNSIGNED_INT8, 4, 4};
    case VK_FORMAT_R16_UINT: return {CU_AD_FORMAT_UNSIGNED_INT16, 1, 2};
    case VK_FORMAT_R16_SINT: return {CU_AD_FORMAT_SIGNED_INT16, 1, 2};
    case VK_FORMAT_R16_SFLOAT: return {CU_AD_FORMAT_HALF, 1, 2};
    case VK_FORMAT_R16G16_SFLOAT: return {CU_AD_FORMAT_HALF, 2, 4};
    case VK_FORMAT_R16G16B16A16_SFLOAT: return {CU_AD_FORMAT_HALF, 4, 8};
    case VK_FORMAT_R32_UINT: return {CU_AD_FORMAT_UNSIGNED_INT32, 1, 4};
    case VK_FORMAT_R32_SINT: return {CU_AD_FORMAT_SIGNED_INT32, 1, 4};
    case VK_FORMAT_R32_SFLOAT: return {CU_AD_FORMAT_FLOAT, 1, 4};
    case VK_FORMAT_R32G32_SFLOAT: return {CU_AD_FORMAT_FLOAT, 2, 8};
    case VK_FORMAT_R32G32B32A32_SFLOAT: return {CU_AD_FORMAT_FLOAT, 4, 16};
    default:
        // Depth/stencil images cannot be mapped as CUDA arrays, and CUDA arrays have no packed
        // 10/11-bit element types.
        throw UnsupportedFormatError("VkFormat " + std::to_string(static_cast<int>(format)) +
                                     " has no CUDA array format (depth, stencil and packed formats cannot be mapped)");
    }
}

std::unique_ptr<CudaTexture> CudaTexture::import(std::shared_ptr<CudaContext> context, const MemoryHandle& handle) {
    if (!context) throw InvalidArgumentError("CudaTexture::import: no CUDA context");
    check_memory_handle(*context, handle, ResourceKind::kTexture, "texture");
    const CudaArrayFormat format = cuda_array_format(handle.vk_format);
    if (handle.width == 0 || handle.height == 0) throw InvalidHandleError("the texture handle has an empty extent");
    if (handle.vk_tiling != VK_IMAGE_TILING_OPTIMAL) {
        throw InvalidHandleError("only optimal-tiling images map as CUDA arrays; this one has tiling " +
                                 std::to_string(static_cast<int>(handle.vk_tiling)));
    }
    validate_with_vulkan(*context, handle);
    ContextScope scope(*context);
    std::unique_ptr<CudaTexture> t(new CudaTexture());
    t->memory_ = import_memory(scope, handle);
    CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC desc{};
    desc.offset = 0;  // Geyser exports whole allocations, image at offset 0
    desc.arrayDesc.Width = handle.width;
    desc.arrayDesc.Height = handle.height;
    desc.arrayDesc.Depth = 0;  // a 2D array
    desc.arrayDesc.Format = format.cu_format;
    desc.arrayDesc.NumChannels = format.channels;
    // "If the mipmapped array is bound as a color target in the graphics API, then the flag
    // CUDA_ARRAY3D_COLOR_ATTACHMENT must be specified"; storage images are what CUDA surfaces are.
    if (handle.vk_usage & VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT) desc.arrayDesc.Flags |= kArray3dColorAttachment;
    if (handle.vk_usage & VK_IMAGE_USAGE_STORAGE_BIT) desc.arrayDesc.Flags |= kArray3dSurfaceLdst;
    desc.numLevels = 1;
    CUmipmappedArray mipmap = nullptr;
    CUresult r = scope.driver().cuExternalMemoryGetMappedMipmappedArray(&mipmap, static_cast<CUexternalMemory>(t->memory_), &desc);
    CUarray level0 = nullptr;
    if (r == CUDA_SUCCESS) {
        r = scope.driver().cuMipmappedArrayGetLevel(&level0, mipmap, 0);
        if (r != CUDA_SUCCESS) (void)scope.driver().cuMipmappedArrayDestroy(mipmap);
    }
    if (r != CUDA_SUCCESS) {
        (void)scope.driver().cuDestroyExternalMemory(static_cast<CUexternalMemory>(t->memory_));
        t->memory_ = nullptr;
        check(r, "cuExternalMemoryGetMappedMipmappedArray",
              "a " + std::to_string(handle.width) + "x" + std::to_string(handle.height) + " array of " +
                  std::to_string(format.channels) + " channels");
    }
    t->mipmap_ = mipmap;
    t->array_ = level0;
    t->width_ = handle.width;
    t->height_ = handle.height;
    t->format_ = format;
    t->context_ = std::move(context);
    return t;
}

CudaTexture::~CudaTexture() {
    if (memory_ == nullptr) return;
    // A copy still queued would read or write the array after it is freed: then it stays allocated.
    destroy_in_context(*context_, &pending_, [this](const Driver& d) {
        (void)d.cuMipmappedArrayDestroy(static_cast<CUmipmappedArray>(mipmap_));
        (void)d.cuDestroyExternalMemory(static_cast<CUexternalMemory>(memory_));
    });
}

void CudaTexture::copy(uint64_t linear, uint64_t pitch, StreamHandle stream, bool to_array) const {
    const uint64_t row = uint64_t{width_} * format_.bytes_per_texel;
    if (linear == 0) throw InvalidArgumentError("the device pointer is null");
    if (pitch < row) {
        throw InvalidArgumentError("a row pitch of " + std::to_string(pitch) + " bytes is less than the texture's " +
                                   std::to_string(row) + "-byte rows");
    }
    ContextScope scope(*context_);
    CUDA_MEMCPY2D c{};
    if (to_array) {
        c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
        c.srcDevice = linear;
        c.srcPitch = pitch;
        c.dstMemoryType = CU_MEMORYTYPE_ARRAY;
        c.dstArray = static_cast<CUarray>(array_);
    } else {
        c.srcMemoryType = CU_MEMORYTYPE_ARRAY;
        c.srcArray = static_cast<CUarray>(array_);
        c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
        c.dstDevice = linear;
        c.dstPitch = pitch;
    }
    c.WidthInBytes = row;
    c.Height = height_;
    check(scope.driver().cuMemcpy2DAsync(&c, as_stream(stream)), "cuMemcpy2DAsync");
    pending_.record(stream);
}

void CudaTexture::copy_to_device(uint64_t dst, uint64_t pitch, StreamHandle stream) const { copy(dst, pitch, stream, false); }

void CudaTexture::copy_from_device(uint64_t src, uint64_t pitch, StreamHandle stream) const {
    copy(src, pitch, stream, true);
}

// -- semaphore ------------------------------------------------------------------------------------

std::unique_ptr<CudaSemaphore> CudaSemaphore::import(std::shared_ptr<CudaContext> context, const SyncHandle& handle) {
    if (!context) throw InvalidArgumentError("CudaSemaphore::import: no CUDA context");
    if (handle.primitive != SyncPrimitive::kSemaphore) {
        throw InvalidHandleError("CUDA streams wait on semaphores; a fence handle cannot be imported into CUDA");
    }
    if (handle.handle_type != VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw InvalidHandleError("CUDA imports Vulkan semaphores as opaque FDs; this handle's type is " +
                                 std::to_string(handle.handle_type));
    }
    if (!handle.fd.valid()) throw InvalidHandleError("the semaphore handle's fd is closed");
    context->device()->check_same_device(handle.device_uuid, handle.driver_uuid);
    context->device()->check_opaque_fd(handle.fd.get(), Device::FdFamily::kSemaphore);
    const bool timeline = handle.semaphore_type == SemaphoreType::kTimeline;

    ContextScope scope(*context);
    // As with memory, ownership of the fd passes to CUDA only when the import succeeds.
    UniqueFd dup = UniqueFd::duplicate_of(handle.fd.get());
    const FdKind before = FdKind::of(dup.get(), "the duplicate");
    const uint64_t inode = inode_of(dup.get());
    CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC desc{};
    // The CUDA type must say what the Vulkan semaphore is: NVIDIA accepts a timeline fd described
    // as binary (DRIVER_FACTS.md), so the handle's own type decides.
    desc.type = timeline ? CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD : CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD;
    desc.handle.fd = dup.get();
    CUexternalSemaphore semaphore = nullptr;
    const CUresult r = scope.driver().cuImportExternalSemaphore(&semaphore, &desc);
    if (r != CUDA_SUCCESS) {
        forget_if_driver_closed(dup, before, inode);
        throw InvalidHandleError("CUDA refused to import semaphore fd " + std::to_string(handle.fd.get()) +
                                 ": cuImportExternalSemaphore returned " + result_name(r));
    }
    (void)dup.release();
    std::unique_ptr<CudaSemaphore> s(new CudaSemaphore());
    s->semaphore_ = semaphore;
    s->timeline_ = timeline;
    s->context_ = std::move(context);
    return s;
}

CudaSemaphore::~CudaSemaphore() {
    if (semaphore_ == nullptr) return;
    // "Any outstanding signals or waits must have completed before the semaphore is destroyed"
    // (cuDestroyExternalSemaphore): one still queued (a wait for a value that is never
    // signalled) keeps it, for good.
    destroy_in_context(*context_, &pending_, [this](const Driver& d) {
        (void)d.cuDestroyExternalSemaphore(static_cast<CUexternalSemaphore>(semaphore_));
    });
}

void CudaSemaphore::check_value(uint64_t value, const char* what) const {
    if (!timeline_ && value != 0) {
        throw InvalidArgumentError(std::string("a binary semaphore has no values: ") + what + " it with value 0, not " +
                                   std::to_string(value));
    }
}

void CudaSemaphore::wait(uint64_t value, StreamHandle stream) const {
    check_value(value, "wait on");
    ContextScope scope(*context_);
    CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS params{};
    params.params.fence.value = value;
    const CUexternalSemaphore s = static_cast<CUexternalSemaphore>(semaphore_);
    check(scope.driver().cuWaitExternalSemaphoresAsync(&s, &params, 1, as_stream(stream)), "cuWaitExternalSemaphoresAsync");
    pending_.record(stream);
}

void CudaSemaphore::signal(uint64_t value, StreamHandle stream) const {
    check_value(value, "signal");
    ContextScope scope(*context_);
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS params{};
    params.params.fence.value = value;
    const CUexternalSemaphore s = static_cast<CUexternalSemaphore>(semaphore_);
    check(scope.driver().cuSignalExternalSemaphoresAsync(&s, &params, 1, as_stream(stream)),
          "cuSignalExternalSemaphoresAsync");
    pending_.record(stream);
}

const std::vector<void*>& CudaSemaphore::raw_timelines(const std::vector<const CudaSemaphore*>& semaphores,
                                                       const char* what) {
    // Reused by the thread's every call, so a steady stream of frames allocates nothing.
    thread_local std::vector<void*> handles;
    handles.clear();
    for (const CudaSemaphore* s : semaphores) {
        if (s == nullptr) throw InvalidArgumentError(std::string("CudaSemaphore::") + what + ": a null semaphore");
        if (!s->timeline_) throw InvalidArgumentError(std::string("CudaSemaphore::") + what + " takes timelines; one is binary");
        if (s->context_ != semaphores.front()->context_) {
            throw InvalidArgumentError(std::string("CudaSemaphore::") + what + ": the semaphores are of different CUDA contexts");
        }
        handles.push_back(s->semaphore_);
    }
    return handles;
}

void CudaSemaphore::signal_all(const std::vector<const CudaSemaphore*>& semaphores, uint64_t value, StreamHandle stream) {
    if (semaphores.empty()) return;
    const std::vector<void*>& handles = raw_timelines(semaphores, "signal_all");
    thread_local std::vector<CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS> params;
    params.assign(handles.size(), CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS{});
    for (auto& p : params) p.params.fence.value = value;
    ContextScope scope(*semaphores.front()->context_);
    check(scope.driver().cuSignalExternalSemaphoresAsync(reinterpret_cast<const CUexternalSemaphore*>(handles.data()),
                                                         params.data(), static_cast<unsigned int>(handles.size()),
                                                         as_stream(stream)),
          "cuSignalExternalSemaphoresAsync");
}

void CudaSemaphore::wait_all(const std::vector<const CudaSemaphore*>& semaphores, const std::vector<uint64_t>& values,
                             StreamHandle stream) {
    if (semaphores.size() != values.size()) {
        throw InvalidArgumentError("CudaSemaphore::wait_all: " + std::to_string(semaphores.size()) + " semaphores and " +
                                   std::to_string(values.size()) + " values");
    }
    if (semaphores.empty()) return;
    const std::vector<void*>& handles = raw_timelines(semaphores, "wait_all");
    thread_local std::vector<CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS> params;
    params.assign(handles.size(), CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS{});
    for (size_t i = 0; i < params.size(); ++i) params[i].params.fence.value = values[i];
    ContextScope scope(*semaphores.front()->context_);
    check(scope.driver().cuWaitExternalSemaphoresAsync(reinterpret_cast<const CUexternalSemaphore*>(handles.data()),
                                                       params.data(), static_cast<unsigned int>(handles.size()),
                                                       as_stream(stream)),
          "cuWaitExternalSemaphoresAsync");
}

bool CudaSemaphore::idle() const noexcept {
    const Driver* d = driver();
    if (d == nullptr || d->cuCtxPushCurrent(reinterpret_cast<CUcontext>(context_->context())) != CUDA_SUCCESS) return false;
    const bool finished = pending_.finished();
    CUcontext popped = nullptr;
    (void)d->cuCtxPopCurrent(&popped);
    return finished;
}

}  // namespace geyser::cuda
