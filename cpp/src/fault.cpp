#include "fault.hpp"

#include <chrono>
#include <condition_variable>
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

std::mutex g_hold_mutex;
std::condition_variable g_hold_changed;
std::string g_held;    // the point held, empty for none
int g_holders = 0;     // threads blocked there now

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

void hold(const char* point) noexcept {
    std::unique_lock<std::mutex> lock(g_hold_mutex);
    if (g_held.empty() || g_held != point) return;
    ++g_holders;
    g_hold_changed.notify_all();
    g_hold_changed.wait(lock, [&] { return g_held != point; });
    --g_holders;
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

void hold_point(const std::string& point) {
    std::lock_guard<std::mutex> lock(g_hold_mutex);
    g_held = point;
    g_hold_changed.notify_all();
}

bool wait_for_holder(int timeout_ms) {
    std::unique_lock<std::mutex> lock(g_hold_mutex);
    return g_hold_changed.wait_for(lock, std::chrono::milliseconds(timeout_ms), [] { return g_holders > 0; });
}

void release_point() {
    std::lock_guard<std::mutex> lock(g_hold_mutex);
    g_held.clear();
    g_hold_changed.notify_all();
}

}  // namespace testing

}  // namespace geyser
