// The checks before a GL memory import, and the imported memory object.
#include "gl/gl_memory_object.hpp"

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "gl/gl_api.hpp"
#include "posix/fd_kind.hpp"

namespace geyser::gl {

using namespace api;

void check_memory_handle(const GlContext& context, const MemoryHandle& h, ResourceKind kind) {
    const char* wanted = kind == ResourceKind::kTexture ? "texture" : "buffer";
    if (h.kind != kind) {
        throw InvalidHandleError(std::string("a ") + (h.kind == ResourceKind::kTexture ? "texture" : "buffer") +
                                 " handle cannot be imported as a GL " + wanted);
    }
    if (h.handle_type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw InvalidHandleError("GL_EXT_memory_object_fd imports opaque FDs; this handle's type is " +
                                 std::to_string(static_cast<uint32_t>(h.handle_type)));
    }
    if (!h.fd.valid()) throw InvalidHandleError(std::string("the ") + wanted + " handle's fd is closed");
    // The context was matched to the Device by its GL_DEVICE_UUID_EXT and GL_DRIVER_UUID_EXT, so
    // a handle of the Device's UUIDs is one of the context's.
    context.device()->check_same_device(h.device_uuid, h.driver_uuid);
    if (h.size == 0) throw InvalidHandleError(std::string("the ") + wanted + " handle's allocation size is 0");
    context.device()->check_opaque_fd(h.fd.get(), Device::FdFamily::kMemory);
}

MemoryObject::MemoryObject(const GlContext& context, const MemoryHandle& h) : context_(context) {
    const Functions& f = context.functions();
    clear_errors(f);
    GLuint name = 0;
    f.CreateMemoryObjectsEXT(1, &name);
    check(f, "glCreateMemoryObjectsEXT");
    name_ = name;
    // GL_EXT_memory_object: the dedicated flag must match the exporting allocation's, and it can
    // only be set before the import.
    const GLint dedicated = h.dedicated ? 1 : 0;
    f.MemoryObjectParameterivEXT(name_, GL_DEDICATED_MEMORY_OBJECT_EXT, &dedicated);
    check(f, "glMemoryObjectParameterivEXT(GL_DEDICATED_MEMORY_OBJECT_EXT)");
    // "A successful import operation transfers ownership of <fd> to the GL implementation"
    // (GL_EXT_memory_object_fd), so GL gets a duplicate, released only then.
    UniqueFd dup = UniqueFd::duplicate_of(h.fd.get());
    const FdKind before = FdKind::of(dup.get(), "the duplicate");
    const uint64_t inode = inode_of(dup.get());
    f.ImportMemoryFdEXT(name_, h.size, GL_HANDLE_TYPE_OPAQUE_FD_EXT, dup.get());
    const GLenum e = f.GetError();
    if (e != GL_NO_ERROR) {
        clear_errors(f);
        forget_if_driver_closed(dup, before, inode);
        throw GLError(e, error_name(e), "glImportMemoryFdEXT",
                      "size " + std::to_string(h.size) + (h.dedicated ? ", dedicated" : ""));
    }
    (void)dup.release();
}

MemoryObject::~MemoryObject() {
    if (name_ != 0) {
        const Functions& f = context_.functions();
        f.DeleteMemoryObjectsEXT(1, &name_);
        clear_errors(f);
    }
}

void delete_gl_objects(const GlContext& context, void (*del)(GLsizei, const GLuint*), uint32_t& name, uint32_t* memory,
                       const char* what, const char* call, bool close) {
    if (name == 0) return;
    if (close) {
        context.require_current(what);
    } else if (!context.is_current()) {
        return;
    }
    const Functions& f = context.functions();
    clear_errors(f);
    del(1, &name);
    if (memory != nullptr && *memory != 0) f.DeleteMemoryObjectsEXT(1, memory);
    name = 0;
    if (memory != nullptr) *memory = 0;
    if (close) {
        check(f, call);
    } else {
        clear_errors(f);
    }
}

}  // namespace geyser::gl
