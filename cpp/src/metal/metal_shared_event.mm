// MTLSharedEvent for cross-process ordering, with a host wait that really blocks
// (waitUntilSignaledValue:timeoutMS:, macOS 12+). Objective-C++ with ARC. Checked against Apple's
// documentation; never compiled or run (docs/platforms.md). Every exported function body runs in an
// @autoreleasepool (see metal_texture.mm).
#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <algorithm>
#include <string>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/metal.hpp"
#include "../timeout.hpp"

namespace geyser::metal {

struct MetalSharedEvent::Impl {
    std::shared_ptr<MetalDevice> device;
    id<MTLSharedEvent> event;
};

MetalSharedEvent::MetalSharedEvent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetalSharedEvent::~MetalSharedEvent() {
    @autoreleasepool {
        impl_.reset();
    }
}

std::shared_ptr<MetalSharedEvent> MetalSharedEvent::create(std::shared_ptr<MetalDevice> device) {
    @autoreleasepool {
        id<MTLDevice> mtl = (__bridge id<MTLDevice>)device->mtl_device();
        id<MTLSharedEvent> event = [mtl newSharedEvent];
        if (event == nil) throw UnsupportedOperationError("newSharedEvent returned nil on " + device->name());
        return std::make_shared<MetalSharedEvent>(std::unique_ptr<Impl>(new Impl{std::move(device), event}));
    }
}

std::shared_ptr<MetalSharedEvent> MetalSharedEvent::import_handle(std::shared_ptr<MetalDevice> device, void* handle) {
    @autoreleasepool {
        if (handle == nullptr) throw InvalidHandleError("expected an MTLSharedEventHandle, found null");
        id<MTLDevice> mtl = (__bridge id<MTLDevice>)device->mtl_device();
        MTLSharedEventHandle* shared = (__bridge MTLSharedEventHandle*)handle;
        id<MTLSharedEvent> event = [mtl newSharedEventWithHandle:shared];
        if (event == nil) throw InvalidHandleError("newSharedEventWithHandle: returned nil");
        return std::make_shared<MetalSharedEvent>(std::unique_ptr<Impl>(new Impl{std::move(device), event}));
    }
}

void* MetalSharedEvent::export_handle() const {
    @autoreleasepool {
        MTLSharedEventHandle* handle = [impl_->event newSharedEventHandle];
        if (handle == nil) throw UnsupportedOperationError("newSharedEventHandle returned nil");
        return (__bridge_retained void*)handle;  // the caller owns this reference
    }
}

uint64_t MetalSharedEvent::value() const {
    @autoreleasepool {
        return impl_->event.signaledValue;
    }
}

void MetalSharedEvent::signal(uint64_t value) {
    @autoreleasepool {
        impl_->event.signaledValue = value;
    }
}

void MetalSharedEvent::wait(uint64_t value, std::chrono::nanoseconds timeout) const {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    @autoreleasepool {
        // Whole milliseconds, rounded up, so a short timeout still waits; UINT64_MAX stays "no limit".
        const uint64_t timeout_ms =
            timeout_ns == UINT64_MAX ? UINT64_MAX : timeout_ns / 1'000'000 + (timeout_ns % 1'000'000 != 0 ? 1 : 0);
        if (@available(macOS 12.0, iOS 15.0, *)) {
            if (![impl_->event waitUntilSignaledValue:value timeoutMS:timeout_ms]) {
                throw TimeoutError("MTLSharedEvent did not reach " + std::to_string(value) + " within " +
                                   std::to_string(timeout_ms) + " ms (it is at " +
                                   std::to_string(impl_->event.signaledValue) + ")");
            }
        } else {
            throw UnsupportedOperationError(
                "MetalSharedEvent::wait needs macOS 12 (waitUntilSignaledValue:timeoutMS:)");
        }
    }
}

void* MetalSharedEvent::mtl_shared_event() const noexcept {
    @autoreleasepool {
        return (__bridge void*)impl_->event;
    }
}

}  // namespace geyser::metal
