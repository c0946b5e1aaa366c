#include "geyser/explain.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include "geyser/formats.hpp"
#include "geyser/types.hpp"

namespace geyser {

namespace {

std::string device_text(const std::string& name, const Uuid& uuid) {
    return (name.empty() ? std::string("a device") : "device '" + name + "'") + " (" + uuid_to_hex(uuid) + ")";
}

std::string format_name(TextureFormat f) {
    for (const auto& row : format_table()) {
        if (row.format == f) return row.name;
    }
    return "format " + std::to_string(static_cast<uint32_t>(f));
}

void add(Explanation& e, const char* code, bool blocking, std::string message, std::string fix) {
    e.reasons.push_back(ExplainReason{code, blocking, std::move(message), std::move(fix)});
}

// What every question shares: this process, the test switch, and the two UUIDs.
void explain_identity(const Device& device, const Uuid& device_uuid, const Uuid& driver_uuid,
                      const std::string& their_name, Explanation& e) {
    if (device.inherited_across_fork()) {
        add(e, "forked_child", true,
            "this process is a fork() child of the process that opened device '" + device.info().name +
                "', and Vulkan objects cannot be used across fork()",
            "open a Device in the child itself (or start it with multiprocessing's 'spawn' method)");
    }
    if (device_mismatch_forced()) {
        add(e, "forced_device_mismatch", true,
            "GEYSER_TEST_FORCE_DEVICE_MISMATCH=1 makes every peer count as another device (a test-only switch)",
            "unset GEYSER_TEST_FORCE_DEVICE_MISMATCH");
    }
    const DeviceInfo& mine = device.info();
    if (device_uuid != mine.device_uuid) {
        add(e, "device_uuid_mismatch", true,
            "the memory belongs to " + device_text(their_name, device_uuid) + ", but this process uses " +
                device_text(mine.name, mine.device_uuid),
            "open the same GPU in this process: Device(\"" + uuid_to_hex(device_uuid) +
                "\") or GEYSER_DEVICE=" + uuid_to_hex(device_uuid) + " (if it is visible here)");
    } else if (driver_uuid != mine.driver_uuid) {
        add(e, "driver_uuid_mismatch", true,
            "the memory was exported by driver " + uuid_to_hex(driver_uuid) + ", but this process's driver for '" +
                mine.name + "' is " + uuid_to_hex(mine.driver_uuid) + " (another driver build or ICD)",
            "run both processes with the same Vulkan driver (VK_DRIVER_FILES / VK_ICD_FILENAMES)");
    }
}

void explain_memory_import(const Device& device, uint32_t handle_type, Explanation& e) {
    if (!(device.info().image_memory.importable & handle_type)) {
        add(e, "handle_type_not_importable", true,
            std::string("device '") + device.info().name + "' cannot import texture memory as " +
                external_handle_type_name(handle_type),
            "use a driver with VK_KHR_external_memory_fd (or the handle type's extension)");
    }
}

}  // namespace

bool Explanation::zero_copy() const noexcept {
    for (const auto& r : reasons) {
        if (r.blocking) return false;
    }
    return true;
}

std::string Explanation::summary() const {
    std::string out;
    for (const auto& r : reasons) {
        if (!r.blocking) continue;
        if (!out.empty()) out += " ";
        out += r.message + ".";
        if (!r.fix.empty()) out += " Fix: " + r.fix + ".";
    }
    return out;
}

bool device_mismatch_forced() noexcept {
    const char* v = std::getenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

bool peer_copy_same_device_forced() noexcept {
    const char* v = std::getenv("GEYSER_TEST_PEER_COPY_SAME_DEVICE");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

bool peer_copy_may_help(const Explanation& e) noexcept {
    size_t blocking = 0;
    bool other_gpu = false;
    for (const auto& r : e.reasons) {
        if (!r.blocking) continue;
        ++blocking;
        other_gpu = other_gpu || r.code == "device_uuid_mismatch";
    }
    return blocking == 0 ? peer_copy_same_device_forced() : blocking == 1 && other_gpu;
}

Explanation explain(const Device& device, const SenderInfo& info) {
    Explanation e;
    e.subject = "sender '" + info.name + "'";
    explain_identity(device, info.device_uuid, info.driver_uuid, {}, e);
    explain_memory_import(device, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, e);
    if (info.texture_format != TextureFormat::kUnknown && !device.inherited_across_fork()) {
        const FormatSupport s = device.format_support(info.texture_format, info.texture_usage);
        if (!s.shareable()) {
            add(e, "format_not_importable", true,
                std::string("device '") + device.info().name + "' cannot import a " + format_name(info.texture_format) +
                    " texture with this usage: " + s.reason,
                "publish a format this device supports (python -m geyser info lists them)");
        }
    }
    if (info.sync_kind == TimelineKind::kPortable) {
        add(e, "portable_timeline", false,
            "the producer's device cannot export timeline semaphores, so the portable (host memory) timeline is "
            "used: frames are waited for on the host, never on a GPU",
            "a driver with VK_KHR_external_semaphore_fd on the producer's side gives GPU waits");
    }
    if (peer_copy_may_help(e)) {
        add(e, "peer_copy_request", false,
            "a Subscriber (zero_copy=auto) asks the producer to copy each frame GPU to GPU with CUDA into a ring on "
            "this device's GPU, which it imports zero-copy (peer-copy delivery); the copy path through host memory "
            "where the producer cannot",
            "");
    }
    return e;
}

Explanation explain(const Device& device, const MemoryHandle& handle) {
    Explanation e;
    e.subject = std::string("handle of a ") +
                (handle.kind == ResourceKind::kTexture
                     ? std::to_string(handle.width) + "x" + std::to_string(handle.height) + " texture"
                     : std::to_string(handle.buffer_size) + "-byte buffer");
    explain_identity(device, handle.device_uuid, handle.driver_uuid, {}, e);
    const ExternalHandleTypes& support =
        handle.kind == ResourceKind::kTexture ? device.info().image_memory : device.info().buffer_memory;
    if (!(support.importable & handle.handle_type)) {
        add(e, "handle_type_not_importable", true,
            std::string("device '") + device.info().name + "' cannot import " + to_string(handle.kind) + " memory as " +
                external_handle_type_name(handle.handle_type),
            "export with a handle type this device imports (python -m geyser info lists them)");
    }
    if (handle.kind == ResourceKind::kTexture && handle.texture_format != TextureFormat::kUnknown &&
        !device.inherited_across_fork()) {
        const FormatSupport s = device.format_support(handle.texture_format, handle.texture_usage);
        const auto it = s.handle_types.find(handle.handle_type);
        if (it == s.handle_types.end() || !it->second.importable) {
            add(e, "format_not_importable", true,
                std::string("device '") + device.info().name + "' cannot import a " + format_name(handle.texture_format) +
                    " texture as " + external_handle_type_name(handle.handle_type) +
                    (s.reason.empty() ? std::string() : ": " + s.reason),
                "share a format this device supports (python -m geyser info lists them)");
        } else if (it->second.dedicated_only && !handle.dedicated) {
            add(e, "dedicated_only_mismatch", true,
                std::string("device '") + device.info().name + "' imports " + format_name(handle.texture_format) +
                    " textures only as dedicated allocations, and this one was exported without one",
                "export it from a device that allocates it dedicated (both ends must agree)");
        }
    }
    return e;
}

Explanation explain(const Device& device, const DeviceInfo& other) {
    Explanation e;
    e.subject = "device '" + other.name + "'";
    explain_identity(device, other.device_uuid, other.driver_uuid, other.name, e);
    if (!(other.image_memory.exportable & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT)) {
        add(e, "handle_type_not_exportable", true,
            "device '" + other.name + "' cannot export texture memory as opaque_fd",
            "use a driver with VK_KHR_external_memory_fd there");
    }
    explain_memory_import(device, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, e);
    return e;
}

}  // namespace geyser
