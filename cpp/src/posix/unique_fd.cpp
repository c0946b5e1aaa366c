#include "geyser/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "geyser/error.hpp"

namespace geyser {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

int UniqueFd::release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
}

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0 && fd_ != fd) {
        // close() may report EINTR, but on Linux the fd is released regardless; retrying could
        // close an fd another thread has just been given.
        ::close(fd_);
    }
    fd_ = fd;
}

UniqueFd UniqueFd::duplicate() const {
    int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw_errno("fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(fd_));
    return UniqueFd(fd);
}

UniqueFd UniqueFd::duplicate_of(int borrowed_fd) {
    if (borrowed_fd < 0) {
        throw InvalidHandleError("expected an open file descriptor, found " + std::to_string(borrowed_fd));
    }
    int fd = ::fcntl(borrowed_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == EBADF) {
            throw InvalidHandleError("file descriptor " + std::to_string(borrowed_fd) + " is not open");
        }
        throw_errno("fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(borrowed_fd));
    }
    return UniqueFd(fd);
}

}  // namespace geyser
