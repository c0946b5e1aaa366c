// The producer side of a named sender (like Spout and Syphon, for Linux): a ring of shareable
// textures (or of buffers holding the tensors of a TensorLayout: a tensor stream) published under a name, subscribers accepted and served from a thread of the
// Sender's own, frames announced by number. The protocol is sender_protocol.hpp; the consumer
// side is subscriber.hpp; listing is sender_directory.hpp.
#pragma once

#include <chrono>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vulkan/vulkan_core.h>

#include "geyser/formats.hpp"
#include "geyser/sender_directory.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/subscriber.hpp"
#include "geyser/sync.hpp"
#include "geyser/tensor_layout.hpp"
#include "geyser/timeline.hpp"

namespace geyser {

class Buffer;
class Device;
namespace sender_session {
struct Greeted;
}
class PeerFeeder;
class Texture;

/// What a Sender does with a subscriber that holds a frame past options.release_timeout.
enum class StalledPolicy : uint8_t {
    /// Drop it: it is told why (SubscriptionDroppedError on its side) and its socket closes. In
    /// kLossless this happens when begin_frame needs the slot it holds; in kLatest as soon as
    /// the hold passes the timeout.
    kDrop = 1,
    /// kLatest only: leave it be; the producer writes around the slots it holds. Only if every
    /// slot the producer could write is held past the timeout is one holder dropped after all.
    kSkip = 2,
};

/// How a Sender is set up. Plain data.
struct SenderOptions {
    /// Textures in the ring, 1..64 (3..64 for kLatest). A subscriber may hold ring_size frames
    /// at once in kLossless (the producer waits meanwhile), ring_size - 2 in kLatest, where the
    /// producer never waits (SenderInfo::max_held).
    uint32_t ring_size = 3;
    /// Which frames reach subscribers (sender_protocol.hpp).
    DeliveryMode mode = DeliveryMode::kLossless;
    /// What happens to a subscriber that stops releasing.
    StalledPolicy stalled = StalledPolicy::kDrop;
    /// The timelines: Vulkan where the device can export them, portable otherwise, or forced.
    TimelineChoice sync = TimelineChoice::kAuto;
    /// How long a subscriber may hold a frame the producer needs (kLossless: measured from the
    /// begin_frame that needs it, unless begin_frame is given its own timeout; kLatest: from
    /// when it received the frame) before `stalled` applies.
    std::chrono::nanoseconds release_timeout = std::chrono::seconds(10);
    /// How long one handshake may take before the connection is dropped. Handshakes run
    /// concurrently (each with its own deadline), so a silent connection delays no other.
    std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(5);
    /// How long sending one handshake message (or a late joiner's first frame) to one subscriber
    /// may take, and how long close() waits for the GPU's ready signal of a frame ended with
    /// ReadySignal::kGpu before signalling it from the host (end_frame itself never waits).
    /// Frame announcements never wait: a subscriber whose socket queue is full (it has not read
    /// hundreds of messages) is dropped at once.
    std::chrono::nanoseconds send_timeout = std::chrono::seconds(2);
    /// Connections in their handshake at once, in all; more are refused (told why) until some finish.
    uint32_t max_pending_handshakes = 64;
    /// Connections in their handshake at once from one peer process (the kernel's pid for the
    /// socket, SO_PEERCRED); more from that process are refused, told why.
    uint32_t max_handshakes_per_peer = 4;
    /// Subscriptions one peer process may hold at once; its next subscribe is refused, told why
    /// (SubscriptionDroppedError on its side).
    uint32_t max_subscriptions_per_peer = 16;
    /// Peer-copy subscribers (a consumer on another GPU) get their frames through pinned host
    /// memory even where the two GPUs have peer access: for hosts whose peer access is reported
    /// but broken or slow, or to keep NVLink free for other work. Without peer access that is
    /// the path anyway. Subscriber::reason names the path either way ("host_staging: ...").
    bool peer_copy_host_staging = false;
};

/// Something that happened to a subscriber, for the producer's log (Sender::take_events).
struct SenderEvent {
    enum class Kind : uint8_t {
        kJoined = 1,   ///< A subscriber's handshake completed.
        kLeft = 2,     ///< Its process closed the connection (or died).
        kDropped = 3,  ///< The producer ended it; `message` says why (it was told the same).
        kStalled = 4,  ///< It holds a frame past the release timeout and is skipped (kSkip).
    };
    Kind kind = Kind::kJoined;
    uint32_t pid = 0;
    std::string client;
    std::string message;
};

/// Counters over a Sender's life.
struct SenderStats {
    uint64_t frames_published = 0;
    uint64_t subscribers_joined = 0;
    /// Subscribers the producer ended (stalled, broke the protocol, or could not take a frame).
    uint64_t subscribers_dropped = 0;
    /// Holds past the release timeout that kSkip left alone.
    uint64_t stalls_skipped = 0;
    /// Times accept() ran out of fds (EMFILE, ENFILE) and the listener was left alone a while.
    uint64_t accepts_deferred = 0;
    /// Frames downloaded into the copy ring for copy subscribers (once per frame, however many).
    uint64_t frames_copied = 0;
    /// Frames copied GPU to GPU for peer-copy subscribers (once per frame and destination GPU,
    /// however many subscribers are on it).
    uint64_t frames_peer_copied = 0;
    /// Queue submissions the Sender made on its device to signal subscribers' ready timelines
    /// (the relay of a ReadySignal::kGpu frame, or a kHost frame with many subscribers). A
    /// producer whose own GPU work signals the subscribers (Sender::ready_targets) needs none.
    uint64_t ready_submissions = 0;
};

/// Who signals a frame's ready timeline when end_frame() announces it.
enum class ReadySignal : uint8_t {
    /// The writes have completed: end_frame signals the ready timeline from the host.
    kHost = 1,
    /// The caller's own GPU submission signals frame.ready_semaphore to frame.number (Vulkan
    /// timelines only), submitted before end_frame, or after it from a CUDA stream or another
    /// queue than the Sender's device's (a timeline may be waited on before it is signalled, but
    /// end_frame's own submission waits on it in the device's queue, ahead of anything submitted
    /// there later). end_frame does not wait for it: a queue submission of its own waits on that
    /// signal and then signals every subscriber's timeline, and the frame is announced at once.
    kGpu = 2,
};

/// Publishes a ring of textures under a name. Created by Sender::create; the destructor closes
/// it. Thread-safety: begin_frame/end_frame/publish from one thread at a time; frame(),
/// subscribers(), info(), stats(), take_events(), wait_for_subscribers() from any thread; the
/// service thread (accepting subscribers, reading their releases) runs on its own. Every wait is
/// interruptible (interrupt.hpp).
///
/// fork(): in a child of the publishing process every operation throws UnsupportedOperationError
/// naming fork(), and closing (or destroying) the inherited Sender there sends nothing to the
/// parent's subscribers, leaves the parent's timelines and socket alone, and does not touch the
/// parent's service thread.
class Sender {
public:
    /// One frame being written: what begin_frame() gives and end_frame() publishes.
    struct Frame {
        uint64_t number = 0;  ///< From 1.
        uint32_t slot = 0;
        /// The slot's texture (null for a tensor stream).
        std::shared_ptr<Texture> texture;
        /// A tensor stream's slot: one buffer of tensor_layout->size() bytes holding every
        /// tensor, tensor i at tensor_layout->offset(i) (both null for a texture ring). The
        /// layout is the Sender's own (Sender::layout()), valid while it lives.
        std::shared_ptr<Buffer> buffer;
        const TensorLayout* tensor_layout = nullptr;
        /// The layout to leave the image in, released to VK_QUEUE_FAMILY_EXTERNAL: what
        /// Texture::end_access does (texture->external_layout()).
        VkImageLayout layout = VK_IMAGE_LAYOUT_GENERAL;
        /// The ready timeline subscribers wait on for `number`.
        Timeline* ready = nullptr;
        /// For ReadySignal::kGpu: the VkSemaphore to signal to `number` in your submission
        /// (ready->semaphore()); null for portable timelines, which only the host signals.
        VkSemaphore ready_semaphore = VK_NULL_HANDLE;
    };

    /// The zero-copy subscribers' own ready timelines that a frame reaches, for a producer whose
    /// own GPU work signals them as well as ready() (Sender::ready_targets). Holds them alive.
    struct ReadyTargets {
        uint64_t number = 0;  ///< The frame they are for.
        std::vector<std::shared_ptr<Timeline>> timelines;
        /// For each timeline, a value your work must wait for on it before signalling it (a
        /// signal of the Sender's own for an earlier frame, still waiting in the device's queue),
        /// or 0 for none: so that the two land in order.
        std::vector<uint64_t> after;
    };

    /// Publishes `name` on `device`: creates the ring and the ready timeline, binds
    /// runtime_dir()/<name>.sock and starts accepting subscribers. Throws InvalidArgumentError
    /// for a bad name or options, UnsupportedFormatError when the descriptor cannot be shared on
    /// this device, OsError(EADDRINUSE) when another producer publishes that name. Nothing is
    /// left behind on failure.
    static std::unique_ptr<Sender> create(const std::shared_ptr<Device>& device, const std::string& name,
                                          const TextureDescriptor& descriptor, const SenderOptions& options = {});
    /// A tensor stream: publishes `name` with a ring of options.ring_size shareable buffers,
    /// each layout.size() bytes holding the tensors of `layout` (which must have at least one:
    /// InvalidArgumentError otherwise). Everything else is as for textures: the same delivery
    /// modes, late joiners, release rules and errors; subscribers get SenderInfo::payload ==
    /// ResourceKind::kBuffer and the layout.
    static std::unique_ptr<Sender> create(const std::shared_ptr<Device>& device, const std::string& name,
                                          const TensorLayout& layout, const SenderOptions& options = {});
    /// close().
    ~Sender();
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    /// The next frame's slot. kLossless: once every subscriber has released the frame that was
    /// in it; a subscriber still holding it after `timeout` (options.release_timeout if
    /// kDefault) is dropped. kLatest: a slot holding neither the newest frame nor a held one, at
    /// once (it waits only when subscribers together hold every other slot). Either way the
    /// slot is not written before every peer copy from it has read it; a GPU whose copy has not
    /// by then (at least options.send_timeout) is taken out of service: its peer-copy
    /// subscribers are dropped, told why, and later ones there take the copy path. Throws
    /// InvalidArgumentError when a frame was begun and not ended, InvalidHandleError after
    /// close().
    Frame begin_frame(std::chrono::nanoseconds timeout = kDefault);
    /// Announces `frame` to every subscriber. Each subscriber has a ready timeline of its own
    /// (what it does to it reaches no other); ready() is the producer's, never exported. For
    /// every subscriber alike, its timeline reaches frame.number once ready() has, and its frame
    /// message may arrive first: Subscriber::next_frame waits for the ready point.
    ///
    /// With ReadySignal::kHost the frame's writes must have completed: ready() is signalled
    /// here. With kGpu the caller's submission signals it (InvalidArgumentError for a portable
    /// timeline) and nothing waits on the host. All of a frame's subscribers are signalled in one
    /// step, before any message is sent: Vulkan timelines by ONE queue submission that waits on
    /// (ready(), frame.number) and signals each of them (ordered after the work submitted to the
    /// device's queue before it), portable ones on the host in one pass.
    ///
    /// A kGpu frame whose GPU signal never comes is announced all the same: a subscriber's
    /// next_frame times out (TimeoutError, the frame still its next one), or with ReadyWait::kGpu
    /// its own GPU work waits. The forwarding submission waits too, and holds up later work on the
    /// device's queue; close() signals ready() from the host after options.send_timeout, so that
    /// the queue can drain.
    ///
    /// Peer-copy subscribers (on another GPU, subscriber.hpp): the frame is copied once per
    /// destination GPU by CUDA, the copy enqueued here ordered on the GPU after ready() reaches
    /// frame.number (kHost and kGpu alike: nothing waits on the host), and their own timelines
    /// signalled by that GPU's queue once it has landed. begin_frame does not hand out a slot
    /// again before the last copy from it has read it (polled, bounded by its timeout and at least
    /// options.send_timeout: TimeoutError otherwise). A GPU whose copy fails has its subscribers
    /// dropped, told why; the frame goes on for the others.
    ///
    /// A subscriber whose timeline is unusable (past the frame, abandoned) or whose socket queue
    /// cannot take the message is dropped at once: nothing here waits on a subscriber. Throws
    /// VulkanError when the submission fails, the frame still pending and nothing announced.
    void end_frame(const Frame& frame, ReadySignal ready = ReadySignal::kHost);
    /// For a producer whose own GPU work signals the subscribers' timelines itself, so that a
    /// frame reaches them with no queue submission of the Sender's in between (one GPU context
    /// fewer on the way: geyser/cuda_frames.hpp's CudaSender signals them from the CUDA stream
    /// that wrote the frame). Fills `out` with the own ready timeline of every zero-copy
    /// subscriber that `frame` (the one pending) goes to: Vulkan timelines of device(), each below
    /// frame.number. Then call end_frame(frame, out), and have your GPU work signal each of them
    /// to frame.number, then ready() after them (what the Sender goes by for late joiners, the
    /// copy and peer-copy paths and close()), before end_frame or after it: a timeline may be
    /// waited on before it is signalled, and announcing first lets subscribers wake meanwhile.
    /// After it only from a CUDA stream (or another queue than device()'s): end_frame's relay of
    /// the subscribers not listed waits on ready() in device()'s queue, and would hold up a later
    /// submission of yours there for good.
    ///
    /// A subscriber whose timeline is already past frame.number was written by the subscriber
    /// itself and is dropped here, told why, as end_frame would; one at frame.number is left out
    /// (end_frame's rule). One that a signal of the Sender's own for an earlier frame has not
    /// reached yet (a late joiner's first frame, relayed by a submission still waiting in the
    /// device's queue) is listed with that frame in `after`: wait for it there before signalling,
    /// so that the two land in order. Nothing of the Sender's
    /// signals a listed timeline after this call (joiners and frame requests arriving meanwhile
    /// are not listed, and end_frame signals those itself). Frames whose signals come from
    /// different streams or queues must reach the GPU's signals in frame order, as ready()'s
    /// own must (a timeline only goes forward). `out` is empty for
    /// a portable ready timeline, and holds the timelines alive: keep it until the work that
    /// signals them has completed (a VkSemaphore must outlive the submissions that use it).
    /// Throws InvalidArgumentError unless `frame` is the one pending, InvalidHandleError after
    /// close().
    void ready_targets(const Frame& frame, ReadyTargets& out);
    /// end_frame(frame, ReadySignal::kGpu) where the caller's GPU work signals ready() and every
    /// timeline in `signalled` (ready_targets' list for this frame, or the part of it the caller
    /// will signal) to frame.number, before this call or after it (ready_targets says from
    /// where). The Sender's own submission
    /// signals only the subscribers the frame goes to that are not in `signalled`, and a failure
    /// of that submission drops them (told why) rather than throw: the frame is on its way to the
    /// others. A frame whose signal never comes is treated as a kGpu one's: close() waits up to
    /// options.send_timeout for ready() to reach it, then signals ready() from the host, gives
    /// the relays waiting on it up to send_timeout again, and signals the subscribers it was
    /// announced to (GPU signals made after that are out of order, on timelines nobody reads).
    /// Throws InvalidArgumentError when `signalled` is another frame's, and end_frame's errors
    /// before anything is announced.
    void end_frame(const Frame& frame, const ReadyTargets& signalled);
    /// For a caller whose own signal of `targets` failed after end_frame(frame, targets)
    /// announced them: the Sender's queue signals each one still subscribed, announced that frame
    /// with the caller to signal it, and still below it, to targets.number once ready() has
    /// reached it (ready() must still be signalled, by the host or the GPU, or the relay holds up
    /// the device's queue until close()). The others are left alone. A subscriber whose timeline
    /// cannot be signalled is dropped, told why. InvalidArgumentError for a frame not yet
    /// announced.
    void relay_ready(const ReadyTargets& targets);
    /// Forgets a frame begun and not ended (its slot is written again next time).
    void abandon_frame(const Frame& frame);
    /// begin_frame, upload `size` bytes of `aspect` (exactly texture->host_size(aspect)) with
    /// the ready timeline signalled after the copy, end_frame. Returns the frame number.
    uint64_t publish(VkImageAspectFlagBits aspect, const void* data, size_t size, std::chrono::nanoseconds timeout = kDefault);
    /// A tensor stream's publish: begin_frame, write `size` bytes (exactly layout().size(): the
    /// whole slot, each tensor at its offset) into the slot's buffer, end_frame. Returns the frame
    /// number. InvalidArgumentError on a size mismatch or for a texture sender (whose publish
    /// takes an aspect), and the texture publish refuses a tensor stream the same way.
    uint64_t publish(const void* data, size_t size, std::chrono::nanoseconds timeout = kDefault);

    /// Stops publishing: each subscriber gets Goodbye (its next wait raises PeerGoneError), the
    /// ready timelines are marked abandoned, pending handshakes are closed, the service thread stops and the socket goes. Not
    /// interruptible; idempotent. A frame whose GPU signal has not come gets up to
    /// options.send_timeout for it, and the relays waiting on it as long again, before the host
    /// signals it (end_frame), and a download under way for copy subscribers up to send_timeout
    /// too; so close() takes up to about three times send_timeout, plus half a second for the
    /// Goodbyes, longer only for a device that does not finish its work.
    void close();
    bool closed() const noexcept { return closed_.load(); }

    const std::string& name() const noexcept { return name_; }
    const TextureDescriptor& descriptor() const noexcept { return descriptor_; }
    const std::shared_ptr<Device>& device() const noexcept { return device_; }
    /// What the ring holds: kTexture, or kBuffer for a tensor stream.
    ResourceKind payload() const noexcept { return layout_.empty() ? ResourceKind::kTexture : ResourceKind::kBuffer; }
    /// The ring's textures (empty for a tensor stream).
    const std::vector<std::shared_ptr<Texture>>& ring() const noexcept { return ring_; }
    /// A tensor stream's ring of buffers (empty for a texture ring) and its layout (empty then).
    const std::vector<std::shared_ptr<Buffer>>& buffers() const noexcept { return buffers_; }
    const TensorLayout& layout() const noexcept { return layout_; }
    const std::shared_ptr<Timeline>& ready() const noexcept { return ready_; }
    /// The last frame published (0 before the first).
    uint64_t frame() const noexcept { return frame_.load(); }
    /// The frame begun and not yet ended or abandoned (0 if none). From the thread that calls
    /// begin_frame/end_frame, as they are (geyser/cuda_frames.hpp checks a frame before its stream
    /// signals the ready timeline).
    uint64_t pending() const noexcept { return pending_; }
    /// Subscribers connected now (the ones whose process has gone are reaped within 100 ms).
    size_t subscribers() const;
    /// Returns once at least `count` subscribers are connected. TimeoutError after `timeout`,
    /// InvalidHandleError when the sender is (or gets) closed.
    void wait_for_subscribers(size_t count, std::chrono::nanoseconds timeout) const;
    /// What query_sender reports for this sender now.
    SenderInfo info() const;
    DeliveryMode mode() const noexcept { return options_.mode; }
    SenderStats stats() const;
    /// The events since the last call, oldest first (at most 1024 are kept; older ones go).
    std::vector<SenderEvent> take_events();

    /// Use the options' timeout.
    static constexpr std::chrono::nanoseconds kDefault = std::chrono::nanoseconds::max() - std::chrono::nanoseconds(1);

private:
    struct State;
    Sender(std::shared_ptr<Device> device, std::string name, TextureDescriptor descriptor, TensorLayout layout,
           SenderOptions options);
    // What both create()s check before anything is made, and how both start once the ring is.
    static void check_create(const std::shared_ptr<Device>& device, const std::string& name, const SenderOptions& options);
    void start();
    // begin_frame, `write` (the host's copy into the slot, complete when it returns), end_frame;
    // the frame is forgotten if `write` throws.
    uint64_t publish_frame(std::chrono::nanoseconds timeout, const std::function<void(const Frame&)>& write);
    void require_open(const char* what) const;
    void serve();
    // `refusal`: why peer copy cannot be had, when the feeder builder said so for this handshake.
    void handshake(Channel channel, const Message& hello, uint32_t peer_pid, uint64_t deadline,
                   const std::string& refusal = {});
    // The peer feeder made for `gpu`, or null with `why` peer copy is not possible there (empty
    // when it was never asked for, or is being made).
    PeerFeeder* peer_feeder(const Uuid& gpu, std::string& why);
    // The GPU whose feeder `hello` needs and that has none yet, nor a refusal.
    std::optional<Uuid> feeder_wanted(const Message& hello) const;
    // The builder thread's: makes the feeder for `gpu` (without the lock) and records it, or why
    // not (returned).
    std::string make_feeder(const Uuid& gpu);
    void build_feeders();  // the builder thread
    // The service thread's: asks for `gpu`'s feeder and parks the handshake until it is there.
    void park(const Uuid& gpu, sender_session::Greeted greeted);
    // The service thread's: goes on with the parked handshakes whose feeder is made or refused,
    // or that waited half their handshake timeout (then on the copy path).
    void resume_parked();
    SenderInfo info_locked() const;  // caller holds the state's mutex
    void end_frame_as(const Frame& frame, ReadySignal ready, const ReadyTargets* signalled);

    std::shared_ptr<Device> device_;
    std::string name_;
    TextureDescriptor descriptor_;
    SenderOptions options_;
    std::vector<std::shared_ptr<Texture>> ring_;
    TensorLayout layout_;
    std::vector<std::shared_ptr<Buffer>> buffers_;
    std::shared_ptr<Timeline> ready_;
    std::atomic<uint64_t> frame_{0};
    std::atomic<bool> closed_{false};
    uint64_t pending_ = 0;  // the frame begun and not ended, 0 if none
    std::unique_ptr<State> state_;  // the listener, the subscriptions, the service thread
};

}  // namespace geyser
