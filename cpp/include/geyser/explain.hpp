// Why two processes do (or do not) share memory zero-copy: the decision a Subscriber takes before
// it imports anything, and what `python -m geyser doctor` prints. Nothing here calls a driver
// with a peer's fd; it reads descriptions (SenderInfo, MemoryHandle, DeviceInfo) and asks this
// process's device what it supports.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "geyser/device.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender_protocol.hpp"

namespace geyser {

/// One reason, with a stable code (the `code` strings below are part of the API: scripts match
/// them in `doctor --json`). Plain data.
struct ExplainReason {
    /// Stable: "device_uuid_mismatch", "driver_uuid_mismatch", "handle_type_not_importable",
    /// "handle_type_not_exportable", "format_not_importable", "dedicated_only_mismatch", "forked_child",
    /// "forced_device_mismatch" (the test-only switch), "portable_timeline" (not blocking),
    /// "cuda_unavailable", "cuda_not_visible", "cuda_device" (not blocking: which CUDA device),
    /// "peer_copy_request" (not blocking: a Subscriber will ask the producer for peer-copy
    /// delivery), "peer_copy" (not blocking, explain_peer_copy: how a producer here would copy).
    std::string code;
    /// Whether it rules zero-copy out (false: a note, such as the portable timeline in use).
    bool blocking = true;
    /// One short sentence saying what was found.
    std::string message;
    /// What to do about it; empty where nothing can be done.
    std::string fix;
};

/// The answer for one pair. Plain data.
struct Explanation {
    /// What was asked about ("sender 'cam'", "handle of a 1920x1080 texture", "device 'NVIDIA
    /// H200'").
    std::string subject;
    std::vector<ExplainReason> reasons;
    /// CUDA only (explain_cuda): the CUDA ordinal of the device with this Vulkan device's UUID.
    std::optional<int> cuda_ordinal;

    /// No blocking reason.
    bool zero_copy() const noexcept;
    SharePath path() const noexcept { return zero_copy() ? SharePath::kZeroCopy : SharePath::kCopy; }
    /// The blocking reasons' messages, each followed by its fix, in one paragraph ("" when none).
    std::string summary() const;
};

/// Test-only: whether GEYSER_TEST_FORCE_DEVICE_MISMATCH is set to 1 (read on every call). Then
/// every explain() of a sender or handle reports "forced_device_mismatch", so a single-device
/// machine (CI's lavapipe) takes the decisions a consumer on another device takes. Never set it
/// in production.
bool device_mismatch_forced() noexcept;

/// Test-only: whether GEYSER_TEST_PEER_COPY_SAME_DEVICE is set to 1 (read on every call). Then a
/// Subscriber whose device is the producer's own GPU asks for peer-copy delivery all the same, so
/// that the whole path (the producer's copy engine on a second VkDevice of that GPU, PeerCopy's
/// same_device copy) runs on a machine with one GPU. Never set it in production.
bool peer_copy_same_device_forced() noexcept;

/// Whether a Subscriber with this answer (explain(device, info)) asks the producer for peer-copy
/// delivery: the one blocking reason is another GPU (device_uuid_mismatch), or there is none and
/// peer_copy_same_device_forced().
bool peer_copy_may_help(const Explanation& e) noexcept;

/// Whether a producer on the GPU `producer` describes could deliver frames to `consumer` by peer
/// copy, as far as this process can tell: CUDA usable here and both GPUs CUDA devices here
/// (blocking reasons otherwise), and a "peer_copy" note naming the path (same_device, peer or
/// host_staging, from cuDeviceCanAccessPeer). The producer's own process decides for real.
/// Loads libcuda once; never throws.
Explanation explain_peer_copy(const Device& consumer, const DeviceInfo& producer);

/// Whether `device` (this process's) can import the ring of the sender `info` describes.
/// Never throws for a well-formed info.
Explanation explain(const Device& device, const SenderInfo& info);
/// Whether `device` can import `handle` (its fd is not touched).
Explanation explain(const Device& device, const MemoryHandle& handle);
/// Whether memory exported by the device `other` describes can be imported on `device`.
Explanation explain(const Device& device, const DeviceInfo& other);
/// Which CUDA device is `device`'s GPU (cuda_ordinal), or why none is: no driver, or no visible
/// CUDA device with its UUID (CUDA_VISIBLE_DEVICES named). Loads libcuda once; never throws.
Explanation explain_cuda(const Device& device);

}  // namespace geyser
