#include "geyser/error.hpp"

#include <cerrno>
#include <cstring>

#include <vulkan/vulkan_core.h>

namespace geyser {

namespace {

const char* vk_result_name(int32_t r) {
    switch (static_cast<VkResult>(r)) {
#define GEYSER_VK_RESULT(name) \
    case name:                 \
        return #name;
        GEYSER_VK_RESULT(VK_SUCCESS)
        GEYSER_VK_RESULT(VK_NOT_READY)
        GEYSER_VK_RESULT(VK_TIMEOUT)
        GEYSER_VK_RESULT(VK_EVENT_SET)
        GEYSER_VK_RESULT(VK_EVENT_RESET)
        GEYSER_VK_RESULT(VK_INCOMPLETE)
        GEYSER_VK_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
        GEYSER_VK_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        GEYSER_VK_RESULT(VK_ERROR_INITIALIZATION_FAILED)
        GEYSER_VK_RESULT(VK_ERROR_DEVICE_LOST)
        GEYSER_VK_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
        GEYSER_VK_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
        GEYSER_VK_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
        GEYSER_VK_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
        GEYSER_VK_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
        GEYSER_VK_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
        GEYSER_VK_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
        GEYSER_VK_RESULT(VK_ERROR_FRAGMENTED_POOL)
        GEYSER_VK_RESULT(VK_ERROR_UNKNOWN)
        GEYSER_VK_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
        GEYSER_VK_RESULT(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        GEYSER_VK_RESULT(VK_ERROR_FRAGMENTATION)
        GEYSER_VK_RESULT(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
#undef GEYSER_VK_RESULT
        default:
            return "VK_ERROR_(unrecognised)";
    }
}

std::string vk_message(int32_t r, const std::string& call, const std::string& detail) {
    std::string msg = call + " failed with " + vk_result_name(r) + " (" + std::to_string(r) + ")";
    if (!detail.empty()) msg += ": " + detail;
    return msg;
}

std::string os_message(int err, const std::string& call, const std::string& detail) {
    std::string msg = call + " failed: " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
    if (!detail.empty()) msg += ": " + detail;
    return msg;
}

}  // namespace

VulkanError::VulkanError(int32_t result, std::string call, const std::string& detail)
    : Error(vk_message(result, call, detail)), result_(result), call_(std::move(call)) {}

const char* VulkanError::result_name() const noexcept { return vk_result_name(result_); }

CudaError::CudaError(int32_t result, std::string result_name, std::string call, const std::string& detail)
    : Error(call + " failed with " + result_name + " (" + std::to_string(result) + ")" +
            (detail.empty() ? std::string() : ": " + detail)),
      result_(result),
      result_name_(std::move(result_name)),
      call_(std::move(call)) {}

GLError::GLError(uint32_t error, std::string error_name, std::string call, const std::string& detail)
    : Error(call + " raised " + error_name + (detail.empty() ? std::string() : ": " + detail)),
      error_(error),
      error_name_(std::move(error_name)),
      call_(std::move(call)) {}

OsError::OsError(int err, std::string call, const std::string& detail)
    : Error(os_message(err, call, detail)), errno_(err), call_(std::move(call)) {}

void throw_errno(const char* call, const std::string& detail) { throw OsError(errno, call, detail); }

}  // namespace geyser
