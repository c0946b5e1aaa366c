// Helpers shared by the C++ test programs.
#pragma once

#include <dirent.h>

#include <cstddef>

namespace geyser::testing_support {

/// How many fds this process has open (entries of /proc/self/fd, the directory's own included,
/// so only differences mean anything).
inline size_t fd_count() {
    size_t n = 0;
    DIR* d = opendir("/proc/self/fd");
    while (readdir(d)) ++n;
    closedir(d);
    return n;
}

}  // namespace geyser::testing_support
