// Internal: what kind of file an fd is, for screening handles before a driver sees them.
#pragma once

#include <cstdint>
#include <string>

#include "geyser/unique_fd.hpp"

namespace geyser {

/// The file type and device numbers of an open fd (fstat), which identify where it came from:
/// every opaque FD one Vulkan driver exports is the same kind of file (a memfd on lavapipe, a
/// /dev/nvidiactl character device on NVIDIA).
struct FdKind {
    uint32_t type = 0;  ///< S_IFMT bits
    uint64_t dev = 0;   ///< st_dev: the filesystem (what tells memfds from files on disk)
    uint64_t rdev = 0;  ///< st_rdev: the device, for character and block devices

    /// Throws InvalidHandleError naming `what` if `fd` is not open.
    static FdKind of(int fd, const char* what);
    /// Same file type, and same device (character/block) or same filesystem (anything else).
    bool same_as(const FdKind& other) const noexcept;
    /// Pipes, sockets, directories, block devices and links never carry a Vulkan payload.
    bool never_a_payload() const noexcept;
    std::string describe() const;
};

/// Imports a duplicate of `borrowed` with `import(fd)` (a Vulkan import call returning VkResult).
/// A successful import owns the duplicate. On failure the spec leaves the fd with us, but some
/// drivers close it anyway (DRIVER_FACTS.md), so the duplicate is closed only if it still names
/// the file it did: no path leaks it or closes a number someone else has been given since.
/// Throws InvalidHandleError naming `call` and the result on failure.
template <typename Import>
void import_duplicate(int borrowed, const char* call, Import&& import);

/// Shared by the template above: the failure path, out of line.
void after_failed_import(UniqueFd& duplicate, const FdKind& before, uint64_t before_inode, int borrowed,
                         const char* call, int32_t result);
uint64_t inode_of(int fd);
/// After a failed import of `duplicate`: releases it without closing when it no longer names the
/// file it did (the driver closed it, and the number may belong to someone else now).
void forget_if_driver_closed(UniqueFd& duplicate, const FdKind& before, uint64_t before_inode);

template <typename Import>
void import_duplicate(int borrowed, const char* call, Import&& import) {
    UniqueFd dup = UniqueFd::duplicate_of(borrowed);
    const FdKind before = FdKind::of(dup.get(), "the duplicate");
    const uint64_t inode = inode_of(dup.get());
    const int32_t result = import(dup.get());
    if (result == 0) {  // VK_SUCCESS: the driver owns the fd now
        (void)dup.release();
        return;
    }
    after_failed_import(dup, before, inode, borrowed, call, result);
}

}  // namespace geyser
