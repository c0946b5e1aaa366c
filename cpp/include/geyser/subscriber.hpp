// The consumer side of a named sender: subscribe by name, import the ring once, then receive
// frame numbers (the protocol: sender_protocol.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "geyser/channel.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/timeline.hpp"

namespace geyser {

class Device;
class Texture;

/// One subscription to a named sender: the ring imported once, then frame numbers only.
/// Not thread-safe; use one Subscriber per thread.
class Subscriber {
public:
    struct Frame {
        uint64_t number = 0;
        uint32_t slot = 0;
        std::shared_ptr<Texture> texture;
    };

    /// Connects to `name` on `device` (which must be the producer's device: DeviceMismatchError
    /// otherwise) and imports the ring and both timelines. A SenderInfo whose texture_format tag
    /// contradicts its vk_format (format_tag_mismatch), or a ring texture whose extent, VkFormat
    /// or tag differs from the SenderInfo, is a ProtocolError: the sender broke its own
    /// description. So is a SenderInfo that is not the socket's own (check_sender_identity:
    /// another name, or a pid other than the listener's). Each ring handle is then checked
    /// again by Device::import_texture.
    static std::unique_ptr<Subscriber> connect(const std::shared_ptr<Device>& device, const std::string& name,
                                               uint64_t timeout_ns, const std::string& client = {});
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    const SenderInfo& info() const noexcept { return info_; }
    const std::vector<std::shared_ptr<Texture>>& ring() const noexcept { return ring_; }
    /// The ring's handles as the sender sent them, each still owning its fd: an imported texture
    /// cannot be exported again, so another API's import of the ring (geyser/gl.hpp) imports a
    /// duplicate of these. Valid for the Subscriber's lifetime.
    const std::vector<MemoryHandle>& ring_handles() const noexcept { return ring_handles_; }
    /// The ready timeline's handle as sent (owning its fd), for the same reason.
    const TimelineHandle& ready_handle() const noexcept { return ready_handle_; }

    /// The next frame, in order: waits for its Frame message and for the ready timeline to reach
    /// it. TimeoutError after `timeout_ns`; a frame announced but not ready by then is the one
    /// the next call returns. PeerGoneError when the producer has gone. A frame number that
    /// is not above the last one announced is a ProtocolError, and so is every later call: the
    /// producer is broken.
    /// UnsupportedOperationError in a fork() child of the subscribing process (so is release).
    Frame next_frame(uint64_t timeout_ns);
    /// Tells the producer this subscriber is done with `frame` (and every earlier one): signals
    /// the released timeline. A frame at or below one already released changes nothing, so
    /// frames may be released in any order.
    void release(uint64_t frame);

private:
    Subscriber(Channel channel, std::shared_ptr<Device> device);

    Channel channel_;
    // In a fork() child the subscription is the parent's: next_frame and release refuse before
    // touching the shared socket or timelines (Device::inherited_across_fork).
    std::shared_ptr<Device> device_;
    SenderInfo info_;
    std::vector<std::shared_ptr<Texture>> ring_;
    std::vector<MemoryHandle> ring_handles_;
    TimelineHandle ready_handle_;
    std::shared_ptr<Timeline> ready_;
    std::shared_ptr<Timeline> released_;  // signalled by this subscriber alone
    bool gone_ = false;
    uint64_t last_number_ = 0;  // the last frame number announced; each must be larger
    std::string broken_;        // why the producer is broken, once it is
    // The frame announced whose ready wait timed out: next_frame returns it before reading on.
    std::optional<FrameMessage> announced_;
};

}  // namespace geyser
