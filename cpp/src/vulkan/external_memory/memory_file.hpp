// Internal, POSIX builds: what an importer can check of the file behind a memory fd before the
// driver maps it, per driver, learnt from an fd the device itself exported (as the fd's kind is,
// Device::check_opaque_fd).
//
// Where a driver's opaque FD is a file the importer can read (lavapipe's is a memfd), the driver
// maps that file and trusts what it finds there: its size, and any bookkeeping it keeps in it.
// Mesa keeps a header at the start of its memfds; an import maps the size the header names and
// puts the data at the offset it names, checked only as unsigned arithmetic, so a short file,
// one truncated after the import, or a forged header crashed the importer or let it write over
// its own memory (issue #14). Where the fd is a device node (NVIDIA's /dev/nvidiactl) the file
// says nothing and nothing here applies.
//
// One implementation per kind of file, each learnt from the sample export (learn_memory_file_rules
// tries them in order): Mesa's memfd with its header (mesa_memfd.cpp), any other memfd (size and
// seals), and a device node (nothing to check). Rules are immutable once learnt; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace geyser {

/// What this device's driver puts in the file of the memory it exports.
class MemoryFileRules {
public:
    virtual ~MemoryFileRules() = default;
    /// For messages: "Mesa memfd", "memfd", "device node".
    virtual const char* name() const noexcept = 0;
    /// Throws InvalidHandleError unless the file behind `fd` (already known to be the kind of
    /// file the device exports) is what the driver exports for an allocation of
    /// `allocation_size` bytes, so that mapping it cannot reach outside it. Every difference in
    /// one message. Nothing here can stop a holder of the fd from changing the file after the
    /// check (docs/reliability.md says what that leaves).
    virtual void check(int fd, uint64_t allocation_size) const = 0;
    /// For memory this device exported, of `allocation_size` bytes: rewrites what the driver
    /// keeps in the file (its header) where someone who holds the fd changed it, since the
    /// driver reads it again when the memory is freed and when it is imported next. Returns
    /// whether anything had changed. Throws OsError when the file cannot be written.
    virtual bool repair(int fd, uint64_t allocation_size) const = 0;
    /// Whether the driver reads the file again when it frees the memory (so an import keeps a
    /// duplicate of the fd to repair() it first).
    virtual bool frees_by_file() const noexcept { return false; }
};

/// What a memfd sample taught: how much larger the file is than the allocation, and whether
/// the driver's exports (as Geyser hands them out, seal_file_size applied) are sealed against
/// shrinking.
struct MemfdLayout {
    uint64_t overhead = 0;  ///< file size - allocation size, the same for every allocation
    bool sealed = false;    ///< F_SEAL_SHRINK is present on the sample
};

/// Any memfd: its size must be exactly what the driver's export of that allocation has, and it
/// must carry F_SEAL_SHRINK where the driver's own exports do; a file sealed against writing
/// cannot be mapped writable and is refused too.
class MemfdRules : public MemoryFileRules {
public:
    explicit MemfdRules(MemfdLayout layout) : layout_(layout) {}
    const char* name() const noexcept override { return "memfd"; }
    void check(int fd, uint64_t allocation_size) const override;
    bool repair(int, uint64_t) const override { return false; }  // size and seals cannot be undone

protected:
    /// check()'s findings, "; "-separated and each starting with "; " (empty when none).
    std::string differences(int fd, uint64_t allocation_size) const;
    const MemfdLayout layout_;
};

/// Learns the rules of the driver that exported `sample_fd`, an fd of `sample_size` bytes of
/// memory this device allocated. Never null.
std::unique_ptr<const MemoryFileRules> learn_memory_file_rules(int sample_fd, uint64_t sample_size);

/// Mesa's memfd with its header (mesa_memfd.cpp): the rules, when the sample is one, else null.
std::unique_ptr<const MemoryFileRules> learn_mesa_memfd_rules(int sample_fd, uint64_t sample_size,
                                                              const MemfdLayout& layout);

}  // namespace geyser
