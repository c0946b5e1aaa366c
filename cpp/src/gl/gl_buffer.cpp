// GlBuffer: a GL buffer object over imported Geyser buffer memory (glBufferStorageMemEXT).
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/gl.hpp"
#include "gl/gl_api.hpp"
#include "gl/gl_memory_object.hpp"

namespace geyser::gl {

using namespace api;

std::unique_ptr<GlBuffer> GlBuffer::import(std::shared_ptr<GlContext> context, const MemoryHandle& h, uint64_t size) {
    if (!context) throw InvalidArgumentError("GlBuffer::import: no GlContext");
    context->require_current("import a buffer into GL");
    check_memory_handle(*context, h, ResourceKind::kBuffer);
    if (h.buffer_size == 0 || h.buffer_size > h.size) {
        throw InvalidHandleError("the buffer handle's size " + std::to_string(h.buffer_size) +
                                 " does not fit its allocation of " + std::to_string(h.size) + " bytes");
    }
    if (size == 0) size = h.buffer_size;
    if (size > h.buffer_size) {
        throw InvalidArgumentError("a GL buffer of " + std::to_string(size) + " bytes does not fit the " +
                                   std::to_string(h.buffer_size) + "-byte buffer");
    }
    // As for textures: the Vulkan import checks the description against what the device requires.
    (void)context->device()->import_buffer(h);

    const Functions& f = context->functions();
    MemoryObject memory(*context, h);
    GLint previous = 0;
    f.GetIntegerv(GL_COPY_WRITE_BUFFER_BINDING, &previous);
    GLuint name = 0;
    f.GenBuffers(1, &name);
    check(f, "glGenBuffers");
    NewName guard{f.BindBuffer, f.DeleteBuffers, GL_COPY_WRITE_BUFFER, previous, name};
    f.BindBuffer(GL_COPY_WRITE_BUFFER, name);
    check(f, "glBindBuffer");
    f.BufferStorageMemEXT(GL_COPY_WRITE_BUFFER, static_cast<GLsizeiptr>(size), memory.get(), 0);
    check(f, "glBufferStorageMemEXT",
          std::to_string(size) + " bytes of a " + std::to_string(h.size) +
              "-byte allocation (Mesa's llvmpipe needs 16 bytes of the allocation after the buffer's end)");

    std::unique_ptr<GlBuffer> b(new GlBuffer());
    guard.keep = true;
    b->context_ = std::move(context);
    b->name_ = name;
    b->memory_ = memory.release();
    b->size_ = size;
    return b;
}

void GlBuffer::close() {
    delete_gl_objects(*context_, context_->functions().DeleteBuffers, name_, &memory_, "delete a GL buffer",
                      "glDeleteBuffers", true);
}

GlBuffer::~GlBuffer() {
    delete_gl_objects(*context_, context_->functions().DeleteBuffers, name_, &memory_, "", "", false);
}

}  // namespace geyser::gl
