// The factory of MemoryFileRules, the rules of any memfd, and of a device node (memory_file.hpp).
#include "vulkan/external_memory/memory_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "geyser/error.hpp"
#include "posix/fd_kind.hpp"
#include "posix/file_seals.hpp"

namespace geyser {

namespace {

// A device node (NVIDIA's every opaque FD is /dev/nvidiactl): the payload lives in the driver,
// not in the file, so the file has nothing to check or repair. The description is all there is
// (memory_import_checks.cpp checks it).
class DeviceNodeRules final : public MemoryFileRules {
public:
    const char* name() const noexcept override { return "device node"; }
    void check(int, uint64_t) const override {}
    bool repair(int, uint64_t) const override { return false; }
};

}  // namespace

std::string MemfdRules::differences(int fd, uint64_t allocation_size) const {
    std::string diff;
    const uint64_t size = file_size(fd, "memory");
    const bool too_large = allocation_size > UINT64_MAX - layout_.overhead;
    const uint64_t expected = too_large ? UINT64_MAX : allocation_size + layout_.overhead;
    if (size != expected) {
        diff += "; the file is " + std::to_string(size) + " bytes, but this driver's export of " +
                std::to_string(allocation_size) + " bytes is " +
                (too_large ? std::string("larger than any file") : std::to_string(expected)) +
                (size < expected ? " (reading past its end would die of SIGBUS)" : "");
    }
    const std::optional<uint32_t> seals = file_seals(fd);
    if (layout_.sealed && !(seals && (*seals & F_SEAL_SHRINK))) {
        diff += "; it is not sealed against shrinking (" + describe_seals(seals) +
                ", F_SEAL_SHRINK needed): whoever holds it could truncate it after the import, and the next "
                "access would die of SIGBUS";
    }
    if (seals && (*seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
        diff += "; it is sealed against writing (" + describe_seals(seals) + "), so it cannot be mapped writable";
    }
    return diff;
}

void MemfdRules::check(int fd, uint64_t allocation_size) const {
    const std::string diff = differences(fd, allocation_size);
    if (!diff.empty()) {
        throw InvalidHandleError("memory fd " + std::to_string(fd) + " is not what this driver exports for " +
                                 std::to_string(allocation_size) + " bytes: " + diff.substr(2));
    }
}

std::unique_ptr<const MemoryFileRules> learn_memory_file_rules(int sample_fd, uint64_t sample_size) {
    const FdKind kind = FdKind::of(sample_fd, "the sample export");
    if (kind.type != S_IFREG) return std::make_unique<DeviceNodeRules>();
    MemfdLayout layout;
    const uint64_t size = file_size(sample_fd, "the sample export");
    layout.overhead = size >= sample_size ? size - sample_size : 0;
    const std::optional<uint32_t> seals = file_seals(sample_fd);
    layout.sealed = seals && (*seals & F_SEAL_SHRINK);
    // The most specific rules first: a driver whose file layout Geyser knows.
    if (auto mesa = learn_mesa_memfd_rules(sample_fd, sample_size, layout)) return mesa;
    return std::make_unique<MemfdRules>(layout);
}

}  // namespace geyser
