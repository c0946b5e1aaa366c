// OpenGL interop against geyser::core, on a headless EGL context (llvmpipe on CI, NVIDIA's EGL on
// the GPU machine): Vulkan uploads and GL reads the same bytes, GL clears and Vulkan downloads
// them, buffers both ways, the checks before import, and ownership of the GL objects. Skipped
// with the reason where EGL or GL_EXT_memory_object_fd is missing.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "geyser/geyser.hpp"
#include "geyser/gl.hpp"
#include "support.hpp"
#include <chrono>

using namespace std::chrono_literals;

namespace {

using geyser::gl::GlBuffer;
using geyser::gl::GlContext;
using geyser::gl::GlTexture;
using geyser::gl::HeadlessContext;
using geyser::testing_support::fd_count;

constexpr std::chrono::nanoseconds kSecond = std::chrono::seconds(1);
constexpr unsigned kRgba = 0x1908, kUnsignedByte = 0x1401, kTexture2d = 0x0DE1;

// The GL calls the tests make themselves, through EGL as the core does (nothing links GL).
struct TestGl {
    void (*GetTexImage)(unsigned, int, unsigned, unsigned, void*);
    void (*ClearTexImage)(unsigned, int, unsigned, unsigned, const void*);
    void (*BindTexture)(unsigned, unsigned);
    void (*GetNamedBufferSubData)(unsigned, intptr_t, intptr_t, void*);
    void (*NamedBufferSubData)(unsigned, intptr_t, intptr_t, const void*);
    void (*Finish)();
    bool ok = false;
};

TestGl load_test_gl() {
    TestGl t{};
    void* egl = ::dlopen("libEGL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (egl == nullptr) return t;
    auto proc = reinterpret_cast<void* (*)(const char*)>(::dlsym(egl, "eglGetProcAddress"));
    if (proc == nullptr) return t;
    t.GetTexImage = reinterpret_cast<decltype(t.GetTexImage)>(proc("glGetTexImage"));
    t.ClearTexImage = reinterpret_cast<decltype(t.ClearTexImage)>(proc("glClearTexImage"));
    t.BindTexture = reinterpret_cast<decltype(t.BindTexture)>(proc("glBindTexture"));
    t.GetNamedBufferSubData = reinterpret_cast<decltype(t.GetNamedBufferSubData)>(proc("glGetNamedBufferSubData"));
    t.NamedBufferSubData = reinterpret_cast<decltype(t.NamedBufferSubData)>(proc("glNamedBufferSubData"));
    t.Finish = reinterpret_cast<decltype(t.Finish)>(proc("glFinish"));
    t.ok = t.GetTexImage && t.ClearTexImage && t.BindTexture && t.GetNamedBufferSubData && t.NamedBufferSubData && t.Finish;
    return t;
}

geyser::TextureDescriptor descriptor(uint32_t w, uint32_t h, geyser::TextureFormat f = geyser::TextureFormat::kRgba8Unorm) {
    geyser::TextureDescriptor d;
    d.width = w;
    d.height = h;
    d.format = f;
    d.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst | geyser::kTextureUsageTextureBinding |
              geyser::kTextureUsageRenderAttachment;
    return d;
}

std::vector<uint8_t> ramp(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + seed);
    return v;
}

class Gl : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            device = geyser::Device::open();
        } catch (const geyser::VulkanUnavailableError& e) {
            GTEST_SKIP() << "no Vulkan device: " << e.what();
        }
        try {
            headless = HeadlessContext::create(device);
            context = GlContext::current(device);
        } catch (const geyser::UnsupportedOperationError& e) {
            GTEST_SKIP() << "no usable headless OpenGL context: " << e.what();
        } catch (const geyser::DeviceMismatchError& e) {
            GTEST_SKIP() << "no OpenGL context on this Vulkan device: " << e.what();
        }
        gl = load_test_gl();
        if (!gl.ok) GTEST_SKIP() << "the test's own GL 4.5 entry points are missing";
    }
    std::shared_ptr<geyser::Device> device;
    std::unique_ptr<HeadlessContext> headless;
    std::shared_ptr<GlContext> context;
    TestGl gl;
};

TEST_F(Gl, ContextMatchesTheVulkanDevice) {
    const geyser::gl::GlInfo& info = context->info();
    EXPECT_TRUE(info.memory_object_fd);
    EXPECT_EQ(info.driver_uuid, device->info().driver_uuid);
    EXPECT_FALSE(info.device_uuids.empty());
    EXPECT_TRUE(context->is_current());
    EXPECT_EQ(context->sync_path(), info.semaphore_fd ? geyser::gl::SyncPath::kGlSemaphore : geyser::gl::SyncPath::kHost);
}

TEST_F(Gl, NoCurrentContextIsRefused) {
    headless->release_current();
    EXPECT_THROW((void)GlContext::current(device), geyser::UnsupportedOperationError);
    headless->make_current();
}

TEST_F(Gl, VulkanUploadGlReads) {
    const size_t before = fd_count();
    {
        auto tex = device->create_shareable_texture(descriptor(64, 48));
        const std::vector<uint8_t> data = ramp(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT), 3);
        tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
        geyser::MemoryHandle h = device->export_texture(*tex);
        auto g = GlTexture::import(context, h);
        EXPECT_NE(g->name(), 0u);
        EXPECT_EQ(g->internal_format(), 0x8058u);  // GL_RGBA8
        EXPECT_EQ(g->target(), kTexture2d);
        std::vector<uint8_t> read(data.size());
        gl.BindTexture(kTexture2d, g->name());
        gl.GetTexImage(kTexture2d, 0, kRgba, kUnsignedByte, read.data());
        gl.BindTexture(kTexture2d, 0);
        EXPECT_EQ(read, data);
        g->close();
        EXPECT_TRUE(g->closed());
    }
    EXPECT_EQ(fd_count(), before);
}

TEST_F(Gl, GlClearsVulkanDownloads) {
    auto tex = device->create_shareable_texture(descriptor(32, 16));
    geyser::MemoryHandle h = device->export_texture(*tex);
    auto g = GlTexture::import(context, h);
    const uint8_t colour[4] = {10, 200, 30, 255};
    gl.ClearTexImage(g->name(), 0, kRgba, kUnsignedByte, colour);
    context->finish(10s);
    std::vector<uint8_t> out(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
    tex->download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], colour[i % 4]) << "byte " << i;
}

TEST_F(Gl, BuffersBothWays) {
    // Mesa's llvmpipe wants 16 bytes of the allocation after a GL buffer's end (docs/gl.md).
    auto buf = device->create_shareable_buffer(4096 + 64);
    const std::vector<uint8_t> data = ramp(4096, 9);
    buf->write(data.data(), data.size(), 0);
    geyser::MemoryHandle h = device->export_buffer(*buf);
    auto g = GlBuffer::import(context, h, 4096);
    EXPECT_EQ(g->size(), 4096u);
    std::vector<uint8_t> read(4096);
    gl.GetNamedBufferSubData(g->name(), 0, 4096, read.data());
    EXPECT_EQ(read, data);
    const std::vector<uint8_t> back = ramp(4096, 77);
    gl.NamedBufferSubData(g->name(), 0, 4096, back.data());
    context->finish(10s);
    std::vector<uint8_t> out(4096);
    buf->read(out.data(), out.size(), 0);
    EXPECT_EQ(out, back);
}

TEST_F(Gl, FormatsWithoutAGlEquivalentAreRefused) {
    for (geyser::TextureFormat f : {geyser::TextureFormat::kBgra8Unorm, geyser::TextureFormat::kBgra8Srgb}) {
        if (!device->format_support(f, descriptor(8, 8, f).usage).shareable()) continue;
        auto tex = device->create_shareable_texture(descriptor(8, 8, f));
        geyser::MemoryHandle h = device->export_texture(*tex);
        const size_t before = fd_count();
        try {
            (void)GlTexture::import(context, h);
            FAIL() << "imported " << geyser::format_info(f).name;
        } catch (const geyser::UnsupportedFormatError& e) {
            EXPECT_NE(std::string(e.what()).find(geyser::format_info(f).name), std::string::npos) << e.what();
        }
        EXPECT_EQ(fd_count(), before);
    }
}

TEST_F(Gl, BadHandlesAreRefusedBeforeGlSeesThem) {
    auto tex = device->create_shareable_texture(descriptor(8, 8));
    geyser::MemoryHandle h = device->export_texture(*tex);
    const size_t before = fd_count();
    geyser::MemoryHandle other = h.duplicate();
    other.device_uuid[0] ^= 0xFF;
    EXPECT_THROW((void)GlTexture::import(context, other), geyser::DeviceMismatchError);
    other.close();
    EXPECT_THROW((void)GlTexture::import(context, other), geyser::InvalidHandleError);
    EXPECT_THROW((void)GlBuffer::import(context, h), geyser::InvalidHandleError);
    EXPECT_EQ(fd_count(), before);
}

TEST_F(Gl, ClosingInAnotherContextThrowsAndDeletesNothing) {
    auto tex = device->create_shareable_texture(descriptor(8, 8));
    geyser::MemoryHandle h = device->export_texture(*tex);
    auto g = GlTexture::import(context, h);
    auto second = HeadlessContext::create(device);  // now current
    EXPECT_THROW(g->close(), geyser::UnsupportedOperationError);
    EXPECT_FALSE(g->closed());
    headless->make_current();
    g->close();
    EXPECT_TRUE(g->closed());
}

TEST_F(Gl, SemaphoresNeedTheExtension) {
    if (context->info().semaphore_fd) GTEST_SKIP() << "this context has GL_EXT_semaphore_fd";
    geyser::SyncHandle none;
    EXPECT_THROW((void)geyser::gl::GlSemaphore::import(context, none), geyser::UnsupportedOperationError);
}

TEST_F(Gl, SenderFramesFromGl) {
    const std::string name = "gl-cpp-test-" + std::to_string(::getpid());
    auto sender = geyser::Sender::create(device, name, descriptor(16, 8));
    auto subscriber = geyser::Subscriber::connect(device, name, 5s);
    geyser::gl::GlSender ring(context, *sender);
    for (uint8_t i = 1; i <= 4; ++i) {
        geyser::gl::GlFrame f = ring.begin_frame(5s);
        const uint8_t colour[4] = {i, static_cast<uint8_t>(i * 2), static_cast<uint8_t>(i * 3), 255};
        gl.ClearTexImage(f.texture->name(), 0, kRgba, kUnsignedByte, colour);
        ring.end_frame(f, 5s);
        geyser::Subscriber::Frame got = subscriber->next_frame(5 * kSecond);
        ASSERT_EQ(got.number(), f.number);
        std::vector<uint8_t> out(got.texture()->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
        got.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, out.data(), out.size());
        for (size_t b = 0; b < out.size(); ++b) ASSERT_EQ(out[b], colour[b % 4]);
        got.release();
    }
    ring.close();
}

TEST_F(Gl, SubscriberFramesInGl) {
    const std::string name = "gl-cpp-sub-" + std::to_string(::getpid());
    auto sender = geyser::Sender::create(device, name, descriptor(16, 8));
    auto subscriber = geyser::Subscriber::connect(device, name, 5s);
    geyser::gl::GlSubscriber ring(context, *subscriber);
    const size_t size = sender->ring()[0]->host_size(VK_IMAGE_ASPECT_COLOR_BIT);
    for (uint8_t i = 1; i <= 4; ++i) {
        const std::vector<uint8_t> data = ramp(size, i);
        sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
        geyser::gl::GlFrame f = ring.next_frame(5s);
        std::vector<uint8_t> read(size);
        gl.BindTexture(kTexture2d, f.texture->name());
        gl.GetTexImage(kTexture2d, 0, kRgba, kUnsignedByte, read.data());
        gl.BindTexture(kTexture2d, 0);
        EXPECT_EQ(read, data);
        ring.release(f, 5s);
    }
    ring.close();
    EXPECT_TRUE(subscriber->held().empty());
    const std::vector<uint8_t> last = ramp(size, 5);
    sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, last.data(), last.size());
    {
        geyser::gl::GlSubscriber held(context, *subscriber);
        EXPECT_EQ(held.next_frame(5s).number, 5u);
        EXPECT_EQ(subscriber->held(), std::vector<uint64_t>{5});
    }
    EXPECT_TRUE(subscriber->held().empty()) << "a GlSubscriber releases what it holds when it goes";
}

}  // namespace
