// Apple only: the Metal backend. Textures live in IOSurfaces so that another process can use the
// same memory; they are shared as Mach send rights and imported as MTLTextures. MTLSharedEvent
// orders work across processes and gives the host a bounded wait.
//
// This header is plain C++ (no Objective-C types), so C++ consumers can include it; the Metal
// objects are handed out as `void*` that an Objective-C++ caller bridges with (__bridge id<...>).
// Untested: no machine this project runs on has macOS (docs/platforms.md). The cross-process
// transport for Mach ports and MTLSharedEventHandles (XPC, or a port registered with the bootstrap
// server) is not part of this backend yet: it exports and imports, the caller carries.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "geyser/types.hpp"

namespace geyser::metal {

/// The MTLPixelFormat a TextureFormat maps to: the format table's mtl_format (geyser/formats.hpp).
/// DEPTH24_PLUS maps to MTLPixelFormatDepth32Float and DEPTH24_PLUS_STENCIL8 to
/// MTLPixelFormatDepth32Float_Stencil8, because Apple-silicon GPUs have no Depth24Unorm_Stencil8;
/// Vulkan's second choice for these formats is the same, so both sides can agree. (The table
/// names them, but MetalTexture refuses depth/stencil formats: see create().) Throws
/// UnsupportedFormatError for kUnknown or a value outside the table. Thread-safety: reads a
/// constant table; safe to call from any thread.
uint32_t mtl_pixel_format(TextureFormat format);

/// Bytes per texel of `format` in an IOSurface (its kIOSurfaceBytesPerElement). Throws as
/// mtl_pixel_format. Thread-safety: reads a constant table; safe to call from any thread.
uint32_t bytes_per_element(TextureFormat format);

/// Move-only owner of a Mach port send right: the destructor deallocates it (mach_port_deallocate).
/// 0 (MACH_PORT_NULL) means "holds nothing". Not thread-safe.
class UniqueMachPort {
public:
    UniqueMachPort() noexcept = default;
    /// Takes ownership of one user reference to the send right `port`.
    explicit UniqueMachPort(uint32_t port) noexcept : port_(port) {}
    UniqueMachPort(UniqueMachPort&& other) noexcept : port_(other.release()) {}
    UniqueMachPort& operator=(UniqueMachPort&& other) noexcept;
    UniqueMachPort(const UniqueMachPort&) = delete;
    UniqueMachPort& operator=(const UniqueMachPort&) = delete;
    ~UniqueMachPort() { reset(); }

    uint32_t get() const noexcept { return port_; }
    bool valid() const noexcept { return port_ != 0; }
    /// Gives up ownership: the caller must deallocate the returned right.
    [[nodiscard]] uint32_t release() noexcept;
    /// Deallocates what it holds and takes `port` instead.
    void reset(uint32_t port = 0) noexcept;

private:
    uint32_t port_ = 0;
};

/// The system's default Metal device (MTLCreateSystemDefaultDevice). Thread-safe: Metal devices
/// may be used from any thread.
class MetalDevice {
public:
    /// Throws UnsupportedOperationError when the system has no Metal device.
    static std::shared_ptr<MetalDevice> open();
    ~MetalDevice();
    MetalDevice(const MetalDevice&) = delete;
    MetalDevice& operator=(const MetalDevice&) = delete;

    std::string name() const;
    /// The id<MTLDevice>, borrowed (valid while this object lives).
    void* mtl_device() const noexcept;

    struct Impl;
    explicit MetalDevice(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

/// A 2D texture whose memory is an IOSurface. Holds its MetalDevice alive. Host I/O goes through
/// IOSurfaceLock, so it must not overlap GPU work on the texture: order them with a
/// MetalSharedEvent. Member functions are not synchronised; use one thread at a time.
class MetalTexture {
public:
    /// Allocates an IOSurface of width x height texels of `format` and a texture over it.
    /// `texture_usage` uses geyser.TextureUsage bits. Storage is Shared on Apple-family GPUs and
    /// Managed on others. Throws UnsupportedFormatError, before any Metal call, for depth/stencil
    /// formats (DEPTH32_FLOAT, DEPTH24_PLUS, DEPTH24_PLUS_STENCIL8: macOS keeps them in private
    /// storage, which an IOSurface cannot be), and when Metal cannot make a texture of that format
    /// over an IOSurface.
    static std::shared_ptr<MetalTexture> create(std::shared_ptr<MetalDevice> device, uint32_t width, uint32_t height,
                                                TextureFormat format, uint32_t texture_usage);

    /// Imports the IOSurface behind `borrowed_port` (a send right from export_mach_port(), which
    /// stays the caller's: IOSurfaceLookupFromMachPort does not consume it) as a texture of the
    /// given description. Throws UnsupportedFormatError for depth/stencil formats (as create()),
    /// InvalidHandleError when the port names no IOSurface or the surface's size or bytes per
    /// element disagree with the description.
    static std::shared_ptr<MetalTexture> import_mach_port(std::shared_ptr<MetalDevice> device, uint32_t borrowed_port,
                                                          uint32_t width, uint32_t height, TextureFormat format,
                                                          uint32_t texture_usage);

    ~MetalTexture();
    MetalTexture(const MetalTexture&) = delete;
    MetalTexture& operator=(const MetalTexture&) = delete;

    /// A new send right to the IOSurface (IOSurfaceCreateMachPort), owned by the caller. While it
    /// lives the surface stays alive, even if every texture over it is released. Throws Error
    /// when IOSurfaceCreateMachPort returns MACH_PORT_NULL.
    UniqueMachPort export_mach_port() const;

    uint32_t width() const noexcept;
    uint32_t height() const noexcept;
    TextureFormat format() const noexcept;
    /// Tightly packed bytes of the whole texture (width * height * bytes_per_element).
    size_t host_size() const noexcept;
    /// Copies exactly host_size() bytes in or out, row by row through the surface's row pitch.
    /// Throws InvalidArgumentError on a size mismatch, Error (with IOSurfaceLock's kern_return_t
    /// in the message) when the surface cannot be locked.
    void upload(const void* data, size_t size);
    void download(void* out, size_t size) const;

    /// The id<MTLTexture> and the IOSurfaceRef, borrowed (valid while this object lives).
    void* mtl_texture() const noexcept;
    void* iosurface() const noexcept;

    struct Impl;
    explicit MetalTexture(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

/// An MTLSharedEvent: a 64-bit counter that GPU command buffers and the host signal and wait on,
/// across processes. Thread-safe (as MTLSharedEvent is).
class MetalSharedEvent {
public:
    /// Throws UnsupportedOperationError when the device cannot make shared events.
    static std::shared_ptr<MetalSharedEvent> create(std::shared_ptr<MetalDevice> device);

    /// Recreates an event from a handle another process exported (newSharedEventWithHandle:).
    /// `handle` is a borrowed MTLSharedEventHandle* that arrived over XPC. Throws
    /// InvalidHandleError when Metal returns nil.
    static std::shared_ptr<MetalSharedEvent> import_handle(std::shared_ptr<MetalDevice> device, void* handle);

    ~MetalSharedEvent();
    MetalSharedEvent(const MetalSharedEvent&) = delete;
    MetalSharedEvent& operator=(const MetalSharedEvent&) = delete;

    /// A new MTLSharedEventHandle (newSharedEventHandle), returned retained: the caller owns it
    /// and releases it (CFRelease, or __bridge_transfer under ARC). Apple documents XPC as the
    /// way to pass it to another process; it conforms to NSSecureCoding for that.
    void* export_handle() const;

    /// The current value (signaledValue).
    uint64_t value() const;
    /// Sets the value from the host (setSignaledValue:). Values must not go backwards.
    void signal(uint64_t value);
    /// Blocks until the value is >= `value` or `timeout` passes (rounded up to whole
    /// milliseconds; waitUntilSignaledValue:timeoutMS:, macOS 12 or later). Throws TimeoutError.
    void wait(uint64_t value, std::chrono::nanoseconds timeout) const;

    /// The id<MTLSharedEvent>, borrowed.
    void* mtl_shared_event() const noexcept;

    struct Impl;
    explicit MetalSharedEvent(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace geyser::metal
