// The consumer side of a named sender: subscribe by name, import the ring once, then receive
// frames by number and release them (the protocol: sender_protocol.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "geyser/channel.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"

namespace geyser {

class Buffer;
class CopyUploader;
struct Explanation;
class Device;
class Texture;

/// Whether a Subscriber may take the copy path (explain.hpp decides whether zero-copy can work).
enum class ZeroCopy : uint8_t {
    /// Zero-copy where this device can import the ring; where it is another GPU than the
    /// producer's, peer-copy delivery if the producer can; else the copy path
    /// (Subscriber::path and reason() say which, and why).
    kAuto = 1,
    /// Zero-copy or nothing: DeviceMismatchError with the reasons when it cannot work, before any
    /// of the producer's fds is imported.
    kRequire = 2,
    /// The copy path even where zero-copy would work (benchmarks, tests, a consumer that wants
    /// its own copy of each frame).
    kNever = 3,
};

/// Where Subscriber::next_frame waits for a frame's ready timeline to reach its number.
enum class ReadyWait : uint8_t {
    /// On the host, before next_frame returns: the producer's writes have completed by then.
    kHost = 1,
    /// Not at all: next_frame returns once the frame is announced, and the caller orders its reads
    /// after Frame::ready() on the GPU (a SubmitSync wait, or glWaitSemaphoreEXT on the timeline
    /// imported into GL: geyser/gl.hpp). Vulkan ready timelines only; a portable one lives in
    /// host memory that no GPU waits on.
    kGpu = 2,
};

/// One subscription to a named sender: the ring imported once, then frame numbers only. The same
/// calls serve both delivery modes (info().mode). Not thread-safe; use one Subscriber per
/// thread. Every wait is interruptible (interrupt.hpp).
class Subscriber {
public:
    /// One frame received and held: its slot is not written again until it is released, by
    /// release() or by the Frame's destruction (whichever comes first). Move-only. A Frame may
    /// outlive its Subscriber (it then releases nothing: the subscription has ended).
    class Frame {
    public:
        Frame() = default;
        Frame(Frame&& other) noexcept;
        Frame& operator=(Frame&& other) noexcept;
        Frame(const Frame&) = delete;
        Frame& operator=(const Frame&) = delete;
        /// Releases the frame if it is still held (errors are swallowed: a destructor must not
        /// throw, and a producer that has gone needs no release).
        ~Frame();

        uint64_t number() const noexcept { return number_; }
        uint32_t slot() const noexcept { return slot_; }
        /// What is left to wait for before reading: kHost, nothing (next_frame waited on the host,
        /// or the producer flagged the frame complete when it sent it: a host-signalled frame, a
        /// copy subscriber's, a GPU-signalled one whose signal had landed; even with
        /// ReadyWait::kGpu asked); kGpu, the frame's ready point, on the GPU.
        ReadyWait ready_wait() const noexcept { return ready_wait_; }
        /// The frame's ready point: the Subscriber's ready timeline at number(). When ready_wait()
        /// is kGpu, wait for it on the GPU before reading (SubmitSync's wait). When it is kHost the
        /// frame may be read now; a flagged frame's point is signalled just after its message, so
        /// waiting on it then costs a moment and orders nothing more. Kept alive by the Frame.
        SyncPoint ready() const noexcept { return SyncPoint(ready_.get(), number_); }
        /// The ring texture holding the frame. InvalidHandleError once the frame is released:
        /// the producer may be writing that slot again; UnsupportedOperationError for a tensor
        /// stream's frame (buffer()).
        const std::shared_ptr<Texture>& texture() const;
        /// A tensor stream's frame: the ring buffer holding it, its tensors placed as
        /// info().layout says. The same errors as texture() (UnsupportedOperationError for a
        /// texture frame).
        const std::shared_ptr<Buffer>& buffer() const;
        /// Whether it was released (by either release()) or its Subscriber has gone.
        bool released() const noexcept;
        /// Tells the producer this subscriber is done with the frame. InvalidArgumentError when
        /// it was released already; otherwise as Subscriber::release.
        void release();

    private:
        friend class Subscriber;
        void require_held() const;  // InvalidHandleError once released
        std::weak_ptr<Subscriber*> owner_;
        uint64_t number_ = 0;
        uint32_t slot_ = 0;
        std::shared_ptr<Texture> texture_;
        std::shared_ptr<Buffer> buffer_;
        std::shared_ptr<Timeline> ready_;
        ReadyWait ready_wait_ = ReadyWait::kHost;
    };

    /// Connects to `name` on `device` and imports the ring and the ready timeline. Where `device`
    /// cannot import the producer's ring (explain(device, info): another device or driver, a
    /// format it cannot import, a fork() child, GEYSER_TEST_FORCE_DEVICE_MISMATCH), `zero_copy`
    /// decides: kAuto takes the copy path (path() is kCopy, reason() says why: the frames come
    /// through a shared-memory ring the producer fills once per frame, uploaded into a ring of
    /// this device's own textures when next_frame takes them, with a portable ready timeline);
    /// kRequire throws DeviceMismatchError with the reasons before importing anything.
    /// Where the one reason is another GPU (explain: device_uuid_mismatch; or the test-only
    /// GEYSER_TEST_PEER_COPY_SAME_DEVICE, peer_copy_same_device_forced), kAuto first asks the
    /// producer for peer-copy delivery (path() kPeerCopy: the producer copies each frame GPU to
    /// GPU with CUDA into a ring it keeps on this device's GPU, which is imported here zero-copy,
    /// with a Vulkan ready timeline of this GPU of this subscriber's own; reason() says how); a
    /// producer that cannot says why, and the copy path follows (reason() ends with that answer).
    /// A PeerAnswer that is malformed or not followed by what it promises is a ProtocolError.
    /// The producer's set-up for a GPU's first peer-copy subscriber (a device, CUDA, a ring there)
    /// takes part of `timeout`. A SenderInfo whose texture_format
    /// tag contradicts its vk_format (format_tag_mismatch), or a ring texture whose extent,
    /// VkFormat or tag differs from the SenderInfo, is a ProtocolError: the sender broke its own
    /// description. So is a SenderInfo that is not the socket's own (check_sender_identity:
    /// another name, or a pid other than the listener's). Each ring handle is then checked
    /// again by Device::import_texture. A tensor stream (info().payload == kBuffer) is checked
    /// the same way: each ring handle must be a buffer of exactly info().layout.size() bytes
    /// (ProtocolError otherwise), then Device::import_buffer checks it.
    static std::unique_ptr<Subscriber> connect(const std::shared_ptr<Device>& device, const std::string& name,
                                               std::chrono::nanoseconds timeout, const std::string& client = {},
                                               ZeroCopy zero_copy = ZeroCopy::kAuto);
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    const SenderInfo& info() const noexcept { return info_; }
    /// How the frames reach this subscriber: kZeroCopy (ring() is the producer's memory), kCopy
    /// (ring() is this device's own textures, each frame uploaded into its slot by next_frame) or
    /// kPeerCopy (ring() is the producer's ring on this device's GPU, each frame copied there by
    /// the producer before its ready timeline reaches it).
    SharePath path() const noexcept { return path_; }
    /// Why the path is kCopy (explain's blocking reasons, with their fixes, and for a refused peer
    /// copy the producer's answer), or how frames come for kPeerCopy; empty for kZeroCopy.
    const std::string& reason() const noexcept { return reason_; }
    /// The ring's textures (empty for a tensor stream). kZeroCopy: the producer's textures as
    /// imported. kCopy: textures of this device, one per slot; a frame's slot is written when
    /// next_frame returns it.
    const std::vector<std::shared_ptr<Texture>>& ring() const noexcept { return ring_; }
    /// A tensor stream's ring of buffers (empty for a texture ring); info().layout places the
    /// tensors in each.
    const std::vector<std::shared_ptr<Buffer>>& buffers() const noexcept { return buffers_; }
    /// The ring's handles as the sender sent them (kCopy: exports of this device's ring), each
    /// still owning its fd: an imported texture cannot be exported again, so another API's
    /// import of the ring (geyser/gl.hpp) imports a
    /// duplicate of these. Valid for the Subscriber's lifetime.
    const std::vector<MemoryHandle>& ring_handles() const noexcept { return ring_handles_; }
    /// The ready timeline's handle as sent (owning its fd), for the same reason.
    const TimelineHandle& ready_handle() const noexcept { return ready_handle_; }
    /// The ready timeline as imported: the producer signals it to each frame's number.
    const std::shared_ptr<Timeline>& ready() const noexcept { return ready_; }

    /// The next frame once it is ready: kLossless, the next in order; kLatest, the newest one
    /// newer than the last received (at once when there is one, such as the current frame for a
    /// new subscriber). Throws UnsupportedOperationError at once when this subscriber already
    /// holds info().max_held frames; TimeoutError after `timeout` (a frame announced but not
    /// ready by then is the one the next call returns); PeerGoneError when the producer has gone;
    /// SubscriptionDroppedError when the producer ended this subscription (its reason in the
    /// message). A frame number that is not above the last one announced is a ProtocolError, and
    /// so is every later call: the producer is broken. UnsupportedOperationError in a fork() child of the subscribing process (so is
    /// release). `wait`: ReadyWait::kHost waits for the frame's ready signal on the host (within
    /// `timeout`); kGpu returns the frame once announced, for the caller to wait on
    /// Frame::ready() on the GPU (UnsupportedOperationError at once when the ready timeline is
    /// portable). A GPU wait trusts the producer to signal the frame: only the caller's own
    /// bounded host wait, such as a fence before release, notices one that never does.
    Frame next_frame(std::chrono::nanoseconds timeout, ReadyWait wait = ReadyWait::kHost);
    /// Releases frame `number`, which this subscriber must hold (InvalidArgumentError
    /// otherwise). Frames may be released in any order. After the producer has gone there is
    /// nothing to tell it, and the frame is simply forgotten.
    void release(uint64_t number);
    /// The frames held now, by number.
    std::vector<uint64_t> held() const;
    /// Frames published that this subscriber never received (kLatest: those it was too slow
    /// for), counted from its first frame.
    uint64_t frames_dropped() const noexcept { return frames_dropped_; }

    /// For event loops: a socket (borrowed; do not read it or close it) that is readable when
    /// next_frame has a message to take. In kLatest the producer sends a frame only when asked,
    /// so call request_frame() before waiting on it (next_frame asks by itself).
    int native_handle() const noexcept { return channel_.native_handle(); }
    /// kLatest: asks the producer for the next frame newer than the last received, unless this
    /// subscriber asked already. kLossless: does nothing (every frame comes unasked).
    void request_frame();

private:
    Subscriber(Channel channel, std::shared_ptr<Device> device);
    // The copy path's handshake, on a new connection (ipc/subscriber_copy.cpp): resubscribe, then
    // take_copy_ring.
    void subscribe_copy(const std::string& name, uint64_t deadline, const std::string& client);
    // Closes the first connection unread and says Hello again with `path` (and `device_uuid` for
    // kPeerCopy); ProtocolError when the second SenderInfo is not the first's sender.
    void resubscribe(const std::string& name, uint64_t deadline, const std::string& client, SharePath path,
                     const Uuid& device_uuid);
    // The copy ring and the portable ready timeline (after a copy Hello, or a refused peer copy).
    void take_copy_ring(uint64_t deadline);
    // Peer-copy delivery (ipc/subscriber_peer.cpp): asks the producer to copy frames onto this
    // device's GPU; takes the copy path when it answers that it cannot. `why`: explain's answer.
    void subscribe_peer(const std::string& name, uint64_t deadline, const std::string& client, const Explanation& why);
    // The ring's handles, imported on this device (zero-copy, and peer-copy's ring on this GPU).
    void import_ring(uint64_t deadline);
    // The ready timeline's announcement, which must be of `kind` (ProtocolError naming `what`).
    void import_ready(uint64_t deadline, TimelineKind kind, const char* what);
    [[noreturn]] void throw_gone() const;
    // ReadyWait::kHost: waits until `deadline` for the announced frame's ready signal.
    void wait_ready(uint64_t deadline);

    Channel channel_;
    // In a fork() child the subscription is the parent's: next_frame and release refuse before
    // touching the shared socket or timelines (Device::inherited_across_fork).
    std::shared_ptr<Device> device_;
    SenderInfo info_;
    SharePath path_ = SharePath::kZeroCopy;
    std::string reason_;
    std::unique_ptr<CopyUploader> copy_;  // kCopy only
    std::vector<std::shared_ptr<Texture>> ring_;
    std::vector<std::shared_ptr<Buffer>> buffers_;
    std::vector<MemoryHandle> ring_handles_;
    TimelineHandle ready_handle_;
    std::shared_ptr<Timeline> ready_;
    // Why the subscription ended (empty while it goes on), and whether the producer dropped it.
    std::string gone_;
    bool dropped_ = false;
    bool requested_ = false;  // kLatest: a FrameRequest is outstanding
    uint64_t last_ = 0;       // the newest frame received
    uint64_t frames_dropped_ = 0;
    std::map<uint64_t, uint32_t> held_;  // frame number -> slot
    std::string broken_;  // why the producer is broken, once it is
    // The frame announced whose ready wait timed out: next_frame returns it before reading on.
    std::optional<FrameMessage> announced_;
    // What Frames point back through; reset by the destructor, so a Frame that outlives its
    // Subscriber knows it.
    std::shared_ptr<Subscriber*> self_;
};

}  // namespace geyser
