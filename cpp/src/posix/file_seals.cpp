#include "posix/file_seals.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "geyser/error.hpp"

namespace geyser {

std::optional<uint32_t> file_seals(int fd) noexcept {
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0) return std::nullopt;  // EINVAL: a file that cannot be sealed
    return static_cast<uint32_t>(seals);
}

void seal_file_size(int fd) noexcept {
    // EPERM: the seals are sealed already (a memfd made without MFD_ALLOW_SEALING, or a driver
    // that sealed its own); EINVAL: not a sealable file. Either way there is nothing to add.
    (void)::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

uint64_t file_size(int fd, const char* what) {
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        throw InvalidHandleError(std::string(what) + " fd " + std::to_string(fd) + " is not open");
    }
    return static_cast<uint64_t>(st.st_size);
}

std::string describe_seals(std::optional<uint32_t> seals) {
    if (!seals) return "no seals (the file cannot be sealed)";
    static constexpr struct {
        uint32_t bit;
        const char* name;
    } kNames[] = {{F_SEAL_SEAL, "F_SEAL_SEAL"},   {F_SEAL_SHRINK, "F_SEAL_SHRINK"},
                  {F_SEAL_GROW, "F_SEAL_GROW"},   {F_SEAL_WRITE, "F_SEAL_WRITE"},
                  {F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"}};
    std::string out;
    for (const auto& n : kNames) {
        if (*seals & n.bit) out += (out.empty() ? "" : "|") + std::string(n.name);
    }
    return out.empty() ? "no seals" : out;
}

}  // namespace geyser
