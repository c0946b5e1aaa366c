// The plain value types of geyser/types.hpp: UUID text, resource kinds and handle-type names.
#include "geyser/types.hpp"

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

const char* external_handle_type_name(uint32_t bit) {
    // Memory, semaphore and fence handle-type bits share values for the same OS handle kinds.
    switch (bit) {
        case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT: return "opaque_fd";
        case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT: return "opaque_win32";
        case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT: return "opaque_win32_kmt";
        case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT: return "sync_fd";  // == D3D11_TEXTURE for memory
        case VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT: return "dma_buf";
        default: return "unknown";
    }
}

}  // namespace geyser
