// Mesa's memfd (lavapipe, and every Mesa driver that exports host memory as an opaque FD): its
// header, learnt from the sample export (memory_file.hpp).
//
// The layout, as Mesa's src/util/os_memory_fd.c has it from 21.x to 25.x (Debian 12 has
// 22.3.6), in the exporter's native word size:
//   at 0:           size_t size     the whole file, which an import maps;
//   at 8:           size_t offset   where the data starts in it;
//   at 16:          16 bytes        the first bytes of a SHA-1 of the driver's id string, which
//                                   an import compares with its own;
//   at offset - 8:  size_t offset   a copy, which freeing the memory reads to find the header.
// The data is page-aligned after the header: the file is the allocation plus one alignment and
// the header's 40 bytes. An import maps `size` bytes, puts the data at `offset`, and takes
// `size - offset` (unsigned) as the memory's size, so an offset past the end wraps to a huge
// size that passes the driver's own "at least allocationSize" check. Freeing the memory unmaps
// `size` bytes at the data minus the copied offset. Both numbers are therefore checked against
// what this driver writes for the allocation, and the Sender rewrites them in its own memory
// where a subscriber changed them.
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

#include "geyser/error.hpp"
#include "posix/file_seals.hpp"
#include "vulkan/external_memory/memory_file.hpp"

namespace geyser {

namespace {

constexpr size_t kWord = sizeof(uint64_t);
constexpr size_t kUuidSize = 16;
constexpr size_t kHeaderSize = 2 * kWord + kUuidSize;

struct MesaHeader {
    uint64_t size = 0;
    uint64_t offset = 0;
    std::array<uint8_t, kUuidSize> uuid{};
    uint64_t offset_copy = 0;  // the word before the data; 0 when offset is not past the header
};

bool read_exactly(int fd, void* out, size_t n, uint64_t at) {
    if (at > static_cast<uint64_t>(INT64_MAX)) return false;
    // pread: the fd's file offset is shared with every holder of the same open file, and the
    // driver's own import seeks and reads; leave it where it is.
    return ::pread(fd, out, n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
}

// The header as it is in the file now, or nullopt when the file is too short to hold one.
std::optional<MesaHeader> read_header(int fd) {
    uint8_t raw[kHeaderSize];
    if (!read_exactly(fd, raw, sizeof(raw), 0)) return std::nullopt;
    MesaHeader h;
    std::memcpy(&h.size, raw, kWord);
    std::memcpy(&h.offset, raw + kWord, kWord);
    std::memcpy(h.uuid.data(), raw + 2 * kWord, kUuidSize);
    if (h.offset >= kHeaderSize + kWord && h.offset <= h.size) {
        if (!read_exactly(fd, &h.offset_copy, kWord, h.offset - kWord)) h.offset_copy = 0;
    }
    return h;
}

class MesaMemfdRules final : public MemfdRules {
public:
    MesaMemfdRules(MemfdLayout layout, const MesaHeader& sample) : MemfdRules(layout), offset_(sample.offset), uuid_(sample.uuid) {}

    const char* name() const noexcept override { return "Mesa memfd"; }
    bool frees_by_file() const noexcept override { return true; }

    void check(int fd, uint64_t allocation_size) const override {
        std::string diff = differences(fd, allocation_size);
        const uint64_t expected_size = allocation_size + layout_.overhead;
        const std::optional<MesaHeader> h = read_header(fd);
        if (!h) {
            diff += "; it is too short to hold the driver's header";
        } else {
            if (h->uuid != uuid_) diff += "; its header names another driver";
            if (h->size != expected_size) {
                diff += "; its header says the file is " + std::to_string(h->size) + " bytes, expected " +
                        std::to_string(expected_size);
            }
            if (h->offset != offset_) {
                diff += "; its header puts the data at offset " + std::to_string(h->offset) + ", expected " +
                        std::to_string(offset_);
            } else if (h->offset_copy != offset_) {
                diff += "; the offset kept before the data is " + std::to_string(h->offset_copy) + ", expected " +
                        std::to_string(offset_);
            }
        }
        if (!diff.empty()) {
            throw InvalidHandleError("memory fd " + std::to_string(fd) + " is not what this driver (" + name() +
                                     ") exports for " + std::to_string(allocation_size) + " bytes: " + diff.substr(2));
        }
    }

    bool repair(int fd, uint64_t allocation_size) const override {
        MesaHeader want;
        want.size = allocation_size + layout_.overhead;
        want.offset = offset_;
        want.uuid = uuid_;
        want.offset_copy = offset_;
        const std::optional<MesaHeader> now = read_header(fd);
        if (now && now->size == want.size && now->offset == want.offset && now->uuid == want.uuid &&
            now->offset_copy == want.offset_copy) {
            return false;
        }
        uint8_t raw[kHeaderSize];
        std::memcpy(raw, &want.size, kWord);
        std::memcpy(raw + kWord, &want.offset, kWord);
        std::memcpy(raw + 2 * kWord, want.uuid.data(), kUuidSize);
        if (::pwrite(fd, raw, sizeof(raw), 0) != static_cast<ssize_t>(sizeof(raw)) ||
            ::pwrite(fd, &want.offset_copy, kWord, static_cast<off_t>(offset_ - kWord)) != static_cast<ssize_t>(kWord)) {
            throw_errno("pwrite", "restoring the driver's header of exported memory");
        }
        return true;
    }

private:
    const uint64_t offset_;
    const std::array<uint8_t, kUuidSize> uuid_;
};

}  // namespace

std::unique_ptr<const MemoryFileRules> learn_mesa_memfd_rules(int sample_fd, uint64_t sample_size,
                                                              const MemfdLayout& layout) {
    const std::optional<MesaHeader> h = read_header(sample_fd);
    // A Mesa header describes its own file: the size is the file's, the data lies inside it
    // and holds the allocation, and the copy of the offset sits before it.
    if (!h || h->size != sample_size + layout.overhead || h->size != file_size(sample_fd, "the sample export") ||
        h->offset < kHeaderSize + kWord || h->offset > h->size || h->size - h->offset < sample_size ||
        h->offset_copy != h->offset) {
        return nullptr;
    }
    return std::make_unique<MesaMemfdRules>(layout, *h);
}

}  // namespace geyser
