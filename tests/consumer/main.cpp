// Creates a texture, exports it, imports it on a second Device and checks the bytes: the same
// path a C++ consumer of a Python producer takes, built against the installed geyser::core.
#include <geyser/geyser.hpp>

#include <cstdio>
#include <vector>

int main() {
    try {
        auto producer = geyser::Device::open();
        auto consumer = geyser::Device::open(geyser::uuid_to_hex(producer->info().device_uuid));
        geyser::TextureDescriptor desc;
        desc.width = 31;
        desc.height = 7;
        desc.format = geyser::TextureFormat::kRgba8Unorm;
        desc.usage = geyser::kTextureUsageCopySrc | geyser::kTextureUsageCopyDst;
        auto tex = producer->create_shareable_texture(desc);
        std::vector<unsigned char> data(tex->host_size(VK_IMAGE_ASPECT_COLOR_BIT));
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 3);
        tex->upload(VK_IMAGE_ASPECT_COLOR_BIT, data.data(), data.size());
        geyser::MemoryHandle handle = producer->export_texture(*tex);
        auto imported = consumer->import_texture(handle);
        std::vector<unsigned char> back(data.size());
        imported->download(VK_IMAGE_ASPECT_COLOR_BIT, back.data(), back.size());
        if (back != data) {
            std::fprintf(stderr, "consumer: bytes differ after import\n");
            return 1;
        }
        std::printf("consumer: %ux%u texture shared through fd %d on '%s', %zu bytes identical\n", desc.width,
                    desc.height, handle.fd.get(), producer->info().name.c_str(), data.size());
        return 0;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
