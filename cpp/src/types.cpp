// The plain value types of geyser/types.hpp: UUID text, resource kinds and handle-type names.
#include "geyser/types.hpp"

#include "geyser/error.hpp"

#include <string>

namespace geyser {

std::string uuid_to_hex(const Uuid& uuid) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (uint8_t b : uuid) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 0xF]);
    }
    return s;
}

const char* to_string(ResourceKind kind) {
    switch (kind) {
        case ResourceKind::kTexture: return "texture";
        case ResourceKind::kBuffer: return "buffer";
    }
    return "unknown";
}

namespace {

// Memory, semaphore and fence handle-type bits share values for the same OS handle kinds (but a
// fence's SYNC_FD is 0x8: VkExternalFenceHandleTypeFlagBits; the names here are the memory and
// semaphore bits a handle carries).
constexpr struct {
    uint32_t bit;
    const char* name;
} kExternalHandleTypeNames[] = {
    {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, "opaque_fd"},
    {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, "opaque_win32"},
    {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, "opaque_win32_kmt"},
    {VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT, "sync_fd"},  // == D3D11_TEXTURE for memory
    {VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT, "dma_buf"},
};

}  // namespace

const char* external_handle_type_name(uint32_t bit) {
    for (const auto& t : kExternalHandleTypeNames) {
        if (t.bit == bit) return t.name;
    }
    return "unknown";
}

uint32_t external_handle_type_bit(const std::string& name) {
    std::string names;
    for (const auto& t : kExternalHandleTypeNames) {
        if (name == t.name) return t.bit;
        names += std::string(names.empty() ? "" : ", ") + "'" + t.name + "'";
    }
    throw InvalidArgumentError("handle type must be one of " + names + ", got '" + name + "'");
}

const char* to_string(SharePath path) {
    switch (path) {
        case SharePath::kZeroCopy:
            return "zero-copy";
        case SharePath::kCopy:
            return "copy";
        case SharePath::kPeerCopy:
            return "peer-copy";
    }
    return "unknown";
}

}  // namespace geyser
