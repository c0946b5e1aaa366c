// Internal, Windows only: the one NT handle Vulkan hands out for one object and handle type, kept
// by the object's owner (the Win32 memory and semaphore services export through it).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "geyser/unique_handle.hpp"

namespace geyser {

/// The one NT handle Vulkan hands out for one object and handle type.
///
/// The rule (VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663 and
/// VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01128): for an NT handle type such as
/// OPAQUE_WIN32, vkGetMemoryWin32HandleKHR / vkGetSemaphoreWin32HandleKHR may be called at most
/// once for each object and handle type. So an object is exported once, into a Win32Export that
/// the object's owner keeps beside it for the object's whole life, and every further use takes a
/// duplicate() (or lends get() to PipeChannel::send, which duplicates into the peer itself).
///
/// export_once enforces the rule while the Win32Export lives: a second export of the same object
/// and handle type throws InvalidArgumentError. Destroy the Win32Export only together with the
/// object (after vkFreeMemory / vkDestroySemaphore, or just before): an export after the
/// Win32Export is gone cannot be told from one of a new object that reused the handle value, so
/// it is not caught.
///
/// Move-only; the destructor closes the handle (CloseHandle: the payload lives on while any
/// duplicate or import holds it). Thread-safety: const members may be called from any thread;
/// moving or destroying must not overlap other calls.
class Win32Export {
public:
    Win32Export(Win32Export&& other) noexcept;
    Win32Export& operator=(Win32Export&& other) noexcept;
    Win32Export(const Win32Export&) = delete;
    Win32Export& operator=(const Win32Export&) = delete;
    ~Win32Export();

    /// The exported handle, borrowed: valid while this object lives. Never CloseHandle it.
    NativeHandle get() const noexcept { return handle_.get(); }
    /// A new owner of a duplicate of the exported handle (DuplicateHandle, same access): give this
    /// to whoever needs a handle of their own. Throws Win32Error.
    UniqueHandle duplicate() const { return handle_.duplicate(); }

    /// Which object and handle type an export belongs to (for the one-export registry).
    struct Key {
        uint64_t device = 0;
        uint64_t object = 0;
        uint32_t kind = 0;  // 1: VkDeviceMemory, 2: VkSemaphore
        uint32_t handle_type = 0;
        bool operator<(const Key& o) const noexcept;
    };
    /// A Vulkan handle's value for a Key: the pointer of a dispatchable handle (and, on 64-bit,
    /// of a non-dispatchable one), else the 64-bit value.
    template <typename VkHandle>
    static uint64_t handle_bits(VkHandle h) noexcept {
        if constexpr (std::is_pointer<VkHandle>::value) {
            return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(h));
        } else {
            return static_cast<uint64_t>(h);
        }
    }

    /// Makes the one export of `key`'s object: claims the key (InvalidArgumentError naming `what`
    /// while it has a live export, before `get` runs), then calls `get`, which returns the NT
    /// handle Vulkan gave (the caller's from then on) or throws; a throw leaves the key unclaimed,
    /// since a failed call made no export. Thread-safe.
    template <typename Get>
    static Win32Export export_once(const Key& key, const char* what, Get&& get) {
        claim(key, what);
        try {
            return Win32Export(UniqueHandle(get()), key);
        } catch (...) {
            unclaim(key);
            throw;
        }
    }

private:
    Win32Export(UniqueHandle handle, const Key& key) noexcept
        : handle_(std::move(handle)), key_(key), registered_(true) {}
    static void claim(const Key& key, const char* what);
    static void unclaim(const Key& key) noexcept;
    void unregister() noexcept;

    UniqueHandle handle_;
    Key key_;
    bool registered_ = false;
};

}  // namespace geyser
