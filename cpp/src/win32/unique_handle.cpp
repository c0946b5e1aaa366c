#include "geyser/unique_handle.hpp"

#include <windows.h>

#include <cstdio>
#include <string>
#include <type_traits>

#include "geyser/error.hpp"
#include "geyser/win32_error.hpp"

namespace geyser {

static_assert(std::is_same<NativeHandle, HANDLE>::value, "NativeHandle must be the Win32 HANDLE type");

namespace {

std::string describe(NativeHandle h) {
    return "handle 0x" + [&] {
        char buf[24];
        std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(h)));
        return std::string(buf);
    }();
}

}  // namespace

bool UniqueHandle::valid() const noexcept { return handle_ != nullptr && handle_ != INVALID_HANDLE_VALUE; }

UniqueHandle& UniqueHandle::operator=(UniqueHandle&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

NativeHandle UniqueHandle::release() noexcept {
    NativeHandle h = handle_;
    handle_ = nullptr;
    return h;
}

void UniqueHandle::reset(NativeHandle handle) noexcept {
    if (valid() && handle_ != handle) CloseHandle(handle_);
    handle_ = handle;
}

UniqueHandle UniqueHandle::duplicate() const {
    if (!valid()) throw InvalidHandleError("cannot duplicate: this UniqueHandle holds no handle");
    HANDLE out = nullptr;
    if (!DuplicateHandle(GetCurrentProcess(), handle_, GetCurrentProcess(), &out, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        const DWORD err = GetLastError();  // before describe() allocates, which may overwrite it
        throw Win32Error(err, "DuplicateHandle", describe(handle_));
    }
    return UniqueHandle(out);
}

UniqueHandle UniqueHandle::duplicate_of(NativeHandle borrowed) {
    if (borrowed == nullptr || borrowed == INVALID_HANDLE_VALUE) {
        throw InvalidHandleError("expected an open Win32 handle, found " + describe(borrowed));
    }
    HANDLE out = nullptr;
    if (!DuplicateHandle(GetCurrentProcess(), borrowed, GetCurrentProcess(), &out, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        const DWORD err = GetLastError();
        if (err == ERROR_INVALID_HANDLE) throw InvalidHandleError(describe(borrowed) + " is not an open handle");
        throw Win32Error(err, "DuplicateHandle", describe(borrowed));
    }
    return UniqueHandle(out);
}

uint64_t duplicate_into(NativeHandle handle, NativeHandle target_process) {
    HANDLE out = nullptr;
    // The new handle lives in the target's handle table; `out` is only its value, which this
    // process must never use or close as its own.
    if (!DuplicateHandle(GetCurrentProcess(), handle, target_process, &out, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        const DWORD err = GetLastError();
        if (err == ERROR_INVALID_HANDLE) throw InvalidHandleError(describe(handle) + " is not an open handle");
        throw Win32Error(err, "DuplicateHandle", describe(handle) + " into another process");
    }
    return reinterpret_cast<uintptr_t>(out);
}

void close_in(NativeHandle target_process, uint64_t handle_value) noexcept {
    // DUPLICATE_CLOSE_SOURCE is the documented way to close a handle in another process, and it
    // closes the source "regardless of any error status returned", so the result says nothing about
    // whether the handle is gone and is not reported. Windows also allows a null target here, but
    // wine 8.0 refuses that, so the handle comes here and is closed.
    HANDLE local = nullptr;
    if (DuplicateHandle(target_process, reinterpret_cast<HANDLE>(static_cast<uintptr_t>(handle_value)),
                        GetCurrentProcess(), &local, 0, FALSE, DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS) &&
        local != nullptr) {
        CloseHandle(local);
    }
}

}  // namespace geyser
