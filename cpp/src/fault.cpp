#include "fault.hpp"

#include <cstring>
#include <mutex>
#include <string>

#include "geyser/testing.hpp"

namespace geyser {

namespace {

std::mutex g_mutex;
std::string g_point;
int g_nth = 0;
int g_seen = 0;

}  // namespace

namespace fault {

bool injected(const char* point) noexcept {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_point.empty()) return false;
    // "vkAllocateMemory" arms every "vkAllocateMemory(...)" site; a full name arms that one.
    const size_t n = g_point.size();
    if (std::strncmp(point, g_point.c_str(), n) != 0 || (point[n] != '\0' && point[n] != '(')) return false;
    return ++g_seen == g_nth;
}

}  // namespace fault

namespace testing {

void arm_fault(const std::string& point, int nth) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_point = point;
    g_nth = nth;
    g_seen = 0;
}

int disarm_fault() {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_point.clear();
    return g_seen;
}

}  // namespace testing

}  // namespace geyser
