// HeadlessContext: an EGL context with no surface, on the EGL device platform or the surfaceless
// one, on the GPU of a Vulkan Device. libEGL.so.1 is opened at run time.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/gl.hpp"

namespace geyser::gl {
namespace {

using EGLint = int32_t;
using EGLenum = unsigned int;
using EGLBoolean = unsigned int;
using EGLDisplay = void*;
using EGLConfig = void*;
using EGLContext = void*;
using EGLDeviceEXT = void*;

constexpr EGLint EGL_NONE = 0x3038;
constexpr EGLint EGL_SUCCESS = 0x3000;
constexpr EGLint EGL_EXTENSIONS = 0x3055;
constexpr EGLint EGL_SURFACE_TYPE = 0x3033;
constexpr EGLint EGL_RENDERABLE_TYPE = 0x3040;
constexpr EGLint EGL_OPENGL_BIT = 0x0008;
constexpr EGLenum EGL_OPENGL_API = 0x30A2;
constexpr EGLenum EGL_PLATFORM_DEVICE_EXT = 0x313F;
constexpr EGLenum EGL_PLATFORM_SURFACELESS_MESA = 0x31DD;

struct Egl {
    EGLint (*GetError)();
    const char* (*QueryString)(EGLDisplay, EGLint);
    EGLBoolean (*Initialize)(EGLDisplay, EGLint*, EGLint*);
    EGLBoolean (*BindAPI)(EGLenum);
    EGLBoolean (*ChooseConfig)(EGLDisplay, const EGLint*, EGLConfig*, EGLint, EGLint*);
    EGLContext (*CreateContext)(EGLDisplay, EGLConfig, EGLContext, const EGLint*);
    EGLBoolean (*DestroyContext)(EGLDisplay, EGLContext);
    EGLBoolean (*MakeCurrent)(EGLDisplay, void*, void*, EGLContext);
    EGLContext (*GetCurrentContext)();
    void* (*GetProcAddress)(const char*);
    EGLBoolean (*QueryDevicesEXT)(EGLint, EGLDeviceEXT*, EGLint*);
    EGLDisplay (*GetPlatformDisplayEXT)(EGLenum, void*, const EGLint*);
    std::string missing;
};

Egl load_egl() {
    Egl e{};
    // Never dlclose'd, as the other window-system libraries (gl_loader.cpp).
    void* lib = ::dlopen("libEGL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* why = ::dlerror();
        e.missing = std::string("libEGL.so.1 could not be loaded (") + (why ? why : "unknown reason") + ")";
        return e;
    }
    std::string missing;
    auto sym = [&](auto& slot, const char* name) {
        slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(::dlsym(lib, name));
        if (slot == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
    };
    sym(e.GetError, "eglGetError");
    sym(e.QueryString, "eglQueryString");
    sym(e.Initialize, "eglInitialize");
    sym(e.BindAPI, "eglBindAPI");
    sym(e.ChooseConfig, "eglChooseConfig");
    sym(e.CreateContext, "eglCreateContext");
    sym(e.DestroyContext, "eglDestroyContext");
    sym(e.MakeCurrent, "eglMakeCurrent");
    sym(e.GetCurrentContext, "eglGetCurrentContext");
    sym(e.GetProcAddress, "eglGetProcAddress");
    if (!missing.empty()) {
        e.missing = "libEGL.so.1 lacks " + missing;
        return e;
    }
    e.QueryDevicesEXT = reinterpret_cast<decltype(e.QueryDevicesEXT)>(e.GetProcAddress("eglQueryDevicesEXT"));
    e.GetPlatformDisplayEXT = reinterpret_cast<decltype(e.GetPlatformDisplayEXT)>(e.GetProcAddress("eglGetPlatformDisplayEXT"));
    return e;
}

const Egl& egl() {
    static const Egl e = load_egl();
    return e;
}

std::string egl_error(const Egl& e) {
    char text[32];
    std::snprintf(text, sizeof text, "EGL error 0x%04X", static_cast<unsigned>(e.GetError()));
    return text;
}

bool has_extension(const char* list, const char* name) {
    if (list == nullptr) return false;
    const size_t n = std::strlen(name);
    for (const char* p = list; (p = std::strstr(p, name)) != nullptr; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
    }
    return false;
}

// A context on `display`, current on this thread, or null (with the reason in `why`).
EGLContext make_context(const Egl& e, EGLDisplay display, std::string& why) {
    EGLint major = 0, minor = 0;
    if (display == nullptr || e.Initialize(display, &major, &minor) == 0) {
        why = "eglInitialize failed (" + egl_error(e) + ")";
        return nullptr;
    }
    if (e.BindAPI(EGL_OPENGL_API) == 0) {
        why = "eglBindAPI(EGL_OPENGL_API) failed";
        return nullptr;
    }
    // EGL_SURFACE_TYPE 0 matches every config: the context is used with no surface at all
    // (EGL_KHR_surfaceless_context), so a window bit (the default) must not be asked for.
    const EGLint attributes[] = {EGL_SURFACE_TYPE, 0, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
    EGLConfig config = nullptr;
    EGLint count = 0;
    if (e.ChooseConfig(display, attributes, &config, 1, &count) == 0 || count < 1) {
        why = "no EGL config renders OpenGL";
        return nullptr;
    }
    EGLContext context = e.CreateContext(display, config, nullptr, nullptr);
    if (context == nullptr) {
        why = "eglCreateContext failed";
        return nullptr;
    }
    if (e.MakeCurrent(display, nullptr, nullptr, context) == 0) {
        why = "eglMakeCurrent with no surface failed";
        e.DestroyContext(display, context);
        return nullptr;
    }
    return context;
}

}  // namespace

std::unique_ptr<HeadlessContext> HeadlessContext::create(const std::shared_ptr<Device>& device) {
    if (!device) throw InvalidArgumentError("HeadlessContext::create: no Vulkan device");
    const Egl& e = egl();
    if (!e.missing.empty()) throw UnsupportedOperationError("no headless OpenGL context: " + e.missing);
    const char* client = e.QueryString(nullptr, EGL_EXTENSIONS);
    std::vector<std::pair<EGLDisplay, std::string>> displays;
    if (e.GetPlatformDisplayEXT != nullptr && e.QueryDevicesEXT != nullptr && has_extension(client, "EGL_EXT_platform_device")) {
        EGLDeviceEXT devices[16] = {};
        EGLint count = 0;
        if (e.QueryDevicesEXT(16, devices, &count) != 0) {
            for (EGLint i = 0; i < count; ++i) displays.emplace_back(e.GetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, devices[i], nullptr), "device");
        }
    }
    if (e.GetPlatformDisplayEXT != nullptr && has_extension(client, "EGL_MESA_platform_surfaceless")) {
        displays.emplace_back(e.GetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA, nullptr, nullptr), "surfaceless");
    }
    if (displays.empty()) {
        throw UnsupportedOperationError(std::string("no headless OpenGL context: EGL has neither EGL_EXT_platform_device "
                                                    "nor EGL_MESA_platform_surfaceless (client extensions: ") +
                                        (client ? client : "none") + ")");
    }
    std::string tried;
    bool mismatch = false;
    for (const auto& [display, platform] : displays) {
        std::string why;
        EGLContext context = make_context(e, display, why);
        if (context != nullptr) {
            try {
                (void)GlContext::current(device);
                std::unique_ptr<HeadlessContext> h(new HeadlessContext());
                h->display_ = display;
                h->context_ = context;
                h->platform_ = platform;
                return h;
            } catch (const DeviceMismatchError& m) {
                mismatch = true;
                why = m.what();
            } catch (const Error& other) {
                why = other.what();
            }
            e.MakeCurrent(display, nullptr, nullptr, nullptr);
            e.DestroyContext(display, context);
        }
        tried += (tried.empty() ? "" : "; ") + platform + ": " + why;
    }
    const std::string message = "no headless OpenGL context on the Vulkan device '" + device->info().name + "' (" + tried + ")";
    if (mismatch) throw DeviceMismatchError(message);
    throw UnsupportedOperationError(message);
}

HeadlessContext::~HeadlessContext() {
    const Egl& e = egl();
    if (context_ == nullptr) return;
    if (e.GetCurrentContext() == context_) e.MakeCurrent(display_, nullptr, nullptr, nullptr);
    e.DestroyContext(display_, context_);
}

void HeadlessContext::make_current() const {
    const Egl& e = egl();
    if (e.MakeCurrent(display_, nullptr, nullptr, context_) == 0) {
        throw UnsupportedOperationError("eglMakeCurrent failed (" + egl_error(e) + ")");
    }
}

void HeadlessContext::release_current() const {
    const Egl& e = egl();
    if (e.MakeCurrent(display_, nullptr, nullptr, nullptr) == 0) {
        throw UnsupportedOperationError("eglMakeCurrent(EGL_NO_CONTEXT) failed (" + egl_error(e) + ")");
    }
}

}  // namespace geyser::gl
