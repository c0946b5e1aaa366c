// Geyser's exception hierarchy. Every failure in the core is thrown as one of these; the Python
// binding maps each class once onto the mirrored class in geyser.errors.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace geyser {

/// Root of every error Geyser throws. Messages say what was expected and what was found.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// No Vulkan loader, no driver, or no device that can do what was asked. Says what to install.
class VulkanUnavailableError : public Error {
public:
    using Error::Error;
};

/// A Vulkan call returned a failure code. Carries the VkResult and the name of the call.
class VulkanError : public Error {
public:
    VulkanError(int32_t result, std::string call, const std::string& detail = {});
    int32_t result() const noexcept { return result_; }
    /// The VkResult's enumerant name, such as "VK_ERROR_OUT_OF_DEVICE_MEMORY".
    const char* result_name() const noexcept;
    /// The Vulkan entry point that failed, such as "vkAllocateMemory".
    const std::string& call() const noexcept { return call_; }

private:
    int32_t result_;
    std::string call_;
};

/// A CUDA driver API call returned a failure code. Carries the CUresult, its name and the call.
class CudaError : public Error {
public:
    CudaError(int32_t result, std::string result_name, std::string call, const std::string& detail = {});
    int32_t result() const noexcept { return result_; }
    /// The CUresult's enumerant name, such as "CUDA_ERROR_INVALID_VALUE".
    const std::string& result_name() const noexcept { return result_name_; }
    /// The CUDA entry point that failed, such as "cuImportExternalMemory".
    const std::string& call() const noexcept { return call_; }

private:
    int32_t result_;
    std::string result_name_;
    std::string call_;
};

/// An OpenGL call raised a GL error (glGetError right after it). Carries the GL error code, its
/// name and the call.
class GLError : public Error {
public:
    GLError(uint32_t error, std::string error_name, std::string call, const std::string& detail = {});
    uint32_t error() const noexcept { return error_; }
    /// The error's enumerant name, such as "GL_INVALID_OPERATION".
    const std::string& error_name() const noexcept { return error_name_; }
    /// The GL entry point that raised it, such as "glTexStorageMem2DEXT".
    const std::string& call() const noexcept { return call_; }

private:
    uint32_t error_;
    std::string error_name_;
    std::string call_;
};

/// The format, usage or extent cannot be created or shared as asked on this device.
class UnsupportedFormatError : public Error {
public:
    using Error::Error;
};

/// The device or driver lacks the feature an operation needs (for example semaphore export).
class UnsupportedOperationError : public Error {
public:
    using Error::Error;
};

/// A handle (fd plus description) cannot be imported: closed or wrong-kind fd, or a description
/// that disagrees with what this device requires for the same resource.
class InvalidHandleError : public Error {
public:
    using Error::Error;
};

/// A handle was exported by another physical device or driver (device/driver UUID differ).
class DeviceMismatchError : public Error {
public:
    using Error::Error;
};

/// A bounded wait ran out of time.
class TimeoutError : public Error {
public:
    using Error::Error;
};

/// The process on the other end of a channel or timeline has gone away.
class PeerGoneError : public Error {
public:
    using Error::Error;
};

/// The producer of a named sender ended this subscription while it was alive (the subscriber held
/// a frame past the producer's release timeout, say). The producer's message says why.
class SubscriptionDroppedError : public Error {
public:
    using Error::Error;
};

/// A message on a channel broke the wire format (size, version, field or fd count).
class ProtocolError : public Error {
public:
    using Error::Error;
};

/// An argument is out of range or inconsistent (Python maps this to a ValueError subclass).
class InvalidArgumentError : public Error {
public:
    using Error::Error;
};

/// A system call failed. Carries errno and the name of the call.
class OsError : public Error {
public:
    OsError(int err, std::string call, const std::string& detail = {});
    int error_code() const noexcept { return errno_; }
    const std::string& call() const noexcept { return call_; }

private:
    int errno_;
    std::string call_;
};

/// Throws OsError for `call` with the current errno.
[[noreturn]] void throw_errno(const char* call, const std::string& detail = {});

}  // namespace geyser
