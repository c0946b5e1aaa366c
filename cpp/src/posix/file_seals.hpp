// Internal: a shared file's size and seals (memfd_create(2), fcntl F_ADD_SEALS / F_GET_SEALS).
// A file mapped by two processes can be truncated by either, and the other's next access to the
// lost pages dies of SIGBUS; F_SEAL_SHRINK is the kernel's promise that it cannot be.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace geyser {

/// The seals of `fd` (F_GET_SEALS), or nullopt where the file has no seals at all (not a memfd
/// or another sealable shmem file). Never throws.
std::optional<uint32_t> file_seals(int fd) noexcept;

/// Adds F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL to the file of `fd` where the file allows it (a
/// memfd made with MFD_ALLOW_SEALING whose seals are not sealed yet), so that nobody can change
/// its size any more, nor add seals (F_SEAL_FUTURE_WRITE, which would make every later writable
/// mapping fail). Elsewhere (a character device, a file already sealed) changes nothing.
/// Seals belong to the file, not to the fd: every holder sees them. Never throws.
void seal_file_size(int fd) noexcept;

/// The file's size (fstat st_size); throws InvalidHandleError naming `what` when fd is not open.
uint64_t file_size(int fd, const char* what);

/// "F_SEAL_SHRINK|F_SEAL_GROW", "no seals", for messages.
std::string describe_seals(std::optional<uint32_t> seals);

}  // namespace geyser
