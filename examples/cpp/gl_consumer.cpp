// Subscribes to a named sender and imports every received frame into OpenGL (a headless EGL
// context on the producer's GPU, geyser/gl.hpp): GL reads the frame where the producer wrote it,
// and the example checks GL's texels (glGetTexImage) against the producer's pattern.
//
//   geyser_gl_consumer NAME [FRAMES]
//
// The GL calls of the example itself come through eglGetProcAddress, as Geyser's own do; a real
// program would sample frame.texture->name() in its shaders instead.
#include <dlfcn.h>

#include <geyser/geyser.hpp>
#include <geyser/gl.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// The RGBA8 pattern of geyser.demo.pattern.
bool matches(const std::vector<uint8_t>& px, uint32_t w, uint32_t h, uint64_t f) {
    for (uint32_t y = 0; y < h; ++y) {
        for (uint32_t x = 0; x < w; ++x) {
            const uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 4];
            if (p[0] != static_cast<uint8_t>(x + 3 * f) || p[1] != static_cast<uint8_t>(y + 5 * f) ||
                p[2] != static_cast<uint8_t>((x ^ y) + 7 * f) || p[3] != static_cast<uint8_t>(2 * x + y + 11 * f)) {
                return false;
            }
        }
    }
    return true;
}

using GetTexImage = void (*)(unsigned, int, unsigned, unsigned, void*);
using BindTexture = void (*)(unsigned, unsigned);

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s NAME [FRAMES]\n", argv[0]);
        return 2;
    }
    const std::string name = argv[1];
    const uint64_t frames = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
    const uint64_t second = 1000000000ull;
    try {
        auto device = geyser::Device::open();
        std::unique_ptr<geyser::Subscriber> sub;
        for (int attempt = 0; !sub; ++attempt) {
            try {
                sub = geyser::Subscriber::connect(device, name, 2 * second, "geyser C++ GL consumer");
            } catch (const geyser::PeerGoneError&) {
                if (attempt >= 20) throw;  // the producer may still be starting
            }
        }
        const geyser::SenderInfo& info = sub->info();
        if (info.vk_format != VK_FORMAT_R8G8B8A8_UNORM) {
            std::fprintf(stderr, "gl consumer: this example checks RGBA8 frames only\n");
            return 2;
        }
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
                frame = ring.next_frame(10 * second);
            } catch (const geyser::PeerGoneError& e) {
                std::printf("gl consumer: %s\n", e.what());
                break;
            }
            bind_texture(0x0DE1 /* GL_TEXTURE_2D */, frame.texture->name());
            get_tex_image(0x0DE1, 0, 0x1908 /* GL_RGBA */, 0x1401 /* GL_UNSIGNED_BYTE */, pixels.data());
            bind_texture(0x0DE1, 0);
            if (!matches(pixels, info.width, info.height, frame.number)) ++bad;
            ring.release(frame, 10 * second);
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
