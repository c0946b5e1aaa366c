// Windows only: the one owner of a Win32 HANDLE (an NT handle: a section, an event, a pipe, a
// process, a Vulkan OPAQUE_WIN32 export). The Windows counterpart of unique_fd.hpp.
#pragma once

#include <cstdint>

namespace geyser {

/// The Win32 HANDLE type, spelt without <windows.h> (which is a void*; unique_handle.cpp checks).
using NativeHandle = void*;

/// Move-only owner of a Win32 handle: the destructor calls CloseHandle. A null handle and
/// INVALID_HANDLE_VALUE both mean "holds nothing" (Win32 APIs use either for failure, and
/// INVALID_HANDLE_VALUE is also the current-process pseudo-handle, which must never be closed).
/// Not thread-safe; share ownership by duplicate(), never by copying the value.
class UniqueHandle {
public:
    UniqueHandle() noexcept = default;
    /// Takes ownership of `handle` (which may be null or INVALID_HANDLE_VALUE).
    explicit UniqueHandle(NativeHandle handle) noexcept : handle_(handle) {}
    UniqueHandle(UniqueHandle&& other) noexcept : handle_(other.release()) {}
    UniqueHandle& operator=(UniqueHandle&& other) noexcept;
    UniqueHandle(const UniqueHandle&) = delete;
    UniqueHandle& operator=(const UniqueHandle&) = delete;
    ~UniqueHandle() { reset(); }

    NativeHandle get() const noexcept { return handle_; }
    bool valid() const noexcept;
    explicit operator bool() const noexcept { return valid(); }

    /// Gives up ownership: the caller must CloseHandle the returned handle.
    [[nodiscard]] NativeHandle release() noexcept;
    /// Closes what it holds and takes `handle` instead.
    void reset(NativeHandle handle = nullptr) noexcept;
    /// A new owner of a duplicate in this process (DuplicateHandle, same access, not inheritable).
    /// Throws InvalidHandleError when nothing is held, Win32Error when the duplication fails.
    UniqueHandle duplicate() const;
    /// Takes a duplicate of a borrowed handle. Throws InvalidHandleError if it is not an open handle.
    static UniqueHandle duplicate_of(NativeHandle borrowed);

    /// The handle's numeric value, for messages and for the wire (see pipe_channel.hpp).
    uint64_t value() const noexcept { return reinterpret_cast<uintptr_t>(handle_); }

private:
    NativeHandle handle_ = nullptr;
};

/// Duplicates `handle` into the process `target_process` (a handle with PROCESS_DUP_HANDLE access)
/// and returns the new handle's value there. The value means nothing in this process: it is owned
/// by the target, which must take it into a UniqueHandle (or CloseHandle it). This is the documented
/// way to give a handle to another process. `handle` and `target_process` stay borrowed. Throws
/// InvalidHandleError when `handle` is not open, Win32Error otherwise.
/// Thread-safety: safe to call from any thread, as DuplicateHandle is, provided no other thread
/// closes `handle` or `target_process` during the call.
uint64_t duplicate_into(NativeHandle handle, NativeHandle target_process);

/// Closes a handle that lives in another process (DuplicateHandle with DUPLICATE_CLOSE_SOURCE), to
/// take back one that duplicate_into gave but the target never received. Never throws.
///
/// After the call, `handle_value` is gone as far as the caller is concerned, whatever happened:
/// DUPLICATE_CLOSE_SOURCE closes the source handle regardless of the error status DuplicateHandle
/// returns, so a failure does not mean "still open", and retrying could close an unrelated handle
/// that the target has since opened under the same value. There is therefore no result to act on.
/// The only way the handle survives is a `target_process` handle that is not a process handle with
/// PROCESS_DUP_HANDLE access, which is a caller bug (the value then stays the target's, leaked).
/// Thread-safety: as duplicate_into.
void close_in(NativeHandle target_process, uint64_t handle_value) noexcept;

}  // namespace geyser
