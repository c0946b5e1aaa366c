// Internal: the checks every GL memory import runs before the GL driver sees the fd, and the
// memory object that holds the imported memory (shared by GlTexture and GlBuffer).
#pragma once

#include <cstdint>

#include "geyser/gl.hpp"
#include "geyser/memory.hpp"
#include "gl/gl_api.hpp"

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

/// A new texture or buffer name, bound to `target` while it is set up: on scope exit the
/// previous binding is restored and, unless kept, the name deleted.
struct NewName {
    void (*bind)(api::GLenum, api::GLuint);
    void (*del)(api::GLsizei, const api::GLuint*);
    api::GLenum target;
    api::GLint previous;
    api::GLuint name;
    bool keep = false;
    ~NewName() {
        bind(target, static_cast<api::GLuint>(previous));
        if (!keep) del(1, &name);
    }
};

/// Deletes `name` with `del`, and the memory object `*memory` unless `memory` is null, in
/// `context`; both are zeroed. `close` true: close()'s path (the context must be current,
/// UnsupportedOperationError naming `what` otherwise, and a GL error is a GLError naming `call`).
/// `close` false: a destructor's, which throws nothing and does nothing unless the context is
/// current (names are per context: another context's would be deleted).
void delete_gl_objects(const GlContext& context, void (*del)(api::GLsizei, const api::GLuint*), uint32_t& name,
                       uint32_t* memory, const char* what, const char* call, bool close);

}  // namespace geyser::gl
