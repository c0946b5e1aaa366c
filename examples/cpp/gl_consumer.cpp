// Subscribes to a named sender and imports every received frame into OpenGL (a headless EGL
// context on the producer's GPU, geyser/gl.hpp): GL reads the frame where the producer wrote it,
// and the example checks GL's texels (glGetTexImage) against the producer's pattern.
//
//   geyser_gl_consumer NAME [FRAMES]
//
// The GL calls of the example itself come through eglGetProcAddress, as Geyser's own do; a real
// program would sample frame.texture->name() in its shaders instead.
#include <chrono>
#include <dlfcn.h>

#include <geyser/geyser.hpp>
#include <geyser/gl.hpp>

#include "example_support.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using GetTexImage = void (*)(unsigned, int, unsigned, unsigned, void*);
using BindTexture = void (*)(unsigned, unsigned);

}  // namespace

int main(int argc, char** argv) {
    example::ConsumerArgs args;
    if (!example::parse_consumer_args(argc, argv, args)) return 2;
    const std::string& name = args.name;
    const uint64_t frames = args.frames;
    try {
        auto device = geyser::Device::open();
        std::unique_ptr<geyser::Subscriber> sub = example::subscribe_rgba8(device, name, "geyser C++ GL consumer", "gl consumer");
        if (!sub) return 2;
        const geyser::SenderInfo& info = sub->info();
        auto headless = geyser::gl::HeadlessContext::create(device);  // current on this thread
        auto context = geyser::gl::GlContext::current(device);
        geyser::gl::GlSubscriber ring(context, *sub);  // the ring imported into GL once
        void* egl = ::dlopen("libEGL.so.1", RTLD_NOW | RTLD_LOCAL);
        auto proc = reinterpret_cast<void* (*)(const char*)>(::dlsym(egl, "eglGetProcAddress"));
        auto get_tex_image = reinterpret_cast<GetTexImage>(proc("glGetTexImage"));
        auto bind_texture = reinterpret_cast<BindTexture>(proc("glBindTexture"));
        std::printf("gl consumer: '%s' %ux%u in %s (%s), sync path %s\n", info.name.c_str(), info.width, info.height,
                    context->info().renderer.c_str(), context->info().platform.c_str(),
                    geyser::gl::to_string(ring.sync_path()));
        std::vector<uint8_t> pixels(static_cast<size_t>(info.width) * info.height * 4);
        uint64_t seen = 0, bad = 0;
        while (frames == 0 || seen < frames) {
            geyser::gl::GlFrame frame;
            try {
                frame = ring.next_frame(std::chrono::seconds(10));
            } catch (const geyser::PeerGoneError& e) {
                std::printf("gl consumer: %s\n", e.what());
                break;
            }
            bind_texture(0x0DE1 /* GL_TEXTURE_2D */, frame.texture->name());
            get_tex_image(0x0DE1, 0, 0x1908 /* GL_RGBA */, 0x1401 /* GL_UNSIGNED_BYTE */, pixels.data());
            bind_texture(0x0DE1, 0);
            if (!example::matches_pattern(pixels, info.width, info.height, frame.number)) ++bad;
            ring.release(frame, std::chrono::seconds(10));
            ++seen;
        }
        ring.close();
        std::printf("gl consumer: %llu/%llu frames verified in GL\n", static_cast<unsigned long long>(seen - bad),
                    static_cast<unsigned long long>(seen));
        return seen > 0 && bad == 0 ? 0 : 1;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "gl consumer: %s\n", e.what());
        return 1;
    }
}
