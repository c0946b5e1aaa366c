// Internal: the slice of OpenGL, EGL and GLX that Geyser calls, declared from the Khronos
// registry (glcorearb.h, glext.h, egl.h, eglext.h: enumerant values and entry-point signatures),
// and the tables of entry points found at run time. No GL or EGL header is needed to build and
// nothing links against libGL, libEGL or libGLX: the window-system library is dlopen'ed and every
// GL entry point comes from its GetProcAddress, for the context the caller has made current.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace geyser::gl::api {

using GLenum = unsigned int;
using GLuint = unsigned int;
using GLint = int;
using GLsizei = int;
using GLboolean = unsigned char;
using GLubyte = unsigned char;
using GLbitfield = unsigned int;
using GLuint64 = uint64_t;
using GLsizeiptr = ptrdiff_t;
using GLsync = struct __GLsync*;

// Errors (glGetError).
constexpr GLenum GL_NO_ERROR = 0;
constexpr GLenum GL_INVALID_ENUM = 0x0500;
constexpr GLenum GL_INVALID_VALUE = 0x0501;
constexpr GLenum GL_INVALID_OPERATION = 0x0502;
constexpr GLenum GL_STACK_OVERFLOW = 0x0503;
constexpr GLenum GL_STACK_UNDERFLOW = 0x0504;
constexpr GLenum GL_OUT_OF_MEMORY = 0x0505;
constexpr GLenum GL_INVALID_FRAMEBUFFER_OPERATION = 0x0506;
constexpr GLenum GL_CONTEXT_LOST = 0x0507;

// Queries.
constexpr GLenum GL_VENDOR = 0x1F00;
constexpr GLenum GL_RENDERER = 0x1F01;
constexpr GLenum GL_VERSION = 0x1F02;
constexpr GLenum GL_EXTENSIONS = 0x1F03;
constexpr GLenum GL_NUM_EXTENSIONS = 0x821D;

// Objects and bindings.
constexpr GLenum GL_TEXTURE_2D = 0x0DE1;
constexpr GLenum GL_TEXTURE_BINDING_2D = 0x8069;
constexpr GLenum GL_COPY_WRITE_BUFFER = 0x8F37;
constexpr GLenum GL_COPY_WRITE_BUFFER_BINDING = 0x8F37;
constexpr GLenum GL_TEXTURE_MIN_FILTER = 0x2801;
constexpr GLenum GL_TEXTURE_MAG_FILTER = 0x2800;
constexpr GLenum GL_NEAREST = 0x2600;

// Fences (GL 3.2 / ARB_sync).
constexpr GLenum GL_SYNC_GPU_COMMANDS_COMPLETE = 0x9117;
constexpr GLbitfield GL_SYNC_FLUSH_COMMANDS_BIT = 0x1;
constexpr GLenum GL_ALREADY_SIGNALED = 0x911A;
constexpr GLenum GL_TIMEOUT_EXPIRED = 0x911B;
constexpr GLenum GL_CONDITION_SATISFIED = 0x911C;
constexpr GLenum GL_WAIT_FAILED = 0x911D;

// GL_EXT_memory_object, GL_EXT_memory_object_fd.
constexpr GLenum GL_TEXTURE_TILING_EXT = 0x9580;
constexpr GLenum GL_DEDICATED_MEMORY_OBJECT_EXT = 0x9581;
constexpr GLenum GL_OPTIMAL_TILING_EXT = 0x9584;
constexpr GLenum GL_LINEAR_TILING_EXT = 0x9585;
constexpr GLenum GL_HANDLE_TYPE_OPAQUE_FD_EXT = 0x9586;
constexpr GLenum GL_NUM_DEVICE_UUIDS_EXT = 0x9596;
constexpr GLenum GL_DEVICE_UUID_EXT = 0x9597;
constexpr GLenum GL_DRIVER_UUID_EXT = 0x9598;
constexpr size_t GL_UUID_SIZE_EXT = 16;

// GL_EXT_semaphore: the layouts a wait or signal names for each texture.
constexpr GLenum GL_LAYOUT_GENERAL_EXT = 0x958D;
constexpr GLenum GL_LAYOUT_COLOR_ATTACHMENT_EXT = 0x958E;
constexpr GLenum GL_LAYOUT_DEPTH_STENCIL_ATTACHMENT_EXT = 0x958F;
constexpr GLenum GL_LAYOUT_DEPTH_STENCIL_READ_ONLY_EXT = 0x9590;
constexpr GLenum GL_LAYOUT_SHADER_READ_ONLY_EXT = 0x9591;
constexpr GLenum GL_LAYOUT_TRANSFER_SRC_EXT = 0x9592;
constexpr GLenum GL_LAYOUT_TRANSFER_DST_EXT = 0x9593;

// GL_NV_timeline_semaphore.
constexpr GLenum GL_TIMELINE_SEMAPHORE_VALUE_NV = 0x9595;
constexpr GLenum GL_SEMAPHORE_TYPE_NV = 0x95B3;
constexpr GLenum GL_SEMAPHORE_TYPE_BINARY_NV = 0x95B4;
constexpr GLenum GL_SEMAPHORE_TYPE_TIMELINE_NV = 0x95B5;

/// The GL entry points Geyser calls, from the current context's GetProcAddress. The EXT ones are
/// null where the context lacks the extension (GlContext reports which).
struct Functions {
    GLenum (*GetError)();
    const GLubyte* (*GetString)(GLenum);
    const GLubyte* (*GetStringi)(GLenum, GLuint);
    void (*GetIntegerv)(GLenum, GLint*);
    void (*GenTextures)(GLsizei, GLuint*);
    void (*DeleteTextures)(GLsizei, const GLuint*);
    void (*BindTexture)(GLenum, GLuint);
    void (*TexParameteri)(GLenum, GLenum, GLint);
    void (*GenBuffers)(GLsizei, GLuint*);
    void (*DeleteBuffers)(GLsizei, const GLuint*);
    void (*BindBuffer)(GLenum, GLuint);
    GLsync (*FenceSync)(GLenum, GLbitfield);
    GLenum (*ClientWaitSync)(GLsync, GLbitfield, GLuint64);
    void (*DeleteSync)(GLsync);
    void (*Flush)();
    // GL_EXT_memory_object
    void (*GetUnsignedBytevEXT)(GLenum, GLubyte*);
    void (*GetUnsignedBytei_vEXT)(GLenum, GLuint, GLubyte*);
    void (*CreateMemoryObjectsEXT)(GLsizei, GLuint*);
    void (*DeleteMemoryObjectsEXT)(GLsizei, const GLuint*);
    void (*MemoryObjectParameterivEXT)(GLuint, GLenum, const GLint*);
    void (*TexStorageMem2DEXT)(GLenum, GLsizei, GLenum, GLsizei, GLsizei, GLuint, GLuint64);
    void (*BufferStorageMemEXT)(GLenum, GLsizeiptr, GLuint, GLuint64);
    // GL_EXT_memory_object_fd
    void (*ImportMemoryFdEXT)(GLuint, GLuint64, GLenum, GLint);
    // GL_EXT_semaphore, GL_EXT_semaphore_fd
    void (*GenSemaphoresEXT)(GLsizei, GLuint*);
    void (*DeleteSemaphoresEXT)(GLsizei, const GLuint*);
    void (*SemaphoreParameterui64vEXT)(GLuint, GLenum, const GLuint64*);
    void (*WaitSemaphoreEXT)(GLuint, GLuint, const GLuint*, GLuint, const GLuint*, const GLenum*);
    void (*SignalSemaphoreEXT)(GLuint, GLuint, const GLuint*, GLuint, const GLuint*, const GLenum*);
    void (*ImportSemaphoreFdEXT)(GLuint, GLenum, GLint);
    // GL_NV_timeline_semaphore
    void (*CreateSemaphoresNV)(GLsizei, GLuint*);
    void (*SemaphoreParameterivNV)(GLuint, GLenum, const GLint*);
};

/// Which window-system binding made the current context.
enum class Platform : uint8_t { kNone = 0, kEgl = 1, kGlx = 2 };

/// The window-system entry points, from libEGL.so.1 and libGLX.so.0 (each may be missing).
struct WindowSystem {
    void* (*eglGetCurrentContext)() = nullptr;
    void* (*eglGetCurrentDisplay)() = nullptr;
    void* (*eglGetProcAddress)(const char*) = nullptr;
    void* (*glXGetCurrentContext)() = nullptr;
    void* (*glXGetProcAddressARB)(const GLubyte*) = nullptr;
    std::string egl_missing;  ///< Why EGL cannot be used ("" when it can).
    std::string glx_missing;
};

/// Loaded once per process (thread-safe). Never throws.
const WindowSystem& window_system() noexcept;

/// The context current on this thread: which binding made it and its handle (EGLContext or
/// GLXContext), EGL first. {kNone, nullptr} when there is none.
struct CurrentContext {
    Platform platform = Platform::kNone;
    void* context = nullptr;
    void* display = nullptr;  ///< EGLDisplay (EGL only)
    bool operator==(const CurrentContext& o) const noexcept { return platform == o.platform && context == o.context; }
    bool operator!=(const CurrentContext& o) const noexcept { return !(*this == o); }
};
CurrentContext current_context() noexcept;

/// "EGL context 0x..." / "GLX context 0x..." / "no context".
std::string describe(const CurrentContext& c);

/// Resolves every entry point through `c`'s GetProcAddress. Core entry points that are missing
/// throw UnsupportedOperationError; the EXT ones stay null.
Functions load_functions(const CurrentContext& c);

/// "GL_INVALID_OPERATION" and so on.
std::string error_name(GLenum error);

/// Throws GLError naming `call` if glGetError reports an error (the whole queue is drained, so
/// a later check sees only its own call's errors).
void check(const Functions& f, const char* call, const std::string& detail = {});
/// Drains errors left by earlier calls that are not ours, so that check() names the right call.
void clear_errors(const Functions& f) noexcept;

}  // namespace geyser::gl::api
