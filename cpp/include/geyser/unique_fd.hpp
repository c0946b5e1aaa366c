// The one owner of a POSIX file descriptor.
#pragma once

namespace geyser {

/// Move-only owner of a file descriptor: the destructor closes it. -1 means "holds nothing".
/// Not thread-safe; share ownership by dup(), never by copying the number.
class UniqueFd {
public:
    UniqueFd() noexcept = default;
    /// Takes ownership of `fd` (which may be -1).
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }

    /// Gives up ownership: the caller must close the returned fd.
    [[nodiscard]] int release() noexcept;
    /// Closes what it holds and takes `fd` instead.
    void reset(int fd = -1) noexcept;
    /// A new owner of a duplicate (F_DUPFD_CLOEXEC). Throws OsError if the fd is not open.
    UniqueFd duplicate() const;
    /// Takes a duplicate of a borrowed fd. Throws InvalidHandleError if it is not an open fd.
    static UniqueFd duplicate_of(int borrowed_fd);

private:
    int fd_ = -1;
};

}  // namespace geyser
