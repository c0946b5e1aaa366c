// GlSemaphore: a Vulkan semaphore imported into GL (GL_EXT_semaphore_fd, GL_NV_timeline_semaphore),
// waited on and signalled with the textures' layouts.
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/gl.hpp"
#include "gl/gl_api.hpp"
#include "gl/gl_memory_object.hpp"
#include "posix/fd_kind.hpp"

namespace geyser::gl {

using namespace api;

std::unique_ptr<GlSemaphore> GlSemaphore::import(std::shared_ptr<GlContext> context, const SyncHandle& h) {
    if (!context) throw InvalidArgumentError("GlSemaphore::import: no GlContext");
    context->require_current("import a semaphore into GL");
    const GlInfo& info = context->info();
    if (!info.semaphore_fd) {
        throw UnsupportedOperationError("the current context (" + info.renderer +
                                        ") has no GL_EXT_semaphore_fd, so GL cannot wait on or signal Vulkan "
                                        "semaphores; order GL work from the host instead (SyncPath::kHost)");
    }
    if (h.primitive != SyncPrimitive::kSemaphore) throw InvalidHandleError("a fence handle cannot be imported as a GL semaphore");
    if (h.handle_type != VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
        throw InvalidHandleError("GL_EXT_semaphore_fd imports opaque FDs; this semaphore handle's type is " +
                                 std::to_string(h.handle_type));
    }
    if (!h.fd.valid()) throw InvalidHandleError("the semaphore handle's fd is closed");
    context->device()->check_same_device(h.device_uuid, h.driver_uuid);
    const bool timeline = h.semaphore_type == SemaphoreType::kTimeline;
    if (timeline && !info.timeline_semaphore) {
        throw UnsupportedOperationError("the current context (" + info.renderer +
                                        ") has no GL_NV_timeline_semaphore, so it cannot import a timeline semaphore");
    }
    context->device()->check_opaque_fd(h.fd.get(), Device::FdFamily::kSemaphore);

    const Functions& f = context->functions();
    clear_errors(f);
    GLuint name = 0;
    if (timeline) {
        // GL_NV_timeline_semaphore: the type is set at creation, before the import.
        const GLint type = static_cast<GLint>(GL_SEMAPHORE_TYPE_TIMELINE_NV);
        f.CreateSemaphoresNV(1, &name);
        check(f, "glCreateSemaphoresNV");
        f.SemaphoreParameterivNV(name, GL_SEMAPHORE_TYPE_NV, &type);
    } else {
        f.GenSemaphoresEXT(1, &name);
    }
    const GLenum made = f.GetError();
    if (made != GL_NO_ERROR) {
        if (name != 0) f.DeleteSemaphoresEXT(1, &name);
        clear_errors(f);
        throw GLError(made, error_name(made), timeline ? "glSemaphoreParameterivNV(GL_SEMAPHORE_TYPE_NV)" : "glGenSemaphoresEXT");
    }
    // "A successful import operation transfers ownership of <fd> to the GL implementation"
    // (GL_EXT_semaphore_fd): GL gets a duplicate, released only then.
    UniqueFd dup = UniqueFd::duplicate_of(h.fd.get());
    const FdKind before = FdKind::of(dup.get(), "the duplicate");
    const uint64_t inode = inode_of(dup.get());
    f.ImportSemaphoreFdEXT(name, GL_HANDLE_TYPE_OPAQUE_FD_EXT, dup.get());
    const GLenum e = f.GetError();
    if (e != GL_NO_ERROR) {
        clear_errors(f);
        f.DeleteSemaphoresEXT(1, &name);
        forget_if_driver_closed(dup, before, inode);
        throw GLError(e, error_name(e), "glImportSemaphoreFdEXT");
    }
    (void)dup.release();
    std::unique_ptr<GlSemaphore> s(new GlSemaphore());
    s->context_ = std::move(context);
    s->name_ = name;
    s->timeline_ = timeline;
    return s;
}

void GlSemaphore::wait(uint64_t value, const std::vector<const GlTexture*>& textures,
                       const std::vector<const GlBuffer*>& buffers) const {
    submit(false, value, textures, buffers);
}

void GlSemaphore::signal(uint64_t value, const std::vector<const GlTexture*>& textures,
                         const std::vector<const GlBuffer*>& buffers) const {
    submit(true, value, textures, buffers);
}

void GlSemaphore::submit(bool signal, uint64_t value, const std::vector<const GlTexture*>& textures,
                         const std::vector<const GlBuffer*>& buffers) const {
    const char* call = signal ? "glSignalSemaphoreEXT" : "glWaitSemaphoreEXT";
    if (name_ == 0) throw InvalidHandleError("this GL semaphore is closed");
    context_->require_current(signal ? "signal a GL semaphore" : "wait on a GL semaphore");
    if (!timeline_ && value != 0) {
        throw InvalidArgumentError("a binary semaphore is waited on and signalled with value 0, not " + std::to_string(value));
    }
    // A timeline starts at 0, so waiting for 0 is satisfied at once (and still acquires the
    // textures); signalling 0 would not move it.
    if (timeline_ && signal && value == 0) throw InvalidArgumentError("a timeline signal needs a value above 0");
    std::vector<GLuint> texture_names, buffer_names;
    std::vector<GLenum> layouts;
    for (const GlTexture* t : textures) {
        if (t == nullptr || t->closed()) throw InvalidArgumentError(std::string(call) + ": a texture is closed");
        if (t->context().get() != context_.get()) {
            throw InvalidArgumentError(std::string(call) + ": a texture belongs to another GlContext");
        }
        texture_names.push_back(t->name());
        // The acquire (wait) names the layout Vulkan released the texture in, the release
        // (signal) the layout Vulkan acquires it in: both are the handle's external layout.
        layouts.push_back(gl_layout(t->layout()));
    }
    for (const GlBuffer* b : buffers) {
        if (b == nullptr || b->closed()) throw InvalidArgumentError(std::string(call) + ": a buffer is closed");
        buffer_names.push_back(b->name());
    }
    const Functions& f = context_->functions();
    clear_errors(f);
    if (timeline_) {
        // GL_NV_timeline_semaphore: the value of the next wait or signal is a semaphore parameter.
        f.SemaphoreParameterui64vEXT(name_, GL_TIMELINE_SEMAPHORE_VALUE_NV, &value);
        check(f, "glSemaphoreParameterui64vEXT(GL_TIMELINE_SEMAPHORE_VALUE_NV)");
    }
    auto n = [](const auto& v) { return static_cast<GLuint>(v.size()); };
    if (signal) {
        f.SignalSemaphoreEXT(name_, n(buffer_names), buffer_names.data(), n(texture_names), texture_names.data(), layouts.data());
    } else {
        f.WaitSemaphoreEXT(name_, n(buffer_names), buffer_names.data(), n(texture_names), texture_names.data(), layouts.data());
    }
    check(f, call);
    if (signal) f.Flush();
}

void GlSemaphore::close() {
    delete_gl_objects(*context_, context_->functions().DeleteSemaphoresEXT, name_, nullptr, "delete a GL semaphore",
                      "glDeleteSemaphoresEXT", true);
}

GlSemaphore::~GlSemaphore() {
    delete_gl_objects(*context_, context_->functions().DeleteSemaphoresEXT, name_, nullptr, "", "", false);
}

}  // namespace geyser::gl
