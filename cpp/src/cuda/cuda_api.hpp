// Internal: the slice of the CUDA driver API Geyser calls, declared from NVIDIA's documentation of
// the driver API ABI (types, enumerant values, struct layouts), and the table of entry points
// loaded from libcuda.so.1 at run time. No CUDA header is needed to build; where one exists,
// tests/cpp/test_cuda_abi.cpp checks every layout here against it (sizeof, offsetof, values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

// The driver's opaque object types, declared at global scope under the same names as cuda.h so
// both can be included together (tests/cpp/test_cuda_abi.cpp).
struct CUctx_st;
struct CUstream_st;
struct CUarray_st;
struct CUmipmappedArray_st;
struct CUextMemory_st;
struct CUextSemaphore_st;
struct CUevent_st;

namespace geyser::cuda::api {

using CUresult = int;  // an enum of int size in cuda.h
using CUdevice = int;
using CUdeviceptr = unsigned long long;  // the _v2 ABI
using CUcontext = ::CUctx_st*;
using CUstream = ::CUstream_st*;
using CUarray = ::CUarray_st*;
using CUmipmappedArray = ::CUmipmappedArray_st*;
using CUexternalMemory = ::CUextMemory_st*;
using CUexternalSemaphore = ::CUextSemaphore_st*;
using CUevent = ::CUevent_st*;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NOT_INITIALIZED = 3;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;
constexpr CUresult CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704;

// CUstream_flags
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
// cuMemHostAlloc flags
constexpr unsigned kMemHostAllocPortable = 0x01;

// CUevent_flags
constexpr unsigned CU_EVENT_DISABLE_TIMING = 0x2;

struct CUuuid {
    char bytes[16];
};

// CUexternalMemoryHandleType / CUexternalSemaphoreHandleType
constexpr int CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD = 1;
constexpr int CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD = 1;
constexpr int CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD = 9;
constexpr unsigned kExternalMemoryDedicated = 0x1;

// CUarray_format
constexpr unsigned CU_AD_FORMAT_UNSIGNED_INT8 = 0x01;
constexpr unsigned CU_AD_FORMAT_UNSIGNED_INT16 = 0x02;
constexpr unsigned CU_AD_FORMAT_UNSIGNED_INT32 = 0x03;
constexpr unsigned CU_AD_FORMAT_SIGNED_INT8 = 0x08;
constexpr unsigned CU_AD_FORMAT_SIGNED_INT16 = 0x09;
constexpr unsigned CU_AD_FORMAT_SIGNED_INT32 = 0x0a;
constexpr unsigned CU_AD_FORMAT_HALF = 0x10;
constexpr unsigned CU_AD_FORMAT_FLOAT = 0x20;

// CUDA_ARRAY3D_DESCRIPTOR::Flags
constexpr unsigned kArray3dSurfaceLdst = 0x02;
constexpr unsigned kArray3dColorAttachment = 0x20;

// CUmemorytype
constexpr int CU_MEMORYTYPE_HOST = 1;
constexpr int CU_MEMORYTYPE_DEVICE = 2;
constexpr int CU_MEMORYTYPE_ARRAY = 3;

// CUpointer_attribute
constexpr int CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9;
constexpr int CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11;
constexpr int CU_POINTER_ATTRIBUTE_RANGE_SIZE = 12;

struct CUDA_EXTERNAL_MEMORY_HANDLE_DESC {
    int type;
    union {
        int fd;
        struct {
            void* handle;
            const void* name;
        } win32;
        const void* nvSciBufObject;
    } handle;
    unsigned long long size;
    unsigned int flags;
    unsigned int reserved[16];
};

struct CUDA_EXTERNAL_MEMORY_BUFFER_DESC {
    unsigned long long offset;
    unsigned long long size;
    unsigned int flags;
    unsigned int reserved[16];
};

struct CUDA_ARRAY3D_DESCRIPTOR {
    size_t Width;
    size_t Height;
    size_t Depth;
    unsigned Format;  // CUarray_format
    unsigned int NumChannels;
    unsigned int Flags;
};

struct CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC {
    unsigned long long offset;
    CUDA_ARRAY3D_DESCRIPTOR arrayDesc;
    unsigned int numLevels;
    unsigned int reserved[16];
};

struct CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC {
    int type;
    union {
        int fd;
        struct {
            void* handle;
            const void* name;
        } win32;
        const void* nvSciSyncObj;
    } handle;
    unsigned int flags;
    unsigned int reserved[16];
};

struct CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS {
    struct {
        struct {
            unsigned long long value;
        } fence;
        union {
            void* fence;
            unsigned long long reserved;
        } nvSciSync;
        struct {
            unsigned long long key;
        } keyedMutex;
        unsigned int reserved[12];
    } params;
    unsigned int flags;
    unsigned int reserved[16];
};

struct CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS {
    struct {
        struct {
            unsigned long long value;
        } fence;
        union {
            void* fence;
            unsigned long long reserved;
        } nvSciSync;
        struct {
            unsigned long long key;
            unsigned int timeoutMs;
        } keyedMutex;
        unsigned int reserved[10];
    } params;
    unsigned int flags;
    unsigned int reserved[16];
};

struct CUDA_MEMCPY2D {
    size_t srcXInBytes;
    size_t srcY;
    int srcMemoryType;  // CUmemorytype
    const void* srcHost;
    CUdeviceptr srcDevice;
    CUarray srcArray;
    size_t srcPitch;
    size_t dstXInBytes;
    size_t dstY;
    int dstMemoryType;
    void* dstHost;
    CUdeviceptr dstDevice;
    CUarray dstArray;
    size_t dstPitch;
    size_t WidthInBytes;
    size_t Height;
};

struct CUDA_MEMCPY3D_PEER {
    size_t srcXInBytes;
    size_t srcY;
    size_t srcZ;
    size_t srcLOD;
    int srcMemoryType;  // CUmemorytype
    const void* srcHost;
    CUdeviceptr srcDevice;
    CUarray srcArray;
    CUcontext srcContext;
    size_t srcPitch;
    size_t srcHeight;
    size_t dstXInBytes;
    size_t dstY;
    size_t dstZ;
    size_t dstLOD;
    int dstMemoryType;
    void* dstHost;
    CUdeviceptr dstDevice;
    CUarray dstArray;
    CUcontext dstContext;
    size_t dstPitch;
    size_t dstHeight;
    size_t WidthInBytes;
    size_t Height;
    size_t Depth;
};

/// The driver entry points, loaded once. The names are the versioned symbols the CUDA headers map
/// the plain names to (cuCtxPushCurrent -> cuCtxPushCurrent_v2 and so on).
struct Driver {
    CUresult (*cuInit)(unsigned int);
    CUresult (*cuDriverGetVersion)(int*);
    CUresult (*cuGetErrorName)(CUresult, const char**);
    CUresult (*cuGetErrorString)(CUresult, const char**);
    CUresult (*cuDeviceGetCount)(int*);
    CUresult (*cuDeviceGet)(CUdevice*, int);
    CUresult (*cuDeviceGetName)(char*, int, CUdevice);
    CUresult (*cuDeviceGetUuid)(CUuuid*, CUdevice);  // cuDeviceGetUuid_v2
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);  // _v2
    CUresult (*cuCtxPushCurrent)(CUcontext);          // _v2
    CUresult (*cuCtxPopCurrent)(CUcontext*);          // _v2
    CUresult (*cuCtxGetCurrent)(CUcontext*);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuStreamGetCtx)(CUstream, CUcontext*);  // the context a stream belongs to
    CUresult (*cuImportExternalMemory)(CUexternalMemory*, const CUDA_EXTERNAL_MEMORY_HANDLE_DESC*);
    CUresult (*cuExternalMemoryGetMappedBuffer)(CUdeviceptr*, CUexternalMemory, const CUDA_EXTERNAL_MEMORY_BUFFER_DESC*);
    CUresult (*cuExternalMemoryGetMappedMipmappedArray)(CUmipmappedArray*, CUexternalMemory,
                                                        const CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC*);
    CUresult (*cuMipmappedArrayGetLevel)(CUarray*, CUmipmappedArray, unsigned int);
    CUresult (*cuMipmappedArrayDestroy)(CUmipmappedArray);
    CUresult (*cuDestroyExternalMemory)(CUexternalMemory);
    CUresult (*cuMemFree)(CUdeviceptr);  // _v2
    CUresult (*cuMemcpy2DAsync)(const CUDA_MEMCPY2D*, CUstream);  // _v2
    CUresult (*cuImportExternalSemaphore)(CUexternalSemaphore*, const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC*);
    CUresult (*cuSignalExternalSemaphoresAsync)(const CUexternalSemaphore*, const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS*,
                                                unsigned int, CUstream);
    CUresult (*cuWaitExternalSemaphoresAsync)(const CUexternalSemaphore*, const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS*,
                                              unsigned int, CUstream);
    CUresult (*cuDestroyExternalSemaphore)(CUexternalSemaphore);
    CUresult (*cuPointerGetAttribute)(void*, int, CUdeviceptr);
    CUresult (*cuEventCreate)(CUevent*, unsigned int);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventQuery)(CUevent);
    CUresult (*cuEventDestroy)(CUevent);  // _v2
    CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned int);
    // Several GPUs (geyser/gpu_topology.hpp, geyser/peer_copy.hpp)
    CUresult (*cuDeviceCanAccessPeer)(int*, CUdevice, CUdevice);
    CUresult (*cuCtxEnablePeerAccess)(CUcontext, unsigned int);
    CUresult (*cuStreamCreate)(CUstream*, unsigned int);
    CUresult (*cuStreamDestroy)(CUstream);  // _v2
    CUresult (*cuMemcpyPeerAsync)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream);
    CUresult (*cuMemcpy3DPeerAsync)(const CUDA_MEMCPY3D_PEER*, CUstream);
    CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);        // _v2
    CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);  // _v2
    CUresult (*cuMemHostAlloc)(void**, size_t, unsigned int);
    CUresult (*cuMemFreeHost)(void*);
};

/// The loaded driver, or nullptr when libcuda.so.1 is missing, lacks an entry point, or cuInit
/// failed (cuda_status().reason says which).
const Driver* driver() noexcept;

/// The driver, or throws UnsupportedOperationError with the reason CUDA cannot be used.
const Driver& require_driver();

/// "CUDA_ERROR_..." for `result`, from the driver when it knows the code.
std::string result_name(CUresult result);

/// Throws CudaError naming `call` unless `result` is CUDA_SUCCESS.
void check(CUresult result, const char* call, const std::string& detail = {});

}  // namespace geyser::cuda::api
