// Finds the window-system libraries (libEGL.so.1, libGLX.so.0) at run time, tells which of them
// made the current context, and resolves GL entry points through its GetProcAddress.
#include <dlfcn.h>

#include <cstdio>

#include "geyser/error.hpp"
#include "gl/gl_api.hpp"

namespace geyser::gl::api {
namespace {

template <typename Fn>
void load_symbol(void* lib, Fn& slot, const char* name, std::string& missing) {
    slot = lib == nullptr ? nullptr : reinterpret_cast<Fn>(::dlsym(lib, name));
    if (slot == nullptr && lib != nullptr) missing += missing.empty() ? name : std::string(", ") + name;
}

// Never dlclose'd: GL objects may be deleted at any point until the process exits.
void* open_library(const char* name, std::string& why) {
    void* lib = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* e = ::dlerror();
        why = std::string(name) + " could not be loaded (" + (e ? e : "unknown reason") + ")";
    }
    return lib;
}

WindowSystem load_window_system() {
    WindowSystem w;
    void* egl = open_library("libEGL.so.1", w.egl_missing);
    if (egl != nullptr) {
        std::string missing;
        load_symbol(egl, w.eglGetCurrentContext, "eglGetCurrentContext", missing);
        load_symbol(egl, w.eglGetCurrentDisplay, "eglGetCurrentDisplay", missing);
        load_symbol(egl, w.eglGetProcAddress, "eglGetProcAddress", missing);
        if (!missing.empty()) {
            w.egl_missing = "libEGL.so.1 lacks " + missing;
            w.eglGetCurrentContext = nullptr;
        }
    }
    void* glx = open_library("libGLX.so.0", w.glx_missing);
    if (glx == nullptr) glx = open_library("libGL.so.1", w.glx_missing);
    if (glx != nullptr) {
        std::string missing;
        load_symbol(glx, w.glXGetCurrentContext, "glXGetCurrentContext", missing);
        load_symbol(glx, w.glXGetProcAddressARB, "glXGetProcAddressARB", missing);
        if (!missing.empty()) {
            w.glx_missing = "the GLX library lacks " + missing;
            w.glXGetCurrentContext = nullptr;
        } else {
            w.glx_missing.clear();
        }
    }
    return w;
}

}  // namespace

const WindowSystem& window_system() noexcept {
    static const WindowSystem w = load_window_system();
    return w;
}

CurrentContext current_context() noexcept {
    const WindowSystem& w = window_system();
    CurrentContext c;
    if (w.eglGetCurrentContext != nullptr) {
        if (void* ctx = w.eglGetCurrentContext(); ctx != nullptr) {
            c.platform = Platform::kEgl;
            c.context = ctx;
            c.display = w.eglGetCurrentDisplay();
            return c;
        }
    }
    if (w.glXGetCurrentContext != nullptr) {
        if (void* ctx = w.glXGetCurrentContext(); ctx != nullptr) {
            c.platform = Platform::kGlx;
            c.context = ctx;
        }
    }
    return c;
}

std::string describe(const CurrentContext& c) {
    char text[64];
    switch (c.platform) {
        case Platform::kEgl: std::snprintf(text, sizeof text, "EGL context %p", c.context); return text;
        case Platform::kGlx: std::snprintf(text, sizeof text, "GLX context %p", c.context); return text;
        case Platform::kNone: break;
    }
    return "no current context";
}

Functions load_functions(const CurrentContext& c) {
    const WindowSystem& w = window_system();
    auto proc = [&](const char* name) -> void* {
        if (c.platform == Platform::kEgl) return w.eglGetProcAddress(name);
        return w.glXGetProcAddressARB(reinterpret_cast<const GLubyte*>(name));
    };
    Functions f{};
    std::string missing;
    auto core = [&](auto& slot, const char* name) {
        slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(proc(name));
        if (slot == nullptr) missing += missing.empty() ? name : std::string(", ") + name;
    };
    auto optional = [&](auto& slot, const char* name) {
        slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(proc(name));
    };
    core(f.GetError, "glGetError");
    core(f.GetString, "glGetString");
    core(f.GetStringi, "glGetStringi");
    core(f.GetIntegerv, "glGetIntegerv");
    core(f.GenTextures, "glGenTextures");
    core(f.DeleteTextures, "glDeleteTextures");
    core(f.BindTexture, "glBindTexture");
    core(f.TexParameteri, "glTexParameteri");
    core(f.GenBuffers, "glGenBuffers");
    core(f.DeleteBuffers, "glDeleteBuffers");
    core(f.BindBuffer, "glBindBuffer");
    core(f.FenceSync, "glFenceSync");
    core(f.ClientWaitSync, "glClientWaitSync");
    core(f.DeleteSync, "glDeleteSync");
    core(f.Flush, "glFlush");
    if (!missing.empty()) {
        throw UnsupportedOperationError("the current " + describe(c) + " lacks OpenGL 3.2 entry points (" + missing +
                                        "); Geyser's GL interop needs OpenGL 3.2 or newer");
    }
    optional(f.GetUnsignedBytevEXT, "glGetUnsignedBytevEXT");
    optional(f.GetUnsignedBytei_vEXT, "glGetUnsignedBytei_vEXT");
    optional(f.CreateMemoryObjectsEXT, "glCreateMemoryObjectsEXT");
    optional(f.DeleteMemoryObjectsEXT, "glDeleteMemoryObjectsEXT");
    optional(f.MemoryObjectParameterivEXT, "glMemoryObjectParameterivEXT");
    optional(f.TexStorageMem2DEXT, "glTexStorageMem2DEXT");
    optional(f.BufferStorageMemEXT, "glBufferStorageMemEXT");
    optional(f.ImportMemoryFdEXT, "glImportMemoryFdEXT");
    optional(f.GenSemaphoresEXT, "glGenSemaphoresEXT");
    optional(f.DeleteSemaphoresEXT, "glDeleteSemaphoresEXT");
    optional(f.SemaphoreParameterui64vEXT, "glSemaphoreParameterui64vEXT");
    optional(f.WaitSemaphoreEXT, "glWaitSemaphoreEXT");
    optional(f.SignalSemaphoreEXT, "glSignalSemaphoreEXT");
    optional(f.ImportSemaphoreFdEXT, "glImportSemaphoreFdEXT");
    optional(f.CreateSemaphoresNV, "glCreateSemaphoresNV");
    optional(f.SemaphoreParameterivNV, "glSemaphoreParameterivNV");
    return f;
}

std::string error_name(GLenum error) {
    switch (error) {
        case GL_NO_ERROR: return "GL_NO_ERROR";
        case GL_INVALID_ENUM: return "GL_INVALID_ENUM";
        case GL_INVALID_VALUE: return "GL_INVALID_VALUE";
        case GL_INVALID_OPERATION: return "GL_INVALID_OPERATION";
        case GL_STACK_OVERFLOW: return "GL_STACK_OVERFLOW";
        case GL_STACK_UNDERFLOW: return "GL_STACK_UNDERFLOW";
        case GL_OUT_OF_MEMORY: return "GL_OUT_OF_MEMORY";
        case GL_INVALID_FRAMEBUFFER_OPERATION: return "GL_INVALID_FRAMEBUFFER_OPERATION";
        case GL_CONTEXT_LOST: return "GL_CONTEXT_LOST";
        default: break;
    }
    char text[32];
    std::snprintf(text, sizeof text, "GL error 0x%04X", error);
    return text;
}

void clear_errors(const Functions& f) noexcept {
    // glGetError returns GL_NO_ERROR once the queue is empty; a lost context keeps returning
    // GL_CONTEXT_LOST, so the loop is bounded.
    for (int i = 0; i < 16 && f.GetError() != GL_NO_ERROR; ++i) {
    }
}

void check(const Functions& f, const char* call, const std::string& detail) {
    const GLenum first = f.GetError();
    if (first == GL_NO_ERROR) return;
    clear_errors(f);
    throw GLError(first, error_name(first), call, detail);
}

}  // namespace geyser::gl::api
