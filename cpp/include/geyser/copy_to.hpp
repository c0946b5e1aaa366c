// The explicit copy between devices for single resources: a handle whose device cannot import it
// here (explain() says why) is imported on its own device, if this process can open that device
// too, downloaded, and uploaded into a new resource of `device`. Never done silently: an import
// that cannot be zero-copy throws (DeviceMismatchError and the rest), and this is what the caller
// asks for instead.
#pragma once

#include <memory>

#include "geyser/memory.hpp"

namespace geyser {

class Device;

/// A new shareable texture of `device` holding a copy of the texture `handle` describes (its fd
/// is duplicated, never taken). The handle is imported on the device whose UUID it carries
/// (Device::open by UUID: VulkanUnavailableError when this process sees no such device), with
/// every check import_texture runs; each aspect is downloaded once and uploaded once. The
/// handle's portable format must be one `device` can share (UnsupportedFormatError otherwise).
/// When `device` can import the handle itself the copy is still made: ask explain() first.
std::shared_ptr<Texture> copy_texture_to(const std::shared_ptr<Device>& device, const MemoryHandle& handle);
/// The same for a buffer: a new shareable buffer of `device` with the handle's buffer_size bytes.
std::shared_ptr<Buffer> copy_buffer_to(const std::shared_ptr<Device>& device, const MemoryHandle& handle);

}  // namespace geyser
