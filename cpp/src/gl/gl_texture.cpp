// GlTexture: a GL texture over imported Geyser texture memory (glTexStorageMem2DEXT).
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/formats.hpp"
#include "geyser/gl.hpp"
#include "gl/gl_api.hpp"
#include "gl/gl_memory_object.hpp"

namespace geyser::gl {

using namespace api;

namespace {

// The GL internal format of a texture described by `h`, from the format table's GL column.
const FormatInfo& format_of(const MemoryHandle& h) {
    TextureFormat tag = h.texture_format;
    const std::string mismatch = format_tag_mismatch(tag, h.vk_format);
    if (!mismatch.empty()) throw InvalidHandleError("the texture handle " + mismatch);
    if (tag == TextureFormat::kUnknown) tag = texture_format_for(h.vk_format);
    if (tag == TextureFormat::kUnknown) {
        throw UnsupportedFormatError("VkFormat " + std::to_string(static_cast<int>(h.vk_format)) +
                                     " is none of Geyser's 21 formats, so it has no GL internal format");
    }
    return format_info(tag);
}

}  // namespace

std::unique_ptr<GlTexture> GlTexture::import(std::shared_ptr<GlContext> context, const MemoryHandle& h) {
    if (!context) throw InvalidArgumentError("GlTexture::import: no GlContext");
    context->require_current("import a texture into GL");
    check_memory_handle(*context, h, ResourceKind::kTexture);
    const FormatInfo& row = format_of(h);
    const uint32_t internal_format = row.gl_internal_format(h.vk_format);
    if (internal_format == 0) {
        throw UnsupportedFormatError(std::string(row.name) +
                                     " has no OpenGL equivalent (core OpenGL has no sized BGRA8 internal format), "
                                     "so it cannot be imported into GL; share the texture as RGBA8_UNORM or "
                                     "RGBA8_SRGB instead");
    }
    if (h.vk_tiling != VK_IMAGE_TILING_OPTIMAL) {
        throw InvalidHandleError("GL imports optimal-tiling textures; this handle's tiling is " +
                                 std::to_string(static_cast<int>(h.vk_tiling)));
    }
    // GL checks no description against the memory (and llvmpipe maps what it is told). The Vulkan
    // import checks that the allocation size, memory type and dedication are what this device
    // requires for the extent, format and usage, and that the fd is memory it can import; it is
    // released at once.
    (void)context->device()->import_texture(h);

    const Functions& f = context->functions();
    MemoryObject memory(*context, h);
    GLint previous = 0;
    f.GetIntegerv(GL_TEXTURE_BINDING_2D, &previous);
    GLuint name = 0;
    f.GenTextures(1, &name);
    check(f, "glGenTextures");
    NewName guard{f.BindTexture, f.DeleteTextures, GL_TEXTURE_2D, previous, name};
    f.BindTexture(GL_TEXTURE_2D, name);
    check(f, "glBindTexture");
    // The tiling must be set before the storage, and must match the Vulkan image's (optimal).
    f.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_TILING_EXT, static_cast<GLint>(GL_OPTIMAL_TILING_EXT));
    check(f, "glTexParameteri(GL_TEXTURE_TILING_EXT)");
    f.TexStorageMem2DEXT(GL_TEXTURE_2D, 1, internal_format, static_cast<GLsizei>(h.width),
                         static_cast<GLsizei>(h.height), memory.get(), 0);
    check(f, "glTexStorageMem2DEXT",
          std::string(row.name) + " " + std::to_string(h.width) + "x" + std::to_string(h.height));
    // One level: the default minification filter (NEAREST_MIPMAP_LINEAR) would leave it incomplete
    // for sampling.
    f.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, static_cast<GLint>(GL_NEAREST));
    f.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, static_cast<GLint>(GL_NEAREST));
    check(f, "glTexParameteri(GL_TEXTURE_MIN_FILTER)");

    std::unique_ptr<GlTexture> t(new GlTexture());
    guard.keep = true;
    t->context_ = std::move(context);
    t->name_ = name;
    t->memory_ = memory.release();
    t->internal_format_ = internal_format;
    t->width_ = h.width;
    t->height_ = h.height;
    t->format_ = row.format;
    t->vk_format_ = h.vk_format;
    t->layout_ = h.vk_layout;
    return t;
}

void GlTexture::close() {
    delete_gl_objects(*context_, context_->functions().DeleteTextures, name_, &memory_, "delete a GL texture",
                      "glDeleteTextures", true);
}

GlTexture::~GlTexture() {
    delete_gl_objects(*context_, context_->functions().DeleteTextures, name_, &memory_, "", "", false);
}

}  // namespace geyser::gl
