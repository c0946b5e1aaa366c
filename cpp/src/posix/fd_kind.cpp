#include "posix/fd_kind.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "geyser/error.hpp"

namespace geyser {

FdKind FdKind::of(int fd, const char* what) {
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        throw InvalidHandleError(std::string(what) + " fd " + std::to_string(fd) + " is not open");
    }
    return {static_cast<uint32_t>(st.st_mode & S_IFMT), static_cast<uint64_t>(st.st_dev),
            static_cast<uint64_t>(st.st_rdev)};
}

bool FdKind::same_as(const FdKind& o) const noexcept {
    if (type != o.type) return false;
    if (type == S_IFCHR || type == S_IFBLK) return rdev == o.rdev;
    return dev == o.dev;
}

bool FdKind::never_a_payload() const noexcept {
    return type == S_IFIFO || type == S_IFSOCK || type == S_IFDIR || type == S_IFBLK || type == S_IFLNK;
}

std::string FdKind::describe() const {
    auto numbers = [](uint64_t d) { return std::to_string(major(d)) + ":" + std::to_string(minor(d)); };
    switch (type) {
        case S_IFIFO: return "a pipe";
        case S_IFSOCK: return "a socket";
        case S_IFDIR: return "a directory";
        case S_IFLNK: return "a symbolic link";
        case S_IFBLK: return "block device " + numbers(rdev);
        case S_IFCHR: return "character device " + numbers(rdev);
        case S_IFREG: return "a regular file on filesystem " + numbers(dev);
        default: return "a file of type " + std::to_string(type);
    }
}

uint64_t inode_of(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

void forget_if_driver_closed(UniqueFd& duplicate, const FdKind& before, uint64_t before_inode) {
    struct stat now {};
    const bool still_ours = ::fstat(duplicate.get(), &now) == 0 && static_cast<uint64_t>(now.st_ino) == before_inode &&
                            FdKind{static_cast<uint32_t>(now.st_mode & S_IFMT), static_cast<uint64_t>(now.st_dev),
                                   static_cast<uint64_t>(now.st_rdev)}
                                .same_as(before);
    if (!still_ours) (void)duplicate.release();  // the driver closed it: the number is not ours
}

void after_failed_import(UniqueFd& duplicate, const FdKind& before, uint64_t before_inode, int borrowed,
                         const char* call, int32_t result) {
    forget_if_driver_closed(duplicate, before, before_inode);
    throw InvalidHandleError(std::string("the driver refused to import fd ") + std::to_string(borrowed) + ": " +
                             call + " returned " + VulkanError(result, "").result_name() +
                             " (not a payload this driver exported, or a description that does not match it)");
}

}  // namespace geyser
