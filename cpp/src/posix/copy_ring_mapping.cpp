// CopyRingMapping (geyser/copy_ring.hpp): the copy ring's memfd and its mapping.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "geyser/copy_ring.hpp"
#include "geyser/error.hpp"
#include "posix/file_seals.hpp"

namespace geyser {

CopyRingMapping::CopyRingMapping(CopyRingMapping&& other) noexcept
    : ring_(std::move(other.ring_)),
      fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      length_(std::exchange(other.length_, 0)) {}

CopyRingMapping& CopyRingMapping::operator=(CopyRingMapping&& other) noexcept {
    if (this != &other) {
        CopyRingMapping gone(std::move(*this));
        ring_ = std::move(other.ring_);
        fd_ = std::move(other.fd_);
        base_ = std::exchange(other.base_, nullptr);
        length_ = std::exchange(other.length_, 0);
    }
    return *this;
}

CopyRingMapping::~CopyRingMapping() {
    if (base_ != nullptr) ::munmap(base_, length_);
}

uint8_t* CopyRingMapping::plane(uint32_t slot, size_t plane) const noexcept {
    return base_ + static_cast<size_t>(slot) * ring_.slot_size + ring_.planes[plane].offset;
}

CopyRingMapping CopyRingMapping::create(const CopyRing& ring) {
    CopyRingMapping m;
    m.ring_ = ring;
    m.fd_.reset(::memfd_create("geyser-copy-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!m.fd_) throw OsError(errno, "memfd_create", "the copy ring");
    if (::ftruncate(m.fd_.get(), static_cast<off_t>(ring.file_size())) != 0) {
        throw OsError(errno, "ftruncate", "the copy ring of " + std::to_string(ring.file_size()) + " bytes");
    }
    m.length_ = static_cast<size_t>(ring.file_size());
    void* p = ::mmap(nullptr, m.length_, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd_.get(), 0);
    if (p == MAP_FAILED) {
        m.length_ = 0;
        throw OsError(errno, "mmap", "the copy ring");
    }
    m.base_ = static_cast<uint8_t*>(p);
    // Only this mapping writes: every copy subscriber gets the same file, and one must not be
    // able to write the frames the others read (F_SEAL_FUTURE_WRITE, Linux 5.1: no new writable
    // mapping, no write(2); this one goes on writing). Then its size and seals are fixed.
    if (::fcntl(m.fd_.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE) != 0) {
        throw OsError(errno, "fcntl(F_ADD_SEALS, F_SEAL_FUTURE_WRITE)", "the copy ring");
    }
    seal_file_size(m.fd_.get());
    return m;
}

CopyRingMapping CopyRingMapping::open(const CopyRing& ring, UniqueFd fd) {
    if (!fd) throw ProtocolError("copy_ring: no file descriptor accompanied the description");
    // A peer that could truncate the file would kill this process with SIGBUS at its next read
    // of the lost pages: only a file whose size is sealed against shrinking is mapped.
    const std::optional<uint32_t> seals = file_seals(fd.get());
    if (!seals || !(*seals & F_SEAL_SHRINK)) {
        throw ProtocolError("the copy ring's file is not sealed against shrinking (it has " + describe_seals(seals) +
                            "): a producer could truncate it under the mapping");
    }
    const uint64_t size = file_size(fd.get(), "copy ring");
    if (size != ring.file_size()) {
        throw ProtocolError("the copy ring's file has " + std::to_string(size) + " bytes, but its description says " +
                            std::to_string(ring.slots) + " slots of " + std::to_string(ring.slot_size) + " = " +
                            std::to_string(ring.file_size()));
    }
    CopyRingMapping m;
    m.ring_ = ring;
    m.fd_ = std::move(fd);
    m.length_ = static_cast<size_t>(size);
    void* p = ::mmap(nullptr, m.length_, PROT_READ, MAP_SHARED, m.fd_.get(), 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        m.length_ = 0;
        throw ProtocolError("the copy ring's file cannot be mapped (" + std::string(std::strerror(err)) + ")");
    }
    m.base_ = static_cast<uint8_t*>(p);
    return m;
}

}  // namespace geyser
