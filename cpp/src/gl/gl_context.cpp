// GlContext: the caller's current OpenGL context, its extensions and UUIDs, matched to a Device;
// the host-side fence wait; the Vulkan-to-GL layout names.
#include <chrono>
#include <cstring>
#include <set>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/gl.hpp"
#include "gl/gl_api.hpp"
#include "../timeout.hpp"

namespace geyser::gl {

using namespace api;

const char* to_string(SyncPath path) {
    switch (path) {
        case SyncPath::kGlSemaphore: return "gl_semaphore";
        case SyncPath::kHost: return "host";
    }
    return "unknown";
}

uint32_t gl_layout(VkImageLayout layout) {
    switch (layout) {
        case VK_IMAGE_LAYOUT_GENERAL: return GL_LAYOUT_GENERAL_EXT;
        case VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL: return GL_LAYOUT_COLOR_ATTACHMENT_EXT;
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL: return GL_LAYOUT_DEPTH_STENCIL_ATTACHMENT_EXT;
        case VK_IMAGE_LAYOUT_DEPTH_STENCIL_READ_ONLY_OPTIMAL: return GL_LAYOUT_DEPTH_STENCIL_READ_ONLY_EXT;
        case VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL: return GL_LAYOUT_SHADER_READ_ONLY_EXT;
        case VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL: return GL_LAYOUT_TRANSFER_SRC_EXT;
        case VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL: return GL_LAYOUT_TRANSFER_DST_EXT;
        default: break;
    }
    throw InvalidArgumentError("VkImageLayout " + std::to_string(static_cast<int>(layout)) +
                               " has no GL_EXT_semaphore layout (GL_LAYOUT_*_EXT)");
}

namespace {

std::string text_of(const GLubyte* s) { return s == nullptr ? std::string() : reinterpret_cast<const char*>(s); }

Uuid read_uuid(const GLubyte (&bytes)[GL_UUID_SIZE_EXT]) {
    Uuid u{};
    std::memcpy(u.data(), bytes, u.size());
    return u;
}

}  // namespace

std::shared_ptr<GlContext> GlContext::current(std::shared_ptr<Device> device) {
    if (!device) throw InvalidArgumentError("GlContext::current: no Vulkan device");
    device->require_owner_process("use OpenGL with this Vulkan device");
    const CurrentContext now = current_context();
    if (now.platform == Platform::kNone) {
        const WindowSystem& w = window_system();
        std::string why;
        if (!w.egl_missing.empty()) why += "; " + w.egl_missing;
        if (!w.glx_missing.empty()) why += "; " + w.glx_missing;
        throw UnsupportedOperationError(
            "no OpenGL context is current on this thread (neither EGL nor GLX has one" + why +
            "); make one current first (moderngl, glfw, pyglet, or geyser's HeadlessContext)");
    }
    std::shared_ptr<GlContext> c(new GlContext());
    c->functions_ = std::make_unique<Functions>(load_functions(now));
    c->platform_ = static_cast<uint8_t>(now.platform);
    c->context_ = now.context;
    const Functions& f = *c->functions_;
    GlInfo& info = c->info_;
    info.platform = now.platform == Platform::kEgl ? "egl" : "glx";
    clear_errors(f);
    info.vendor = text_of(f.GetString(GL_VENDOR));
    info.renderer = text_of(f.GetString(GL_RENDERER));
    info.version = text_of(f.GetString(GL_VERSION));
    GLint count = 0;
    f.GetIntegerv(GL_NUM_EXTENSIONS, &count);
    check(f, "glGetIntegerv(GL_NUM_EXTENSIONS)");
    std::set<std::string> extensions;
    for (GLint i = 0; i < count; ++i) extensions.insert(text_of(f.GetStringi(GL_EXTENSIONS, static_cast<GLuint>(i))));
    check(f, "glGetStringi(GL_EXTENSIONS)");
    auto has = [&](const char* e) { return extensions.count(e) != 0; };
    info.memory_object_fd = has("GL_EXT_memory_object") && has("GL_EXT_memory_object_fd") &&
                            f.CreateMemoryObjectsEXT && f.ImportMemoryFdEXT && f.TexStorageMem2DEXT &&
                            f.BufferStorageMemEXT && f.GetUnsignedBytevEXT && f.GetUnsignedBytei_vEXT &&
                            f.MemoryObjectParameterivEXT && f.DeleteMemoryObjectsEXT;
    info.semaphore_fd = has("GL_EXT_semaphore") && has("GL_EXT_semaphore_fd") && f.GenSemaphoresEXT &&
                        f.DeleteSemaphoresEXT && f.WaitSemaphoreEXT && f.SignalSemaphoreEXT && f.ImportSemaphoreFdEXT &&
                        f.SemaphoreParameterui64vEXT;
    info.timeline_semaphore = info.semaphore_fd && has("GL_NV_timeline_semaphore") && f.CreateSemaphoresNV &&
                              f.SemaphoreParameterivNV;
    const std::string who = "the current " + describe(now) + " (" + info.renderer + ", OpenGL " + info.version + ")";
    if (!info.memory_object_fd) {
        std::string lacking;
        for (const char* e : {"GL_EXT_memory_object", "GL_EXT_memory_object_fd"}) {
            if (!has(e)) lacking += (lacking.empty() ? "" : " and ") + std::string(e);
        }
        if (lacking.empty()) lacking = "the GL_EXT_memory_object entry points";
        throw UnsupportedOperationError(who + " lacks " + lacking + ", which importing Geyser memory needs");
    }
    GLint uuids = 0;
    f.GetIntegerv(GL_NUM_DEVICE_UUIDS_EXT, &uuids);
    check(f, "glGetIntegerv(GL_NUM_DEVICE_UUIDS_EXT)");
    for (GLint i = 0; i < uuids; ++i) {
        GLubyte bytes[GL_UUID_SIZE_EXT] = {};
        f.GetUnsignedBytei_vEXT(GL_DEVICE_UUID_EXT, static_cast<GLuint>(i), bytes);
        check(f, "glGetUnsignedBytei_vEXT(GL_DEVICE_UUID_EXT)");
        info.device_uuids.push_back(read_uuid(bytes));
    }
    GLubyte driver[GL_UUID_SIZE_EXT] = {};
    f.GetUnsignedBytevEXT(GL_DRIVER_UUID_EXT, driver);
    check(f, "glGetUnsignedBytevEXT(GL_DRIVER_UUID_EXT)");
    info.driver_uuid = read_uuid(driver);

    const DeviceInfo& d = device->info();
    bool same_device = false;
    std::string seen;
    for (const Uuid& u : info.device_uuids) {
        same_device = same_device || u == d.device_uuid;
        seen += (seen.empty() ? "" : ", ") + uuid_to_hex(u);
    }
    if (!same_device) {
        throw DeviceMismatchError(who + " is not the Vulkan device '" + d.name + "' (UUID " + uuid_to_hex(d.device_uuid) +
                                  "); its GL_DEVICE_UUID_EXT: " + (seen.empty() ? "none" : seen));
    }
    if (info.driver_uuid != d.driver_uuid) {
        throw DeviceMismatchError(who + " has driver UUID " + uuid_to_hex(info.driver_uuid) + ", but the Vulkan device '" +
                                  d.name + "' has driver UUID " + uuid_to_hex(d.driver_uuid) +
                                  "; GL and Vulkan must be the same driver to share memory");
    }
    c->device_ = std::move(device);
    return c;
}

GlContext::~GlContext() = default;

bool GlContext::is_current() const noexcept {
    const CurrentContext now = current_context();
    return static_cast<uint8_t>(now.platform) == platform_ && now.context == context_;
}

void GlContext::require_current(const char* what) const {
    const CurrentContext now = current_context();
    if (static_cast<uint8_t>(now.platform) == platform_ && now.context == context_) return;
    CurrentContext mine;
    mine.platform = static_cast<Platform>(platform_);
    mine.context = context_;
    throw UnsupportedOperationError(std::string("cannot ") + what + ": it belongs to " + describe(mine) + ", but " +
                                    (now.platform == Platform::kNone ? std::string("no context") : describe(now)) +
                                    " is current on this thread; make its own context current first");
}

void GlContext::flush() const {
    require_current("flush GL work");
    functions_->Flush();
}

void GlContext::finish(std::chrono::nanoseconds timeout) const {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    require_current("wait for GL work");
    const Functions& f = *functions_;
    clear_errors(f);
    GLsync sync = f.FenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
    check(f, "glFenceSync");
    // Waited in slices of at most 10 ms, with the flush bit on the first, so that the wait is
    // bounded by `timeout_ns` however the driver rounds its own timeout.
    const auto start = std::chrono::steady_clock::now();
    constexpr uint64_t kSlice = 10'000'000;
    GLbitfield flags = GL_SYNC_FLUSH_COMMANDS_BIT;
    for (;;) {
        const uint64_t spent = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
        const uint64_t left = spent >= timeout_ns ? 0 : timeout_ns - spent;
        const GLenum r = f.ClientWaitSync(sync, flags, left < kSlice ? left : kSlice);
        flags = 0;
        if (r == GL_ALREADY_SIGNALED || r == GL_CONDITION_SATISFIED) break;
        if (r == GL_WAIT_FAILED) {
            const GLenum e = f.GetError();
            f.DeleteSync(sync);
            clear_errors(f);
            throw GLError(e, error_name(e), "glClientWaitSync", "waiting for the GL work to complete");
        }
        if (left == 0) {
            f.DeleteSync(sync);
            throw TimeoutError("the GL work did not complete within " + std::to_string(timeout_ns / 1'000'000) + " ms");
        }
    }
    f.DeleteSync(sync);
    check(f, "glDeleteSync");
}

}  // namespace geyser::gl
