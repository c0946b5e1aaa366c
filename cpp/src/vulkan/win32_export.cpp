// Win32Export: the one-export registry of NT handles (win32_export.hpp).
#include "vulkan/win32_export.hpp"

#include <mutex>
#include <set>
#include <string>

#include "geyser/error.hpp"
#include "geyser/types.hpp"

namespace geyser {

namespace {

// The objects that have a live Win32Export.
std::mutex g_exports_mutex;
std::set<Win32Export::Key>& exports() {
    static std::set<Win32Export::Key> keys;
    return keys;
}

}  // namespace

bool Win32Export::Key::operator<(const Key& o) const noexcept {
    if (device != o.device) return device < o.device;
    if (object != o.object) return object < o.object;
    if (kind != o.kind) return kind < o.kind;
    return handle_type < o.handle_type;
}

void Win32Export::claim(const Key& key, const char* what) {
    std::lock_guard<std::mutex> lock(g_exports_mutex);
    if (!exports().insert(key).second) {
        throw InvalidArgumentError(std::string("this ") + what + " was already exported as " +
                                   external_handle_type_name(key.handle_type) +
                                   ", and Vulkan allows one export of an NT handle per object and handle type: "
                                   "duplicate() the existing Win32Export");
    }
}

void Win32Export::unclaim(const Key& key) noexcept {
    std::lock_guard<std::mutex> lock(g_exports_mutex);
    exports().erase(key);
}

Win32Export::Win32Export(Win32Export&& other) noexcept
    : handle_(std::move(other.handle_)), key_(other.key_), registered_(std::exchange(other.registered_, false)) {}

Win32Export& Win32Export::operator=(Win32Export&& other) noexcept {
    if (this != &other) {
        unregister();
        handle_ = std::move(other.handle_);
        key_ = other.key_;
        registered_ = std::exchange(other.registered_, false);
    }
    return *this;
}

Win32Export::~Win32Export() { unregister(); }

void Win32Export::unregister() noexcept {
    if (registered_) unclaim(key_);
    registered_ = false;
}

}  // namespace geyser
