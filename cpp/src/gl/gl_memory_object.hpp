// Internal: the checks every GL memory import runs before the GL driver sees the fd, and the
// memory object that holds the imported memory (shared by GlTexture and GlBuffer).
#pragma once

#include <cstdint>

#include "geyser/gl.hpp"
#include "geyser/memory.hpp"

namespace geyser::gl {

/// Throws InvalidHandleError (wrong kind, handle type, closed or foreign fd, size 0) or
/// DeviceMismatchError (another device) unless `handle` may go to `context`'s driver as a `kind`.
void check_memory_handle(const GlContext& context, const MemoryHandle& handle, ResourceKind kind);

/// A GL memory object, deleted on destruction unless released (the context must be current).
class MemoryObject {
public:
    /// glCreateMemoryObjectsEXT, GL_DEDICATED_MEMORY_OBJECT_EXT as `handle` says, and
    /// glImportMemoryFdEXT of a duplicate of `handle.fd` (released to GL only on success).
    MemoryObject(const GlContext& context, const MemoryHandle& handle);
    ~MemoryObject();
    MemoryObject(const MemoryObject&) = delete;
    MemoryObject& operator=(const MemoryObject&) = delete;
    uint32_t get() const noexcept { return name_; }
    uint32_t release() noexcept {
        const uint32_t n = name_;
        name_ = 0;
        return n;
    }

private:
    const GlContext& context_;
    uint32_t name_ = 0;
};

}  // namespace geyser::gl
