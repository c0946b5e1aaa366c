// Helpers shared by the C++ test programs.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstddef>
#include <thread>

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

/// Waits for the child `pid` up to `limit`; SIGKILLs and reaps it past that. Returns its exit
/// code, or -1 if it was killed or died of a signal.
inline int wait_child(pid_t pid, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace geyser::testing_support
