// The Metal backend's device, format table and IOSurface-backed textures. Objective-C++ with ARC
// (cmake/GeyserMetal.cmake). Every call here was checked against Apple's documentation; none has
// been compiled or run (docs/platforms.md).
//
// Cross-process export uses a Mach port (IOSurfaceCreateMachPort), not the global IOSurface ID:
// a global surface (kIOSurfaceIsGlobal, deprecated since macOS 10.11) can be looked up by any
// process on the system that guesses its 32-bit ID, whereas a send right is a capability that only
// the processes it is sent to hold. The price is a transport that carries port rights (a Mach
// message or XPC) instead of a plain integer in a Geyser frame.
//
// Every exported function body runs in an @autoreleasepool, so that objects Metal and Foundation
// autorelease are freed on return even on a thread with no run loop (a C++ caller's thread has no
// pool of its own). A C++ exception leaves the pool unpopped; the enclosing pool reclaims it.
#import <Foundation/Foundation.h>
#import <IOSurface/IOSurfaceRef.h>
#import <Metal/Metal.h>
#include <mach/mach.h>
#include <mach/mach_error.h>

#include <cstring>
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/formats.hpp"
#include "geyser/metal.hpp"

namespace geyser::metal {

namespace {

struct FormatRow {
    MTLPixelFormat pixel_format;
    uint32_t bytes_per_element;
    bool depth_or_stencil;  // never over an IOSurface: see require_iosurface_format()
};

// The Metal column of the format table (geyser::format_table(), cpp/src/format_table.cpp).
// Apple-silicon GPUs have no MTLPixelFormatDepth24Unorm_Stencil8 (isDepth24Stencil8PixelFormatSupported
// is false there), so the table's "24 or more bits of depth" is 32-bit float everywhere on Apple.
FormatRow row(TextureFormat format) {
    const FormatInfo* info = nullptr;
    try {
        info = &format_info(format);
    } catch (const InvalidArgumentError&) {
        throw UnsupportedFormatError("TextureFormat " + std::to_string(static_cast<uint32_t>(format)) +
                                     " has no Metal pixel format (expected 1..21)");
    }
    // MTLPixelFormatDepth32Float_Stencil8 takes 8 bytes a texel (32-bit depth, 8-bit stencil, 24 bits
    // unused); every other Metal format in the table is as large as the host texel of its colour or
    // depth aspect.
    const uint32_t bytes = info->has_stencil() ? 8u : info->texel_size();
    return {static_cast<MTLPixelFormat>(info->mtl_format), bytes, info->is_depth() || info->has_stencil()};
}

// Depth and stencil textures must use MTLStorageModePrivate on macOS, and an IOSurface-backed
// texture cannot be Private (its memory is the surface's, which the CPU can map): Metal's API
// validation aborts the process on such a descriptor, and without validation the result is
// undefined. So they are refused here, before any Metal or IOSurface call.
void require_iosurface_format(TextureFormat format) {
    if (row(format).depth_or_stencil) {
        throw UnsupportedFormatError("TextureFormat " + std::to_string(static_cast<uint32_t>(format)) +
                                     " is a depth/stencil format, which Metal keeps in private storage on macOS; "
                                     "it cannot be backed by a shareable IOSurface");
    }
}

MTLTextureUsage mtl_usage(uint32_t texture_usage) {
    // geyser.TextureUsage bits (WebGPU's): COPY_SRC/COPY_DST need no Metal usage flag.
    MTLTextureUsage usage = MTLTextureUsageUnknown;
    if (texture_usage & 0x04) usage |= MTLTextureUsageShaderRead;
    if (texture_usage & 0x08) usage |= MTLTextureUsageShaderWrite;
    if (texture_usage & 0x10) usage |= MTLTextureUsageRenderTarget;
    return usage;
}

}  // namespace

uint32_t mtl_pixel_format(TextureFormat format) {
    @autoreleasepool {
        return static_cast<uint32_t>(row(format).pixel_format);
    }
}
uint32_t bytes_per_element(TextureFormat format) {
    @autoreleasepool {
        return row(format).bytes_per_element;
    }
}

// ---- UniqueMachPort -------------------------------------------------------------------------

UniqueMachPort& UniqueMachPort::operator=(UniqueMachPort&& other) noexcept {
    @autoreleasepool {
        if (this != &other) reset(other.release());
        return *this;
    }
}

uint32_t UniqueMachPort::release() noexcept {
    @autoreleasepool {
        return std::exchange(port_, 0u);
    }
}

void UniqueMachPort::reset(uint32_t port) noexcept {
    @autoreleasepool {
        if (port_ != MACH_PORT_NULL && port_ != port) mach_port_deallocate(mach_task_self(), port_);
        port_ = port;
    }
}

// ---- MetalDevice ----------------------------------------------------------------------------

struct MetalDevice::Impl {
    id<MTLDevice> device;
};

MetalDevice::MetalDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetalDevice::~MetalDevice() {
    @autoreleasepool {
        impl_.reset();
    }
}

std::shared_ptr<MetalDevice> MetalDevice::open() {
    @autoreleasepool {
        id<MTLDevice> device = MTLCreateSystemDefaultDevice();
        if (device == nil) throw UnsupportedOperationError("MTLCreateSystemDefaultDevice returned nil: no Metal device");
        return std::make_shared<MetalDevice>(std::unique_ptr<Impl>(new Impl{device}));
    }
}

std::string MetalDevice::name() const {
    @autoreleasepool {
        return std::string(impl_->device.name.UTF8String);  // copied before the pool frees the NSString
    }
}
void* MetalDevice::mtl_device() const noexcept {
    @autoreleasepool {
        return (__bridge void*)impl_->device;
    }
}

// ---- MetalTexture ---------------------------------------------------------------------------

struct MetalTexture::Impl {
    std::shared_ptr<MetalDevice> device;
    IOSurfaceRef surface = nullptr;  // one reference, released in the destructor
    id<MTLTexture> texture;
    uint32_t width = 0;
    uint32_t height = 0;
    TextureFormat format = TextureFormat::kUnknown;
    ~Impl() {
        texture = nil;  // the texture references the surface; drop it first
        if (surface != nullptr) CFRelease(surface);
    }
};

MetalTexture::MetalTexture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetalTexture::~MetalTexture() {
    @autoreleasepool {
        impl_.reset();
    }
}

namespace {

std::shared_ptr<MetalTexture> wrap(std::shared_ptr<MetalDevice> device, IOSurfaceRef surface, uint32_t width,
                                   uint32_t height, TextureFormat format, uint32_t texture_usage) {
    auto impl = std::unique_ptr<MetalTexture::Impl>(new MetalTexture::Impl);
    impl->surface = surface;  // owns it from here, so every error below releases it
    impl->device = std::move(device);
    impl->width = width;
    impl->height = height;
    impl->format = format;
    require_iosurface_format(format);  // also checked by the callers, before the surface exists
    id<MTLDevice> mtl = (__bridge id<MTLDevice>)impl->device->mtl_device();
    MTLTextureDescriptor* desc = [MTLTextureDescriptor texture2DDescriptorWithPixelFormat:row(format).pixel_format
                                                                                    width:width
                                                                                   height:height
                                                                                mipmapped:NO];
    desc.usage = mtl_usage(texture_usage);
    // IOSurface memory is visible to the CPU. hasUnifiedMemory is no guide: it is YES on Intel
    // integrated GPUs too, which cannot make Shared textures over an IOSurface. Managed works on
    // every Mac; Shared only on Apple-family GPUs (Apple silicon), where it avoids the
    // synchronisation Managed implies.
    desc.storageMode = MTLStorageModeManaged;
    if (@available(macOS 10.15, *)) {
        if ([mtl supportsFamily:MTLGPUFamilyApple1]) desc.storageMode = MTLStorageModeShared;
    }
    impl->texture = [mtl newTextureWithDescriptor:desc iosurface:surface plane:0];
    if (impl->texture == nil) {
        throw UnsupportedFormatError("newTextureWithDescriptor:iosurface:plane: returned nil for TextureFormat " +
                                     std::to_string(static_cast<uint32_t>(format)) + " at " + std::to_string(width) +
                                     "x" + std::to_string(height));
    }
    return std::make_shared<MetalTexture>(std::move(impl));
}

}  // namespace

std::shared_ptr<MetalTexture> MetalTexture::create(std::shared_ptr<MetalDevice> device, uint32_t width, uint32_t height,
                                                   TextureFormat format, uint32_t texture_usage) {
    @autoreleasepool {
        if (width == 0 || height == 0) throw InvalidArgumentError("a texture needs a non-zero extent");
        require_iosurface_format(format);
        const uint32_t bpe = row(format).bytes_per_element;
        const size_t pitch = IOSurfaceAlignProperty(kIOSurfaceBytesPerRow, static_cast<size_t>(width) * bpe);
        NSDictionary* properties = @{
            (__bridge NSString*)kIOSurfaceWidth : @(width),
            (__bridge NSString*)kIOSurfaceHeight : @(height),
            (__bridge NSString*)kIOSurfaceBytesPerElement : @(bpe),
            (__bridge NSString*)kIOSurfaceBytesPerRow : @(pitch),
        };
        IOSurfaceRef surface = IOSurfaceCreate((__bridge CFDictionaryRef)properties);
        if (surface == nullptr) throw UnsupportedFormatError("IOSurfaceCreate failed for this size and format");
        return wrap(std::move(device), surface, width, height, format, texture_usage);
    }
}

std::shared_ptr<MetalTexture> MetalTexture::import_mach_port(std::shared_ptr<MetalDevice> device,
                                                             uint32_t borrowed_port, uint32_t width, uint32_t height,
                                                             TextureFormat format, uint32_t texture_usage) {
    @autoreleasepool {
        if (borrowed_port == MACH_PORT_NULL) {
            throw InvalidHandleError("expected an IOSurface send right, found MACH_PORT_NULL");
        }
        require_iosurface_format(format);
        // IOSurfaceLookupFromMachPort does not destroy the port, and returns a new reference.
        IOSurfaceRef surface = IOSurfaceLookupFromMachPort(borrowed_port);
        if (surface == nullptr) {
            throw InvalidHandleError("Mach port " + std::to_string(borrowed_port) + " names no IOSurface");
        }
        const uint32_t bpe = row(format).bytes_per_element;
        if (IOSurfaceGetWidth(surface) != width || IOSurfaceGetHeight(surface) != height ||
            IOSurfaceGetBytesPerElement(surface) != bpe) {
            const std::string found = std::to_string(IOSurfaceGetWidth(surface)) + "x" +
                                      std::to_string(IOSurfaceGetHeight(surface)) + ", " +
                                      std::to_string(IOSurfaceGetBytesPerElement(surface)) + " B/texel";
            CFRelease(surface);
            throw InvalidHandleError("IOSurface is " + found + ", but the description says " + std::to_string(width) +
                                     "x" + std::to_string(height) + ", " + std::to_string(bpe) + " B/texel");
        }
        return wrap(std::move(device), surface, width, height, format, texture_usage);
    }
}

UniqueMachPort MetalTexture::export_mach_port() const {
    @autoreleasepool {
        // The returned send right holds a use of the surface until it is deallocated.
        const mach_port_t port = IOSurfaceCreateMachPort(impl_->surface);
        if (port == MACH_PORT_NULL) throw Error("IOSurfaceCreateMachPort returned MACH_PORT_NULL");
        return UniqueMachPort(port);
    }
}

uint32_t MetalTexture::width() const noexcept {
    @autoreleasepool {
        return impl_->width;
    }
}
uint32_t MetalTexture::height() const noexcept {
    @autoreleasepool {
        return impl_->height;
    }
}
TextureFormat MetalTexture::format() const noexcept {
    @autoreleasepool {
        return impl_->format;
    }
}
size_t MetalTexture::host_size() const noexcept {
    @autoreleasepool {
        return static_cast<size_t>(impl_->width) * impl_->height * row(impl_->format).bytes_per_element;
    }
}
void* MetalTexture::mtl_texture() const noexcept {
    @autoreleasepool {
        return (__bridge void*)impl_->texture;
    }
}
void* MetalTexture::iosurface() const noexcept {
    @autoreleasepool {
        return impl_->surface;
    }
}

namespace {

// Copies between tightly packed host rows and the surface's pitched rows under IOSurfaceLock.
void copy_rows(IOSurfaceRef surface, size_t row_bytes, uint32_t rows, uint8_t* host, bool to_surface) {
    const IOSurfaceLockOptions options = to_surface ? 0 : kIOSurfaceLockReadOnly;
    const kern_return_t locked = IOSurfaceLock(surface, options, nullptr);
    if (locked != KERN_SUCCESS) {
        // A kern_return_t, not an errno: OsError (strerror) would misname it.
        throw Error("IOSurfaceLock failed: kern_return_t " + std::to_string(locked) + " (" +
                    mach_error_string(locked) + ")");
    }
    auto* base = static_cast<uint8_t*>(IOSurfaceGetBaseAddress(surface));
    const size_t pitch = IOSurfaceGetBytesPerRow(surface);
    for (uint32_t y = 0; y < rows; ++y) {
        if (to_surface) {
            std::memcpy(base + y * pitch, host + y * row_bytes, row_bytes);
        } else {
            std::memcpy(host + y * row_bytes, base + y * pitch, row_bytes);
        }
    }
    IOSurfaceUnlock(surface, options, nullptr);
}

}  // namespace

void MetalTexture::upload(const void* data, size_t size) {
    @autoreleasepool {
        if (size != host_size()) {
            throw InvalidArgumentError("upload needs exactly " + std::to_string(host_size()) + " bytes, found " +
                                       std::to_string(size));
        }
        copy_rows(impl_->surface, host_size() / impl_->height, impl_->height,
                  const_cast<uint8_t*>(static_cast<const uint8_t*>(data)), true);
    }
}

void MetalTexture::download(void* out, size_t size) const {
    @autoreleasepool {
        if (size != host_size()) {
            throw InvalidArgumentError("download needs exactly " + std::to_string(host_size()) + " bytes, found " +
                                       std::to_string(size));
        }
        copy_rows(impl_->surface, host_size() / impl_->height, impl_->height, static_cast<uint8_t*>(out), false);
    }
}

}  // namespace geyser::metal
