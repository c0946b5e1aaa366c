#include "geyser/sender.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "geyser/channel.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"
#include "geyser/memory.hpp"
#include "geyser/wire.hpp"
#include "fault.hpp"
#include "ipc/copy_feeder.hpp"
#include "ipc/copy_jobs.hpp"
#include "ipc/peer_feeder.hpp"
#include "ipc/sender_handshakes.hpp"
#include "ipc/sender_ring_guard.hpp"
#include "ipc/sender_session.hpp"
#include "sync/timeline_fanout.hpp"
#include "../timeout.hpp"

namespace geyser {

using namespace sender_session;

namespace {

// How often the service thread wakes to notice close() and stalled subscribers.
constexpr uint64_t kServiceSliceNs = 100'000'000;
// How long close() gives each Goodbye, and all of them together.
constexpr uint64_t kGoodbyeTimeoutNs = 500'000'000;
constexpr size_t kMaxEvents = 1024;
// The most GPUs a Sender remembers it could not serve by peer copy; beyond, it tries no more.
constexpr size_t kMaxRefusals = 64;
// How long past its timeout and send_timeout begin_frame waits for the copier's downloads.
constexpr uint64_t kCopierGraceNs = 1'000'000'000;
// How long the listener is left alone when accept() runs out of fds.
constexpr uint64_t kAcceptPauseNs = 50'000'000;

std::string ms_text(uint64_t ns) { return std::to_string(ns / 1'000'000) + " ms"; }

/// A frame a subscriber holds: received and not yet released.
struct Held {
    uint32_t slot = 0;
    uint64_t since_ns = 0;
    bool stalled = false;  // reported once as kStalled
};

/// One subscriber, from its handshake until it is dropped. Every member is guarded by the
/// state's mutex (the channel's sends and receives too).
struct Subscription {
    Subscription(Channel c, std::shared_ptr<Timeline> r, uint32_t p, uint32_t pp, std::string cl)
        : channel(std::move(c)), ready(std::move(r)), pid(p), peer_pid(pp), client(std::move(cl)) {}

    Channel channel;
    /// Its own ready timeline, which only this subscriber (and the producer) can write: what it
    /// does to it (a value far ahead, abandonment) reaches no other subscriber.
    std::shared_ptr<Timeline> ready;
    SharePath path = SharePath::kZeroCopy;  // kCopy: it reads the copy ring, filled for it
    // kPeerCopy: the ring on its GPU that frames are copied into (`ready` is a timeline of that
    // GPU's device, signalled by the feeder's fan-out). Owned by the state, kept until close().
    PeerFeeder* peer = nullptr;
    uint32_t pid = 0;       // what its Hello says, for the log
    uint32_t peer_pid = 0;  // what the kernel says (SO_PEERCRED), for the per-peer cap
    std::string client;
    std::map<uint64_t, Held> held;  // by frame number
    bool wants = false;  // kLatest: a FrameRequest is waiting for a frame above wants_after
    uint64_t last = 0;   // the newest frame delivered to it
    // The newest frame whose ready signal the producer's own GPU work was to make for it
    // (Sender::end_frame(frame, targets)); close() makes it from the host if it never came.
    uint64_t caller_signals = 0;
    // The newest frame a signal of the Sender's own (the fan-out: from the host, or a queue
    // submission that may still wait) was made for. Until its timeline is there, the producer's
    // own work must not signal it: the two could land out of order (Sender::ready_targets).
    uint64_t relayed = 0;
    uint64_t wants_after = 0;

    std::string who() const {
        return "subscriber pid " + std::to_string(pid) + (client.empty() ? "" : " ('" + client + "')");
    }
};

}  // namespace

struct Sender::State {
    State(Listener l, const SenderOptions& o, std::shared_ptr<Device> device)
        : listener(std::move(l)), pending(o.max_pending_handshakes, o.max_handshakes_per_peer),
          fanout(std::move(device)),
          send_timeout_ns(nanoseconds_of(o.send_timeout)),
          mode(o.mode) {}

    Listener listener;
    UniqueFd wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};  // close() ends the service thread's poll
    PendingHandshakes pending;  // the service thread's own: no lock
    pid_t owner_pid = ::getpid();
    mutable std::mutex mutex;  // guards everything below but `stop` and `thread`
    mutable std::condition_variable changed;  // a release, a join, a drop, close()
    std::vector<std::shared_ptr<Subscription>> subs;
    uint64_t current = 0;        // the newest frame published, and its slot
    uint32_t current_slot = 0;
    int64_t pending_slot = -1;   // the slot begin_frame handed out, until end/abandon
    uint64_t caller_signalled = 0;  // the newest frame ended with end_frame(frame, targets)
    std::deque<SenderEvent> events;
    SenderStats stats;
    std::unique_ptr<CopyFeeder> copy;  // from the first copy subscriber on
    // The frames the copier thread downloads for copy subscribers, then delivers (copy_jobs.hpp).
    CopyJobs<Subscription> copy_jobs;
    std::condition_variable copy_wake;  // a job queued, or close()
    // Peer-copy delivery, one feeder per destination GPU (by Vulkan device UUID), from its first
    // peer-copy subscriber on; kept until the Sender is destroyed (ipc/peer_feeder.hpp). Only the
    // builder thread adds one (or the service thread, when the builder cannot start).
    std::map<Uuid, std::unique_ptr<PeerFeeder>> peers;
    // Feeders taken out of service (retire_feeder): no subscriber uses them, nothing copies with
    // them again, and they stay until the state goes, since a copy may still be queued on them.
    std::vector<std::unique_ptr<PeerFeeder>> retired_peers;
    // Why a GPU could not be served, by UUID: asked once per Sender, so that peers asking again
    // (or for many UUIDs) do not keep the builder opening devices. At most kMaxRefusals.
    std::map<Uuid, std::string> peer_refusals;
    // Peer feeders are made on a thread of their own, `builder` (from the first GPU asked for on):
    // opening a device and CUDA takes a while, and the service thread goes on reading releases and
    // other handshakes meanwhile. `builds` is what to make, in order; `building` those queued or
    // being made; `built` the outcomes the service thread has not taken yet (why not, or "").
    std::deque<Uuid> builds;
    std::vector<Uuid> building;
    std::vector<std::pair<Uuid, std::string>> built;
    std::condition_variable build_wake;
    std::unique_ptr<std::thread> builder;
    UniqueFd built_wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};  // the builder wakes the service thread
    // The service thread's own (no lock): handshakes waiting for their GPU's feeder, each until
    // its `until` at most.
    struct Parked {
        Uuid gpu;
        Greeted greeted;
        uint64_t until = 0;
    };
    std::vector<Parked> parked;
    std::vector<std::shared_ptr<Subscription>> peer_batch;  // end_frame's peer-copy subscribers
    std::vector<std::shared_ptr<Subscription>> peer_ready;  // end_frame's peer-copy subscribers, copy enqueued
    std::vector<std::shared_ptr<Subscription>> group;       // those of one feeder
    // Signals the subscribers' ready timelines, all of a frame's at once (timeline_fanout.hpp).
    TimelineFanout fanout;
    // Reused by every announcement, so a steady stream of frames allocates nothing for them.
    std::vector<std::shared_ptr<Subscription>> batch;
    std::vector<std::shared_ptr<Subscription>> single;
    std::vector<Timeline*> targets;
    std::vector<std::shared_ptr<Subscription>> copy_batch;  // end_frame's copy subscribers
    std::vector<std::shared_ptr<Subscription>> relay;       // those the producer's own work did not signal
    uint64_t send_timeout_ns = 0;  // options.send_timeout: bounds a copy's wait for a kGpu frame
    DeliveryMode mode = DeliveryMode::kLossless;  // options.mode
    std::atomic<bool> stop{false};
    // Not a plain member: a fork() child must be able to leave its (thread-less) copy alone,
    // since destroying a joinable std::thread terminates the process.
    std::unique_ptr<std::thread> thread;
    std::unique_ptr<std::thread> copier;  // from the first copy subscriber on (copy_service)

    bool in_owner_process() const noexcept { return ::getpid() == owner_pid; }

    void event(SenderEvent::Kind kind, const Subscription& sub, std::string message) {
        if (events.size() == kMaxEvents) events.pop_front();
        events.push_back(SenderEvent{kind, sub.pid, sub.client, std::move(message)});
    }

    bool slot_held(uint32_t slot) const {
        if (copy_jobs.holds(slot)) return true;  // being downloaded for copy subscribers, or about to be
        for (const auto& sub : subs) {
            for (const auto& [number, h] : sub->held) {
                if (h.slot == slot) return true;
            }
        }
        return false;
    }

    /// Ends `sub` (a copy: the vector's element it may have come from goes here). With a reason,
    /// the subscriber is told it first and the drop is counted; without, it has left.
    void drop(std::shared_ptr<Subscription> sub, const std::string& reason) {
        auto it = std::find(subs.begin(), subs.end(), sub);
        if (it == subs.end()) return;
        subs.erase(it);
        fanout_of(*sub).retire(sub->ready);  // a queue submission may still signal it
        if (reason.empty()) {
            event(SenderEvent::Kind::kLeft, *sub, "left");
        } else {
            // Without waiting, the lock is held: a subscriber whose queue is full learns from the
            // closed socket instead.
            refuse(sub->channel, reason);
            ++stats.subscribers_dropped;
            event(SenderEvent::Kind::kDropped, *sub, reason);
        }
        sub->channel.close();
        changed.notify_all();
    }

    /// Takes `feeder` out of service, under the lock: a copy to its GPU failed, or did not read the
    /// producer's slot in time (a GPU hung or starved). Its subscribers are dropped, told `why`;
    /// later peers asking for that GPU are answered that peer copy is not possible, with `why`,
    /// and take the copy path. The producer's frames go on for everyone else. The feeder is kept
    /// (retired_peers): a copy may still be queued on it. No-op for a feeder already retired.
    void retire_feeder(PeerFeeder* feeder, const std::string& why) {
        const auto it = in_service_at(feeder);
        if (it == peers.end()) return;
        retired_peers.reserve(retired_peers.size() + 1);  // out of memory: nothing has changed yet
        for (size_t i = subs.size(); i-- > 0;) {
            if (i < subs.size() && subs[i]->peer == feeder) drop(subs[i], why);
        }
        // Bounded by the host's GPUs, so past the refusal cache's cap as well.
        peer_refusals.insert_or_assign(it->first, "the producer stopped copying frames to that GPU: " + why);
        retired_peers.push_back(std::move(it->second));
        peers.erase(it);
    }
    /// Where `feeder` is in `peers`; end() once retired.
    std::map<Uuid, std::unique_ptr<PeerFeeder>>::iterator in_service_at(const PeerFeeder* feeder) {
        return std::find_if(peers.begin(), peers.end(), [&](const auto& p) { return p.second.get() == feeder; });
    }

    /// The fan-out that signals `sub`'s ready timeline: the producer's device's, or for a peer-copy
    /// subscriber that of its GPU's feeder.
    TimelineFanout& fanout_of(const Subscription& sub) { return sub.peer ? sub.peer->fanout() : fanout; }

    /// Makes the copy ring's slot `slot` hold frame `number` (CopyFeeder::fill), once the frame is
    /// ready: a kGpu frame is forwarded by the device with no host wait, but a download must follow
    /// the GPU's writes, so it waits for `after` on the host first (TimeoutError after
    /// send_timeout). Returns whether it downloaded.
    bool copy_frame(uint32_t slot, uint64_t number, Timeline& after) {
        if (after.value() < number) after.wait(number, std::chrono::nanoseconds(send_timeout_ns));
        return copy->fill(slot, number);
    }

    /// Signals the own ready timeline of every subscriber in `to` to `number` once `after` (the
    /// producer's) is there: one queue submission for Vulkan timelines, no host wait (kGpu frames
    /// are forwarded by the device), one host pass for portable ones. Only the producer signals
    /// them, and only to frames it delivers, in increasing order: a value past `number` (or an
    /// abandoned mark) was written by the subscriber itself, which is dropped, its entry cleared.
    /// Throws (nothing signalled) when the submission fails.
    void signal_ready(std::vector<std::shared_ptr<Subscription>>& to, uint64_t number, Timeline& after) {
        signal_ready(to, number, after, fanout);
    }
    /// The same with `fan` (a peer feeder's, whose targets and `after` are its GPU's timelines).
    void signal_ready(std::vector<std::shared_ptr<Subscription>>& to, uint64_t number, Timeline& after,
                      TimelineFanout& fan) {
        targets.clear();
        for (const auto& sub : to) targets.push_back(sub->ready.get());
        const std::vector<TimelineFanout::Failure>& failures = fan.signal(targets, number, after);
        for (const auto& sub : to) sub->relayed = std::max(sub->relayed, number);
        for (const TimelineFanout::Failure& f : failures) {
            std::string why;
            switch (f.kind) {
                case TimelineFanout::Failure::Kind::kAbandoned:
                    why = "marked abandoned, which only the producer may do";
                    break;
                case TimelineFanout::Failure::Kind::kAhead:
                    why = "at " + std::to_string(f.found) + ", past frame " + std::to_string(number) +
                          ": only the producer may signal it";
                    break;
                case TimelineFanout::Failure::Kind::kError: why = f.message; break;
            }
            const std::shared_ptr<Subscription> sub = std::move(to[f.index]);
            drop(sub, "its ready timeline is unusable (" + why + ")");
        }
    }

    /// close(): a frame whose ready signal the producer's own GPU work was to make (end_frame(frame,
    /// targets)) and has not made within `timeout` is signalled from the host, so that no
    /// subscriber's GPU, and no relay, waits for good: `ready` (the producer's) first, then the
    /// relays queued on it are given `timeout` to land (TimelineFanout::drain), then the
    /// subscribers it was announced to. Signals that the GPU makes after that (a stream that
    /// runs at last) find later values there: they are out of order, on timelines nobody reads
    /// any more.
    void signal_unsignalled(Timeline& ready, std::chrono::nanoseconds timeout) {
        if (caller_signalled == 0) return;
        try {
            if (ready.value() < caller_signalled) ready.wait(caller_signalled, timeout);
        } catch (const Error&) {
            // Not within the timeout (or the device cannot tell): signalled from here.
        }
        try {
            if (ready.value() < caller_signalled) ready.signal(caller_signalled);
        } catch (const Error&) {
            // A device lost: the drains below say what becomes of the submissions.
        }
        (void)fanout.drain(ready, timeout);
        // Each subscriber still below its frame: `ready` there means, in stream order, that the
        // caller's own signal of it ran or never will (a caller that signalled only `ready`).
        for (const auto& sub : subs) {
            if (sub->caller_signals == 0) continue;
            try {
                if (sub->ready->value() < sub->caller_signals) sub->ready->signal(sub->caller_signals);
            } catch (const Error&) {
                // Its own timeline, which it may have broken; nobody else waits on it.
            }
        }
    }

    /// Whether frame `number` goes to `sub` (kLatest: only when it asked for a frame before it).
    bool gets(const Subscription& sub, uint64_t number) const {
        return mode != DeliveryMode::kLatest || (sub.wants && number > sub.wants_after);
    }

    /// signal_ready for the subscribers in `to` whose timelines the producer's own GPU work does
    /// not signal (not in `signalled`: Sender::ready_targets). The others' entries stay as they
    /// are; one whose timeline is unusable, or all of them when the submission fails, is dropped
    /// (told why) and its entry cleared: the frame is on its way to the rest, so nothing throws.
    void signal_rest(std::vector<std::shared_ptr<Subscription>>& to, const Sender::ReadyTargets& signalled,
                     uint64_t number, Timeline& after) {
        relay.clear();
        for (auto& sub : to) {
            const auto& listed = signalled.timelines;
            if (std::find(listed.begin(), listed.end(), sub->ready) == listed.end()) relay.push_back(std::move(sub));
        }
        if (relay.empty()) return;
        try {
            signal_ready(relay, number, after);
        } catch (const std::exception& e) {
            for (auto& sub : relay) {
                if (!sub) continue;
                drop(sub, std::string("its ready timeline could not be signalled (") + e.what() + ")");
                sub = nullptr;
            }
        }
        for (auto& sub : relay) {
            if (sub) to.push_back(std::move(sub));
        }
        relay.clear();
    }

    /// Sends frame `number` in `slot` (`payload`, its encoded message) to `sub`, whose ready
    /// timeline signal_ready has handled, which then holds it; drops it if it cannot take it
    /// within `timeout_ns` (0: at once).
    void announce(const std::shared_ptr<Subscription>& sub, uint64_t number, uint32_t slot,
                  const std::vector<uint8_t>& payload, uint64_t now, uint64_t timeout_ns) {
        try {
            sub->channel.send(static_cast<uint16_t>(MessageType::kFrame), payload, {}, timeout_of(timeout_ns));
            sub->held[number] = Held{slot, now, false};
            sub->last = number;
        } catch (const PeerGoneError&) {
            drop(sub, "");
        } catch (const TimeoutError&) {
            drop(sub, "its socket queue is full: it did not take frame " + std::to_string(number) +
                          " (it has not read the messages before it)");
        } catch (const Error& e) {
            drop(sub, std::string("it did not take frame ") + std::to_string(number) + " (" + e.what() + ")");
        }
    }

    /// Copies frame `number` (in `slot`) onto the GPU of every peer-copy subscriber in `to`, once
    /// per GPU, signals their ready timelines from their feeder's, and moves those that can take
    /// it to `ready_to_announce`. A GPU whose copy fails is taken out of service (retire_feeder:
    /// its subscribers dropped, told why; later ones take the copy path); one whose signal fails
    /// drops those subscribers. The producer's frame goes on for everyone else.
    void deliver_peer(std::vector<std::shared_ptr<Subscription>>& to, uint64_t number, uint32_t slot,
                      std::vector<std::shared_ptr<Subscription>>& ready_to_announce) {
        std::vector<std::pair<PeerFeeder*, std::string>> broken;
        for (auto& [uuid, feeder] : peers) {
            group.clear();
            for (const auto& sub : to) {
                if (sub && sub->peer == feeder.get()) group.push_back(sub);
            }
            if (group.empty()) continue;
            std::string failed;
            try {
                if (feeder->copy(slot, number)) ++stats.frames_peer_copied;
            } catch (const Error& e) {
                broken.emplace_back(feeder.get(), "the copy of frame " + std::to_string(number) +
                                                      " to its GPU failed (" + e.what() + ")");
                continue;
            }
            try {
                signal_ready(group, number, feeder->ready(), feeder->fanout());
            } catch (const Error& e) {
                failed = e.what();
            }
            for (const auto& sub : group) {
                if (!sub) continue;  // dropped by signal_ready
                if (failed.empty()) {
                    ready_to_announce.push_back(sub);
                } else {
                    drop(sub, "frame " + std::to_string(number) + " could not be signalled on its GPU (" + failed + ")");
                }
            }
        }
        group.clear();
        for (const auto& [feeder, why] : broken) retire_feeder(feeder, why);
    }

    /// signal_ready and announce for one subscriber (a late joiner, a latest-mode request). A
    /// copy subscriber's frame is queued for the copier thread instead (queue_copy).
    void deliver(const std::shared_ptr<Subscription>& sub, uint64_t number, uint32_t slot, Timeline& after,
                 uint64_t timeout_ns) {
        // A late joiner may have been given the current frame by its handshake while the copier
        // was downloading it: frames only go forward.
        if (number <= sub->last) return;
        if (sub->path == SharePath::kCopy) {
            queue_copy(slot, number, {sub});
            return;
        }
        if (sub->path == SharePath::kPeerCopy) {
            // The copy waits on the GPU for the producer's ready signal: nothing waits here.
            std::vector<std::shared_ptr<Subscription>> to{sub}, ready_to_announce;
            deliver_peer(to, number, slot, ready_to_announce);
            if (!ready_to_announce.empty()) {
                announce(sub, number, slot, encode_frame_message({number, slot}), now_ns(), timeout_ns);
            }
            return;
        }
        announce_ready(sub, number, slot, after, timeout_ns);
    }

    /// Queues frame `number` of `slot` for the copy subscribers `to` (CopyJobs::add) and wakes the
    /// copier. kLatest: a subscriber waiting for the download under way is left out (it gets that one).
    void queue_copy(uint32_t slot, uint64_t number, std::vector<std::shared_ptr<Subscription>> to) {
        if (mode == DeliveryMode::kLatest) {
            to.erase(std::remove_if(to.begin(), to.end(),
                                    [&](const auto& sub) { return copy_jobs.downloading_for(sub.get()); }),
                     to.end());
        }
        if (to.empty()) return;
        copy_jobs.add(slot, number, std::move(to), mode == DeliveryMode::kLatest);
        copy_wake.notify_one();
    }

    /// signal_ready and announce for one subscriber whose frame is there to read (a zero-copy
    /// one's at once, a copy one's once downloaded).
    void announce_ready(const std::shared_ptr<Subscription>& sub, uint64_t number, uint32_t slot, Timeline& after,
                        uint64_t timeout_ns) {
        single.assign(1, sub);
        try {
            signal_ready(single, number, after);
        } catch (const Error& e) {
            single.clear();
            drop(sub, std::string("its ready timeline could not be signalled (") + e.what() + ")");
            return;
        }
        const bool usable = single[0] != nullptr;
        single.clear();
        // Flagged ready when the producer's timeline has reached the frame: its writes are done.
        if (usable) {
            announce(sub, number, slot, encode_frame_message({number, slot, after.value() >= number}), now_ns(), timeout_ns);
        }
    }

    /// The copier thread: downloads each queued frame once (without the lock: the service thread
    /// and end_frame go on meanwhile; nobody writes the slot, which the job holds), then signals
    /// and announces it to the job's subscribers still here. A frame that cannot be copied drops
    /// each of them, told why, not retried. Ends at close().
    void copy_service(Timeline& after) {
        InterruptShield shield;  // nobody to interrupt: close() ends it
        std::unique_lock<std::mutex> lock(mutex);
        for (;;) {
            copy_wake.wait(lock, [&] { return stop.load() || !copy_jobs.empty(); });
            if (stop.load()) return;
            const auto& job = copy_jobs.start();
            const uint32_t slot = job.slot;
            const uint64_t number = job.number;
            // Nobody left to copy it for (dropped meanwhile): no download, and no wait for a kGpu
            // frame's signal that may never come.
            if (std::none_of(job.subs.begin(), job.subs.end(), [&](const auto& sub) {
                    return std::find(subs.begin(), subs.end(), sub) != subs.end();
                })) {
                copy_jobs.finish();
                changed.notify_all();
                continue;
            }
            lock.unlock();
            bool downloaded = false;
            std::string failed;
            try {
                downloaded = copy_frame(slot, number, after);
            } catch (const std::exception& e) {
                failed = e.what();
            } catch (...) {
                failed = "an unknown error";
            }
            lock.lock();
            const auto done = copy_jobs.finish();
            changed.notify_all();  // the slot is free again
            if (stop.load()) return;  // close(): its subscribers are told Goodbye
            if (downloaded) ++stats.frames_copied;
            for (const auto& sub : done.subs) {
                if (std::find(subs.begin(), subs.end(), sub) == subs.end()) continue;  // gone meanwhile
                if (number <= sub->last) continue;
                sub->wants = false;
                if (!failed.empty()) {
                    drop(sub, "frame " + std::to_string(number) + " could not be copied for it (" + failed + ")");
                    continue;
                }
                announce_ready(sub, number, slot, after, 0);
            }
        }
    }
};

Sender::Sender(std::shared_ptr<Device> device, std::string name, TextureDescriptor descriptor, TensorLayout layout,
               SenderOptions options)
    : device_(std::move(device)),
      name_(std::move(name)),
      descriptor_(std::move(descriptor)),
      options_(options),
      layout_(std::move(layout)) {}

std::unique_ptr<Sender> Sender::create(const std::shared_ptr<Device>& device, const std::string& name,
                                       const TextureDescriptor& descriptor, const SenderOptions& options) {
    check_create(device, name, options);
    std::unique_ptr<Sender> s(new Sender(device, name, descriptor, {}, options));
    // On any failure below the destructor runs with state_ empty: the ring and the timeline go,
    // and the socket (if bound) is unlinked by the Listener's destructor.
    for (uint32_t i = 0; i < options.ring_size; ++i) s->ring_.push_back(device->create_shareable_texture(descriptor));
    s->start();
    return s;
}

std::unique_ptr<Sender> Sender::create(const std::shared_ptr<Device>& device, const std::string& name,
                                       const TensorLayout& layout, const SenderOptions& options) {
    check_create(device, name, options);
    if (layout.empty()) throw InvalidArgumentError("a tensor stream needs a layout of at least one tensor");
    std::unique_ptr<Sender> s(new Sender(device, name, {}, layout, options));
    for (uint32_t i = 0; i < options.ring_size; ++i) {
        s->buffers_.push_back(device->create_shareable_buffer(layout.size(), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT));
    }
    s->start();
    return s;
}

void Sender::check_create(const std::shared_ptr<Device>& device, const std::string& name, const SenderOptions& options) {
    if (!device) throw InvalidArgumentError("Sender::create: no device");
    check_sender_name(name);
    if (options.ring_size < 1 || options.ring_size > 64) {
        throw InvalidArgumentError("ring_size must be 1..64, got " + std::to_string(options.ring_size));
    }
    if (options.mode != DeliveryMode::kLossless && options.mode != DeliveryMode::kLatest) {
        throw InvalidArgumentError("mode must be lossless or latest");
    }
    if (options.mode == DeliveryMode::kLatest && options.ring_size < 3) {
        throw InvalidArgumentError("a latest-mode ring needs at least 3 slots (one written, one holding the newest "
                                   "frame, one for a subscriber to hold), got " +
                                   std::to_string(options.ring_size));
    }
    if (options.max_pending_handshakes < 1 || options.max_handshakes_per_peer < 1 ||
        options.max_subscriptions_per_peer < 1) {
        throw InvalidArgumentError("max_pending_handshakes, max_handshakes_per_peer and max_subscriptions_per_peer "
                                   "must be at least 1");
    }
    if (options.stalled != StalledPolicy::kDrop && options.stalled != StalledPolicy::kSkip) {
        throw InvalidArgumentError("stalled must be drop or skip");
    }
    nanoseconds_of(options.release_timeout);  // InvalidArgumentError for a negative one, here and not later
    nanoseconds_of(options.handshake_timeout);
    nanoseconds_of(options.send_timeout);
    if (options.stalled == StalledPolicy::kSkip && options.mode != DeliveryMode::kLatest) {
        throw InvalidArgumentError("stalled=skip needs mode=latest: a lossless producer cannot write past a frame a "
                                   "subscriber holds");
    }
    device->require_owner_process("publish a sender");
}

void Sender::start() {
    ready_ = device_->create_shared_timeline(options_.sync, 0);
    state_ = std::make_unique<State>(Listener::bind(sender_socket_path(name_)), options_, device_);
    if (!state_->wake) throw OsError(errno, "eventfd", "the sender's wake-up");
    // Subscribers' Vulkan timelines are signalled by queue submissions: what those need is made
    // here, so the sender's objects (and fds) do not grow when the first subscriber joins.
    if (ready_->kind() == TimelineKind::kVulkan) state_->fanout.prepare();
    try {
        if (fault::injected("pthread_create")) throw std::system_error(EAGAIN, std::generic_category());
        state_->thread = std::make_unique<std::thread>([this] { serve(); });
    } catch (const std::system_error& e) {
        // Out of threads: the Sender goes, and with it the bound socket, the ring and the timeline.
        throw OsError(e.code().value(), "pthread_create", "the sender's service thread cannot start");
    }
}

Sender::~Sender() {
    try {
        close();
    } catch (...) {
        // A destructor must not throw; close() already freed what it could.
    }
    // A fork() child's copy of the state is left allocated: the parent's threads (the builder,
    // the copier) are registered waiters on its condition variables, which glibc's
    // pthread_cond_destroy would wait for, for good, in a child where those threads do not exist.
    if (state_ && !state_->in_owner_process()) (void)state_.release();
    if (device_) {
        restore_ring_before_free(*device_, ring_);
        restore_ring_before_free(*device_, buffers_);
    }
}

void Sender::require_open(const char* what) const {
    if (state_ && !state_->in_owner_process()) {
        throw UnsupportedOperationError(std::string("cannot ") + what +
                                        ": this process is a fork() child of the process that published the sender '" +
                                        name_ + "'; only that process can publish on it. Publish a sender of the "
                                        "child's own instead");
    }
    if (closed_.load()) throw InvalidHandleError("the sender '" + name_ + "' is closed");
}

// ---- subscribers ---------------------------------------------------------------------------

void Sender::serve() {
    State& st = *state_;
    // The service thread is never interrupted: the check is for the threads of the caller.
    InterruptShield shield;
    std::vector<pollfd> fds;
    std::vector<std::shared_ptr<Subscription>> polled;
    uint64_t accept_paused_until = 0;  // out of fds: the listener is left alone until then
    while (!st.stop.load()) {
        // [0] close()'s wake-up, [1] the listener, then the subscriptions, then the handshakes.
        const bool accepting = now_ns() >= accept_paused_until;
        // [2] the feeder builder's wake-up.
        fds.assign({pollfd{st.wake.get(), POLLIN, 0},
                    pollfd{st.listener.native_handle(), static_cast<short>(accepting ? POLLIN : 0), 0},
                    pollfd{st.built_wake.get(), POLLIN, 0}});
        {
            std::lock_guard<std::mutex> lock(st.mutex);
            polled = st.subs;
        }
        for (const auto& sub : polled) fds.push_back(pollfd{sub->channel.native_handle(), POLLIN, 0});
        const size_t first_pending = fds.size();
        st.pending.poll_fds(fds);
        if (::poll(fds.data(), fds.size(), static_cast<int>(kServiceSliceNs / 1'000'000)) < 0 && errno != EINTR) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // out of memory: back off, never spin
            continue;
        }
        if (st.stop.load()) break;
        if (fds[2].revents != 0) {
            uint64_t count = 0;
            if (::read(st.built_wake.get(), &count, sizeof(count)) < 0) {
                // EAGAIN: taken already; nothing else can fail for an eventfd.
            }
        }
        // Handshakes whose peer copy engine is made (or refused) go on.
        try {
            resume_parked();
        } catch (...) {
            // Out of memory: the parked handshakes go on at a later slice (or time out).
        }
        // The handshakes whose Hello came go on; each sends without waiting on the others. One
        // that needs a peer copy engine not made yet waits for it, parked (the builder thread).
        for (Greeted& g : st.pending.collect(fds.data() + first_pending, now_ns())) {
            try {
                if (const std::optional<Uuid> gpu = feeder_wanted(g.hello)) {
                    park(*gpu, std::move(g));
                    continue;
                }
            } catch (...) {
                continue;  // out of memory: the connection closes; the sender goes on serving others
            }
            try {
                handshake(std::move(g.channel), g.hello, g.peer_pid, g.deadline);
            } catch (...) {
                // The connection is closed with the Channel; the sender goes on serving others.
            }
        }
        if (fds[1].revents != 0) {
            // Several peers may be queued: take them all (each poll() would otherwise take one).
            for (int taken = 0; taken < 64; ++taken) {
                try {
                    st.pending.add(st.listener.accept(std::chrono::nanoseconds(0)), deadline_after(nanoseconds_of(options_.handshake_timeout)));
                } catch (const TimeoutError&) {
                    break;  // none left
                } catch (const OsError& e) {
                    if (e.error_code() == EMFILE || e.error_code() == ENFILE || e.error_code() == ENOBUFS ||
                        e.error_code() == ENOMEM) {
                        // Out of fds: poll() would report the queued peer again at once. Leave the
                        // listener alone for a while (subscribers that leave free fds meanwhile).
                        accept_paused_until = now_ns() + kAcceptPauseNs;
                        std::lock_guard<std::mutex> lock(st.mutex);
                        ++st.stats.accepts_deferred;
                    }
                    break;  // a peer of another user (refused by the listener), or out of fds
                } catch (...) {
                    break;  // nothing may escape the thread
                }
            }
        }
        const size_t sub_base = 3;
        std::lock_guard<std::mutex> lock(st.mutex);
        for (size_t i = 0; i < polled.size(); ++i) {
            if (fds[i + sub_base].revents == 0) continue;
            const std::shared_ptr<Subscription>& sub = polled[i];
            // Dropped meanwhile (by begin_frame or end_frame): its channel is closed.
            if (std::find(st.subs.begin(), st.subs.end(), sub) == st.subs.end()) continue;
            try {
                Message m = sub->channel.receive(std::chrono::nanoseconds(0));
                const std::string what = message_type_name(m.type);
                if (!m.fds.empty()) {
                    st.drop(sub, "it sent file descriptors, which the protocol never does");
                } else if (m.type == static_cast<uint16_t>(MessageType::kRelease)) {
                    const uint64_t number = decode_frame_number(m.payload.data(), m.payload.size(), "release");
                    if (sub->held.erase(number) == 0) {
                        st.drop(sub, "it released frame " + std::to_string(number) + ", which it does not hold");
                    } else {
                        st.changed.notify_all();
                    }
                } else if (m.type == kFrameRequestMessage && options_.mode == DeliveryMode::kLatest) {
                    const uint64_t after = decode_frame_number(m.payload.data(), m.payload.size(), "frame_request");
                    const uint32_t most = max_held_for(options_.mode, options_.ring_size);
                    if (sub->wants || sub->held.size() >= most) {
                        st.drop(sub, "it asked for a frame while " +
                                         std::string(sub->wants ? "a request was outstanding"
                                                                : "holding " + std::to_string(most) +
                                                                      ", the most a subscriber may hold"));
                    } else if (st.current > after) {
                        st.deliver(sub, st.current, st.current_slot, *ready_, 0);
                    } else {
                        sub->wants = true;
                        sub->wants_after = after;
                    }
                } else {
                    st.drop(sub, "it sent a " + what + " message, which a " + to_string(options_.mode) +
                                     " subscriber never sends");
                }
            } catch (const TimeoutError&) {
                // Woken for nothing (another thread's receive cannot exist; a spurious wake-up).
            } catch (const PeerGoneError&) {
                st.drop(sub, "");
            } catch (const Error& e) {
                st.drop(sub, std::string("it broke the protocol: ") + e.what());
            }
        }
        if (options_.mode != DeliveryMode::kLatest) continue;
        // kLatest: a hold past the release timeout is dropped or skipped now; kLossless waits
        // until begin_frame needs the slot.
        const uint64_t now = now_ns();
        for (size_t i = st.subs.size(); i-- > 0;) {
            const auto sub = st.subs[i];
            for (auto& [number, h] : sub->held) {
                if (h.stalled || now - h.since_ns < nanoseconds_of(options_.release_timeout)) continue;
                const std::string why = "it held frame " + std::to_string(number) + " for more than the release "
                                        "timeout (" + ms_text(nanoseconds_of(options_.release_timeout)) + ")";
                if (options_.stalled == StalledPolicy::kDrop) {
                    st.drop(sub, why);
                    break;
                }
                h.stalled = true;
                ++st.stats.stalls_skipped;
                st.event(SenderEvent::Kind::kStalled, *sub, why + "; the producer writes around it");
            }
        }
    }
}

void Sender::handshake(Channel channel, const Message& m, uint32_t peer_pid, uint64_t deadline, const std::string& refusal) {
    State& st = *state_;
    if (m.type != static_cast<uint16_t>(MessageType::kHello) || !m.fds.empty()) {
        throw ProtocolError(std::string("expected a hello without fds, got ") + message_type_name(m.type));
    }
    const Hello hello = decode_hello(m.payload.data(), m.payload.size());
    if (hello.subscribe) {
        // Only this thread adds subscriptions, so the count cannot grow before the join below.
        std::lock_guard<std::mutex> lock(st.mutex);
        const auto mine = std::count_if(st.subs.begin(), st.subs.end(),
                                        [&](const auto& sub) { return sub->peer_pid == peer_pid; });
        if (static_cast<uint64_t>(mine) >= options_.max_subscriptions_per_peer) {
            refuse(channel, "pid " + std::to_string(peer_pid) + " already holds " + std::to_string(mine) +
                                " subscriptions to '" + name_ + "', the most one process may hold "
                                "(max_subscriptions_per_peer)");
            return;
        }
    }

    // All but the last message go out without the lock, so a slow or silent peer never holds up
    // end_frame: frames published meanwhile are simply not its frames (it joins below).
    SenderInfo now;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        now = info_locked();
    }
    channel.send(kSenderInfoMessage, encode_sender_info(now), {}, timeout_of(remaining(deadline)));
    if (!hello.subscribe) return;
    SharePath path = hello.path;
    PeerFeeder* peer = nullptr;
    if (path == SharePath::kPeerCopy) {
        // Answered either way; refused, the copy path follows on this connection.
        std::string why;
        peer = peer_feeder(hello.device_uuid, why);
        if (peer == nullptr && why.empty()) why = refusal.empty() ? "no peer copy engine was made for its GPU" : refusal;
        PeerAnswer answer;
        answer.accepted = peer != nullptr;
        answer.message = peer ? peer->description() : "peer copy is not possible: " + why;
        channel.send(kPeerAnswerMessage, encode_peer_answer(answer), {}, timeout_of(remaining(deadline)));
        if (!peer) path = SharePath::kCopy;
    }
    if (path == SharePath::kPeerCopy) {
        for (const auto& tex : peer->textures()) {
            const MemoryHandle h = export_ring_texture(*peer->device(), *tex);
            channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(h), {h.fd.get()},
                         timeout_of(remaining(deadline)));
        }
        for (const auto& buf : peer->buffers()) {
            const MemoryHandle h = export_ring_buffer(*peer->device(), *buf);
            channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(h), {h.fd.get()},
                         timeout_of(remaining(deadline)));
        }
    } else if (path == SharePath::kCopy) {
        CopyFeeder* feeder = nullptr;
        {
            std::lock_guard<std::mutex> lock(st.mutex);
            // The copier first: a thread that cannot start leaves nothing behind (it waits, idle,
            // for the jobs only copy subscribers bring).
            if (!st.copier) {
                try {
                    if (fault::injected("pthread_create")) throw std::system_error(EAGAIN, std::generic_category());
                    st.copier = std::make_unique<std::thread>([&st, this] { st.copy_service(*ready_); });
                } catch (const std::system_error& e) {
                    throw OsError(e.code().value(), "pthread_create", "the sender's copier thread cannot start");
                }
            }
            if (!st.copy) st.copy = buffers_.empty() ? std::make_unique<CopyFeeder>(ring_) : std::make_unique<CopyFeeder>(buffers_);
            feeder = st.copy.get();  // lives as long as the state
        }
        channel.send(kCopyRingMessage, encode_copy_ring(feeder->ring()), {feeder->fd()}, timeout_of(remaining(deadline)));
    } else {
        for (const auto& tex : ring_) {
            const MemoryHandle h = export_ring_texture(*device_, *tex);
            channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(h), {h.fd.get()},
                         timeout_of(remaining(deadline)));
        }
        for (const auto& buf : buffers_) {
            const MemoryHandle h = export_ring_buffer(*device_, *buf);
            channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(h), {h.fd.get()},
                         timeout_of(remaining(deadline)));
        }
    }
    // Its own ready timeline: the producer signals it for each frame this subscriber gets (a copy
    // subscriber's device cannot import a Vulkan one).
    // A peer-copy subscriber's is a Vulkan timeline of its GPU, signalled by that GPU's queue.
    Device& owner = peer ? *peer->device() : *device_;
    std::shared_ptr<Timeline> ready = owner.create_shared_timeline(
        peer || (ready_->kind() == TimelineKind::kVulkan && path == SharePath::kZeroCopy) ? TimelineChoice::kVulkan
                                                                                          : TimelineChoice::kPortable,
        0);
    TimelineHandle th = owner.export_timeline(*ready);
    TimelineAnnounce a;
    a.role = TimelineRole::kReady;
    a.kind = th.kind;
    const int fd = th.native_fd();
    if (th.kind == TimelineKind::kVulkan) a.semaphore = std::move(th.semaphore);
    // The last message goes under the lock, with the subscription added at once: a subscriber
    // whose connect has returned is one end_frame announces to. It is one small message on a
    // socket whose queue holds far more than a handshake, so the lock is not held for long.
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.stop.load()) throw PeerGoneError("the sender is closing");
    if (peer != nullptr && st.in_service_at(peer) == st.peers.end()) {
        // Taken out of service since its answer went (retire_feeder): this subscriber would get no frame.
        refuse(channel, "peer copy to its GPU stopped while it joined (" + st.peer_refusals[hello.device_uuid] +
                            "); connecting again takes the copy path");
        return;
    }
    channel.send(static_cast<uint16_t>(MessageType::kTimelineHandle), encode_timeline_announce(a), {fd},
                 timeout_of(remaining(deadline)));
    // `th` (or `a.semaphore`) still owns the fd; it is closed when they go out of scope.
    auto sub = std::make_shared<Subscription>(std::move(channel), std::move(ready), hello.pid, peer_pid, hello.client);
    sub->path = path;
    sub->peer = peer;
    st.subs.push_back(sub);
    ++st.stats.subscribers_joined;
    st.event(SenderEvent::Kind::kJoined, *sub, "joined");
    st.changed.notify_all();
    // kLossless: a late joiner takes the current frame at once, unless its slot is being written
    // again (a ring of one with a frame begun). kLatest answers its first FrameRequest with it.
    if (options_.mode == DeliveryMode::kLossless && st.current != 0 &&
        st.pending_slot != static_cast<int64_t>(st.current_slot)) {
        st.deliver(sub, st.current, st.current_slot, *ready_, remaining(deadline));
    }
}

PeerFeeder* Sender::peer_feeder(const Uuid& gpu, std::string& why) {
    State& st = *state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    if (const auto it = st.peers.find(gpu); it != st.peers.end()) return it->second.get();
    if (const auto it = st.peer_refusals.find(gpu); it != st.peer_refusals.end()) why = it->second;
    return nullptr;
}

std::optional<Uuid> Sender::feeder_wanted(const Message& m) const {
    if (m.type != static_cast<uint16_t>(MessageType::kHello) || !m.fds.empty()) return std::nullopt;
    Hello hello;
    try {
        hello = decode_hello(m.payload.data(), m.payload.size());
    } catch (const Error&) {
        return std::nullopt;  // handshake() refuses it, saying why
    }
    if (!hello.subscribe || hello.path != SharePath::kPeerCopy) return std::nullopt;
    const State& st = *state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.peers.count(hello.device_uuid) != 0 || st.peer_refusals.count(hello.device_uuid) != 0) return std::nullopt;
    return hello.device_uuid;
}

std::string Sender::make_feeder(const Uuid& gpu) {
    State& st = *state_;
    fault::hold("make_feeder");  // tests stop the builder here (as a slow device and CUDA would)
    std::string why;
    try {
        PeerFeeder::Source source;
        source.device = device_;
        source.textures = &ring_;
        source.buffers = &buffers_;
        source.descriptor = descriptor_;
        source.ready = ready_.get();
        source.host_staging = options_.peer_copy_host_staging;
        std::unique_ptr<PeerFeeder> made = PeerFeeder::create(source, gpu);
        {
            std::lock_guard<std::mutex> lock(st.mutex);
            if (st.peers.count(gpu) == 0) st.peers.emplace(gpu, std::move(made));
        }
        return {};  // a spare (one made meanwhile) is destroyed here, without the lock
    } catch (const std::exception& e) {
        why = e.what();
    }
    if (why.empty()) why = "the peer copy engine could not be made";
    // Remembered up to kMaxRefusals: past that a GPU is tried again each time (a peer naming made-up
    // UUIDs must not make the producer refuse the real GPUs it has not seen yet).
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.peer_refusals.size() < kMaxRefusals) st.peer_refusals.emplace(gpu, why);
    return why;
}

void Sender::build_feeders() {
    State& st = *state_;
    InterruptShield shield;  // a thread of the Sender's own: never interrupted
    std::unique_lock<std::mutex> lock(st.mutex);
    for (;;) {
        st.build_wake.wait(lock, [&] { return st.stop.load() || !st.builds.empty(); });
        if (st.stop.load()) return;
        const Uuid gpu = st.builds.front();
        st.builds.pop_front();
        if (st.peers.count(gpu) != 0) {  // made meanwhile (inline): nothing to do but say so
            st.building.erase(std::remove(st.building.begin(), st.building.end(), gpu), st.building.end());
            st.built.emplace_back(gpu, std::string());
            continue;
        }
        lock.unlock();
        std::string why;
        try {
            why = make_feeder(gpu);  // opens a device and CUDA: end_frame and the service thread go on
        } catch (...) {
            why = "the peer copy engine could not be made";  // out of memory recording it
        }
        lock.lock();
        st.building.erase(std::remove(st.building.begin(), st.building.end(), gpu), st.building.end());
        try {
            st.built.emplace_back(gpu, std::move(why));
        } catch (...) {
            // Out of memory: the parked handshakes resume at their time limit, on the copy path.
        }
        const uint64_t one = 1;
        if (::write(st.built_wake.get(), &one, sizeof(one)) < 0) {
            // Cannot fail for a counter this far from overflow; the service thread looks each slice.
        }
    }
}

void Sender::park(const Uuid& gpu, Greeted greeted) {
    State& st = *state_;
    // Parked handshakes have caps of their own, the pending ones' numbers (in all, and per peer
    // process): past them, this one goes on at once on the copy path, its GPU's engine asked for
    // all the same (later subscribers get it).
    const auto mine = std::count_if(st.parked.begin(), st.parked.end(),
                                    [&](const State::Parked& p) { return p.greeted.peer_pid == greeted.peer_pid; });
    const bool capped = st.parked.size() >= options_.max_pending_handshakes ||
                        static_cast<uint64_t>(mine) >= options_.max_handshakes_per_peer;
    bool inline_build = false;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        // Made (or refused) since feeder_wanted looked: resume_parked goes on with it at once.
        const bool done = st.peers.count(gpu) != 0 || st.peer_refusals.count(gpu) != 0;
        if (!done && std::find(st.building.begin(), st.building.end(), gpu) == st.building.end()) {
            if (!st.builder) {
                try {
                    if (fault::injected("pthread_create")) throw std::system_error(EAGAIN, std::generic_category());
                    st.builder = std::make_unique<std::thread>([this] { build_feeders(); });
                } catch (const std::system_error&) {
                    inline_build = !capped;  // made here instead, as the service thread's own work
                }
            }
            if (st.builder) {
                st.builds.push_back(gpu);
                try {
                    st.building.push_back(gpu);
                } catch (...) {
                    st.builds.pop_back();
                    throw;
                }
                st.build_wake.notify_one();
            }
        }
    }
    if (capped) {
        handshake(std::move(greeted.channel), greeted.hello, greeted.peer_pid, greeted.deadline,
                  "too many handshakes wait for a peer copy engine to be made");
        return;
    }
    // The rest of the handshake gets at least half its time, on the copy path if need be.
    const uint64_t now = now_ns();
    const uint64_t until = now + (greeted.deadline > now ? (greeted.deadline - now) / 2 : 0);
    st.parked.push_back(State::Parked{gpu, std::move(greeted), until});
    if (inline_build) {
        std::string why = make_feeder(gpu);
        std::lock_guard<std::mutex> lock(st.mutex);
        st.built.emplace_back(gpu, std::move(why));
    }
}

void Sender::resume_parked() {
    State& st = *state_;
    // Taken every time, so that an outcome nobody waited for is not read by a later handshake.
    std::vector<std::pair<Uuid, std::string>> outcomes;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        outcomes.swap(st.built);
    }
    if (st.parked.empty()) return;
    const uint64_t now = now_ns();
    for (size_t i = 0; i < st.parked.size();) {
        State::Parked& p = st.parked[i];
        std::string refusal;
        bool go = false;
        for (const auto& [gpu, why] : outcomes) {
            if (gpu == p.gpu) {
                go = true;
                refusal = why;
            }
        }
        if (!go) {
            std::lock_guard<std::mutex> lock(st.mutex);
            go = st.peers.count(p.gpu) != 0 || st.peer_refusals.count(p.gpu) != 0;
        }
        if (!go && now >= p.until) {
            go = true;
            refusal = "peer copy to its GPU is still being prepared (longer than half the handshake timeout); "
                      "a later subscription gets it";
        }
        if (!go) {
            ++i;
            continue;
        }
        Greeted g = std::move(p.greeted);
        st.parked.erase(st.parked.begin() + static_cast<std::ptrdiff_t>(i));
        try {
            handshake(std::move(g.channel), g.hello, g.peer_pid, g.deadline, refusal);
        } catch (...) {
            // The connection is closed with the Channel; the sender goes on serving others.
        }
    }
}

size_t Sender::subscribers() const {
    if (!state_ || !state_->in_owner_process()) return 0;
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->subs.size();
}

void Sender::wait_for_subscribers(size_t count, std::chrono::nanoseconds timeout) const {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    require_open("wait for subscribers");
    State& st = *state_;
    const uint64_t deadline = deadline_after(timeout_ns);
    std::unique_lock<std::mutex> lock(st.mutex);
    for (;;) {
        if (closed_.load()) throw InvalidHandleError("the sender '" + name_ + "' was closed while waiting");
        if (st.subs.size() >= count) return;
        const uint64_t left = remaining(deadline);
        if (left == 0) {
            throw TimeoutError("the sender '" + name_ + "' has " + std::to_string(st.subs.size()) +
                               " subscribers, not " + std::to_string(count) + ", after " + ms_text(timeout_ns));
        }
        const uint64_t slice = interrupt_slice_ns(left);
        st.changed.wait_for(lock, std::chrono::nanoseconds(static_cast<int64_t>(std::min<uint64_t>(slice, kServiceSliceNs))));
        lock.unlock();  // the check may take the Python GIL: never while holding the state's lock
        check_interrupt();
        lock.lock();
    }
}

SenderInfo Sender::info() const {
    require_open("describe the sender");
    std::lock_guard<std::mutex> lock(state_->mutex);
    return info_locked();
}

SenderStats Sender::stats() const {
    // A fork() child's copy of the mutex may have been held at fork(): the child counts nothing.
    if (!state_ || !state_->in_owner_process()) return {};
    std::lock_guard<std::mutex> lock(state_->mutex);
    SenderStats stats = state_->stats;
    stats.ready_submissions = state_->fanout.submissions();
    return stats;
}

std::vector<SenderEvent> Sender::take_events() {
    if (!state_ || !state_->in_owner_process()) return {};
    std::lock_guard<std::mutex> lock(state_->mutex);
    std::vector<SenderEvent> out(std::make_move_iterator(state_->events.begin()),
                                 std::make_move_iterator(state_->events.end()));
    state_->events.clear();
    return out;
}

SenderInfo Sender::info_locked() const {
    SenderInfo i;
    i.name = name_;
    i.producer_pid = static_cast<uint32_t>(state_->owner_pid);
    i.ring_size = options_.ring_size;
    i.payload = payload();
    if (i.payload == ResourceKind::kTexture) {
        i.width = descriptor_.width;
        i.height = descriptor_.height;
        i.vk_format = ring_[0]->vk_format();
        i.texture_format = descriptor_.format;
        i.texture_usage = descriptor_.usage;
    } else {
        i.layout = layout_;
    }
    i.sync_kind = ready_->kind();
    i.mode = options_.mode;
    i.max_held = max_held_for(options_.mode, i.ring_size);
    i.current_frame = frame_.load();
    i.subscribers = static_cast<uint32_t>(state_->subs.size());
    i.device_uuid = device_->info().device_uuid;
    i.driver_uuid = device_->info().driver_uuid;
    return i;
}

// ---- frames ----------------------------------------------------------------------------------

Sender::Frame Sender::begin_frame(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout == kDefault ? options_.release_timeout : timeout);
    require_open("begin a frame");
    if (pending_ != 0) {
        throw InvalidArgumentError("frame " + std::to_string(pending_) + " was begun and not ended");
    }
    State& st = *state_;
    const uint64_t number = frame_.load() + 1;
    const uint32_t n = options_.ring_size;
    const uint64_t wait_ns = timeout_ns;
    const uint64_t deadline = deadline_after(wait_ns);
    std::unique_lock<std::mutex> lock(st.mutex);
    int64_t slot = -1;
    for (;;) {
        if (st.stop.load()) break;  // closed meanwhile: refused below
        // The slot whose holders are waited for: kLossless writes slots in turn; kLatest writes
        // any slot that holds neither the newest frame nor a held one, oldest first.
        uint32_t blocked = static_cast<uint32_t>((number - 1) % n);
        if (options_.mode == DeliveryMode::kLossless) {
            if (!st.slot_held(blocked)) slot = blocked;
        } else {
            uint64_t oldest = UINT64_MAX;
            for (uint32_t k = 1; k <= n && slot < 0; ++k) {
                const uint32_t c = (st.current_slot + k) % n;
                if (st.current != 0 && c == st.current_slot) continue;
                if (!st.slot_held(c)) slot = c;
            }
            for (const auto& sub : st.subs) {
                for (const auto& [held, h] : sub->held) {
                    if (held < oldest && !(st.current != 0 && h.slot == st.current_slot)) {
                        oldest = held;
                        blocked = h.slot;
                    }
                }
            }
        }
        if (slot >= 0) break;
        // The copier's downloads (the producer's own work, each bounded by the copy and
        // send_timeout) are waited for, never blamed on a holder: kLossless when it holds the
        // slot due, kLatest when it holds any (a ring of 3 has no slot to spare for it).
        const bool copier = options_.mode == DeliveryMode::kLossless ? st.copy_jobs.holds(blocked) : st.copy_jobs.any();
        if (remaining(deadline) == 0 && copier) {
            if (now_ns() > deadline + st.send_timeout_ns + kCopierGraceNs) {
                throw TimeoutError("begin_frame: the copy subscribers' download of a ring slot has not finished " +
                                   ms_text(st.send_timeout_ns + kCopierGraceNs) + " after the timeout (" +
                                   ms_text(wait_ns) + ")");
            }
        } else if (remaining(deadline) == 0) {
            // Every subscriber still holding the blocked slot is dropped, and told why.
            bool dropped = false;
            for (size_t i = st.subs.size(); i-- > 0;) {
                const auto sub = st.subs[i];
                for (const auto& [held, h] : sub->held) {
                    if (h.slot != blocked) continue;
                    st.drop(sub, "it held frame " + std::to_string(held) + " for more than the release timeout (" +
                                     ms_text(wait_ns) + ") while the producer needed its slot");
                    dropped = true;
                    break;
                }
            }
            if (dropped) continue;
        }
        // Past the deadline (the copier's download, or a slot freed meanwhile) the wait is 1 ms at a
        // time: the copier's and the service thread's notifies end it sooner.
        uint64_t slice = std::min<uint64_t>(interrupt_slice_ns(remaining(deadline)), kServiceSliceNs);
        if (slice == 0) slice = 1'000'000;
        st.changed.wait_for(lock, std::chrono::nanoseconds(static_cast<int64_t>(slice)));
        lock.unlock();  // the check may take the Python GIL: never while holding the state's lock
        check_interrupt();
        lock.lock();
    }
    // Taken before the lock goes: a late joiner's handshake must not be handed this slot's frame
    // meanwhile (with a ring of one it is the current frame's).
    st.pending_slot = slot;
    pending_ = number;
    lock.unlock();
    fault::hold("begin_frame");  // tests let a late joiner's handshake run here
    try {
        require_open("begin a frame");  // close() may have run while it waited
    } catch (...) {
        lock.lock();
        st.pending_slot = -1;
        pending_ = 0;
        throw;
    }
    lock.lock();
    // The slot is not written again before every peer copy from it has read it, for what is left
    // of the caller's timeout (at least send_timeout). A GPU whose copy has not read it by then
    // (hung, or starved) is treated as a subscriber still holding the slot is: taken out of
    // service, its subscribers dropped (retire_feeder), rather than holding up everyone's frames.
    // A frame whose own kGpu signal is late is the producer's to wait for: TimeoutError as before.
    if (!st.peers.empty()) {
        std::vector<std::pair<PeerFeeder*, std::string>> late;
        try {
            std::vector<PeerFeeder*> feeders;
            for (const auto& [uuid, feeder] : st.peers) feeders.push_back(feeder.get());
            lock.unlock();
            const uint64_t until = deadline_after(std::max(remaining(deadline), nanoseconds_of(options_.send_timeout)));
            for (PeerFeeder* feeder : feeders) {
                std::string why;
                if (!feeder->wait_source_free(static_cast<uint32_t>(slot), until, *ready_, why)) {
                    late.emplace_back(feeder, why);
                }
            }
            lock.lock();
            for (const auto& [feeder, why] : late) st.retire_feeder(feeder, why);
            lock.unlock();
        } catch (...) {
            if (!lock.owns_lock()) lock.lock();
            for (const auto& [feeder, why] : late) {
                try {
                    st.retire_feeder(feeder, why);
                } catch (...) {
                    // Out of memory: it is waited on again next time.
                }
            }
            st.pending_slot = -1;
            pending_ = 0;
            throw;
        }
    }
    Frame f;
    f.number = number;
    f.slot = static_cast<uint32_t>(slot);
    if (payload() == ResourceKind::kTexture) {
        f.texture = ring_[f.slot];
        f.layout = f.texture->external_layout();
    } else {
        f.buffer = buffers_[f.slot];
        f.tensor_layout = &layout_;
    }
    f.ready = ready_.get();
    f.ready_semaphore = ready_->semaphore() ? ready_->semaphore()->vk_semaphore() : VK_NULL_HANDLE;
    return f;
}

void Sender::abandon_frame(const Frame& frame) {
    require_open("abandon a frame");
    if (frame.number != pending_ || pending_ == 0) {
        throw InvalidArgumentError("abandon_frame takes the frame begin_frame returned");
    }
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->pending_slot = -1;
    pending_ = 0;
}

void Sender::ready_targets(const Frame& frame, ReadyTargets& out) {
    require_open("list a frame's ready targets");
    if (frame.number != pending_ || pending_ == 0) {
        throw InvalidArgumentError("ready_targets takes the frame begin_frame returned (frame " +
                                   std::to_string(pending_) + " is pending, got " + std::to_string(frame.number) + ")");
    }
    out.number = frame.number;
    out.timelines.clear();
    out.after.clear();
    if (ready_->kind() != TimelineKind::kVulkan) return;  // only the host signals portable ones
    State& st = *state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    std::vector<std::pair<std::shared_ptr<Subscription>, std::string>> unusable;  // allocates only for those
    for (const auto& sub : st.subs) {
        if (sub->path != SharePath::kZeroCopy || !st.gets(*sub, frame.number)) continue;
        // TimelineFanout::signal's checks, made here: the caller's GPU signals without them. A
        // value moved past the frame after this check breaks only that subscriber's timeline.
        std::string why;
        uint64_t after = 0;
        try {
            const uint64_t found = sub->ready->value();
            if (found == frame.number) continue;  // there already; a signal must raise the value
            // A relay of an earlier frame may still wait in the device's queue: the caller's work
            // waits for it first, so that the two land in order.
            after = found < sub->relayed ? sub->relayed : 0;
            if (found > frame.number) {
                why = "at " + std::to_string(found) + ", past frame " + std::to_string(frame.number) +
                      ": only the producer may signal it";
            }
        } catch (const Error& e) {
            why = e.what();
        }
        if (why.empty()) {
            out.timelines.push_back(sub->ready);
            out.after.push_back(after);
        } else {
            unusable.emplace_back(sub, std::move(why));
        }
    }
    for (auto& [sub, why] : unusable) st.drop(sub, "its ready timeline is unusable (" + why + ")");
}

void Sender::end_frame(const Frame& frame, ReadySignal ready) { end_frame_as(frame, ready, nullptr); }

void Sender::end_frame(const Frame& frame, const ReadyTargets& signalled) {
    end_frame_as(frame, ReadySignal::kGpu, &signalled);
}

void Sender::end_frame_as(const Frame& frame, ReadySignal ready, const ReadyTargets* signalled) {
    require_open("end a frame");
    if (frame.number != pending_ || pending_ == 0) {
        throw InvalidArgumentError("end_frame takes the frame begin_frame returned (frame " +
                                   std::to_string(pending_) + " is pending, got " + std::to_string(frame.number) + ")");
    }
    if (signalled != nullptr && signalled->number != frame.number) {
        throw InvalidArgumentError("end_frame: the ready targets given are frame " + std::to_string(signalled->number) +
                                   "'s, not frame " + std::to_string(frame.number) + "'s (ready_targets lists them)");
    }
    if (ready == ReadySignal::kGpu && ready_->kind() != TimelineKind::kVulkan) {
        throw InvalidArgumentError(
            "ReadySignal::kGpu needs a Vulkan ready timeline; this sender's is portable, which only the host "
            "signals: wait for your GPU work, then end_frame with ReadySignal::kHost");
    }
    // kGpu: nothing waits here. The subscribers' timelines are signalled by a queue submission
    // that waits on the GPU's signal of the producer's (TimelineFanout), so the caller's CPU goes
    // on while its GPU finishes the frame; the messages follow the submission.
    // kHost: the frame is complete, so the messages go first, flagged ready (nothing to wait for),
    // and the timelines are signalled after them. A host signal of a shared Vulkan timeline waits
    // for the GPU's time slice while another process uses the GPU (docs/cuda.md: up to 2 ms), and
    // no subscriber waits for that.
    const bool host = ready == ReadySignal::kHost;
    // Announced to every subscriber or to none: the sends are not interrupted.
    InterruptShield shield;
    State& st = *state_;
    std::unique_lock<std::mutex> lock(st.mutex);
    // Who gets it. kGpu: nothing changes before the signals are submitted, so a failed submission
    // leaves the frame pending. kHost: a host signal that fails (a device lost) does so after the
    // frame went out; end_frame throws, the frame stays published, and a subscriber whose timeline
    // could not be signalled is dropped, told why. Copy subscribers apart: the copier downloads
    // their frame (below).
    st.batch.clear();
    st.copy_batch.clear();
    st.peer_batch.clear();
    for (const auto& sub : st.subs) {
        if (!st.gets(*sub, frame.number)) continue;
        (sub->path == SharePath::kCopy       ? st.copy_batch
         : sub->path == SharePath::kPeerCopy ? st.peer_batch
                                             : st.batch)
            .push_back(sub);
    }
    // Every zero-copy subscriber's timeline in one step, then every message: the first
    // subscriber is not held up by the signals of the others.
    // With `signalled`, the caller's GPU work signals those; the rest (joined or asked since
    // ready_targets) are relayed, and the frame goes out whatever becomes of that.
    if (signalled != nullptr) {
        st.signal_rest(st.batch, *signalled, frame.number, *ready_);
    } else if (!host) {
        st.signal_ready(st.batch, frame.number, *ready_);
    }
    // The slot is begin_frame's; the caller's copy is not trusted.
    const uint32_t slot = static_cast<uint32_t>(st.pending_slot);
    st.current = frame.number;
    st.current_slot = slot;
    st.pending_slot = -1;
    ++st.stats.frames_published;
    frame_.store(frame.number);
    pending_ = 0;
    // Peer-copy subscribers: one copy per GPU, ordered on the GPUs after the producer's ready
    // signal (no host wait, kHost and kGpu alike), then their own timelines signalled from it.
    st.peer_ready.clear();
    if (!st.peer_batch.empty()) st.deliver_peer(st.peer_batch, frame.number, slot, st.peer_ready);
    st.peer_batch.clear();
    // No send waits (the lock is held, and the caller's timeout must bound the call): a
    // subscriber whose queue cannot take one more small message has not read hundreds, and goes.
    const std::vector<uint8_t> payload = encode_frame_message({frame.number, slot, host});
    const uint64_t now = now_ns();
    for (const auto& sub : st.batch) {
        if (!sub) continue;  // dropped by signal_ready
        sub->wants = false;
        st.announce(sub, frame.number, slot, payload, now, 0);
    }
    if (signalled != nullptr) {
        st.caller_signalled = frame.number;
        for (const auto& t : signalled->timelines) {
            for (const auto& sub : st.subs) {
                if (sub->ready == t && sub->last == frame.number) sub->caller_signals = frame.number;
            }
        }
    }
    // Their copy lands later, on their GPU: never flagged ready, and their timelines are the copy's.
    if (!st.peer_ready.empty()) {
        const std::vector<uint8_t> later = encode_frame_message({frame.number, slot, false});
        for (const auto& sub : st.peer_ready) {
            sub->wants = false;
            st.announce(sub, frame.number, slot, later, now, 0);
        }
        st.peer_ready.clear();
    }
    // The copy subscribers' download, by the copier thread (it waits for the producer's timeline
    // below): end_frame does not wait for it, and a failed host signal below still leaves them
    // their frame or a reason.
    if (!st.copy_batch.empty()) {
        std::vector<std::shared_ptr<Subscription>> copies;
        copies.swap(st.copy_batch);
        st.queue_copy(slot, frame.number, std::move(copies));
    }
    if (host) {
        // The producer's own timeline (what late joiners, the copier and kGpu relays go by), then
        // the subscribers' still here: one whose timeline is unusable is dropped, told why.
        ready_->signal(frame.number);
        st.batch.erase(std::remove_if(st.batch.begin(), st.batch.end(),
                                      [&](const auto& sub) {
                                          return std::find(st.subs.begin(), st.subs.end(), sub) == st.subs.end();
                                      }),
                       st.batch.end());
        st.signal_ready(st.batch, frame.number, *ready_);
    }
    st.batch.clear();
}

void Sender::relay_ready(const ReadyTargets& targets) {
    require_open("relay a frame's ready point");
    if (targets.number == 0 || targets.number > frame_.load()) {
        throw InvalidArgumentError("relay_ready: frame " + std::to_string(targets.number) +
                                   " has not been announced (the newest is " + std::to_string(frame_.load()) + ")");
    }
    InterruptShield shield;
    State& st = *state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    std::vector<std::shared_ptr<Subscription>> to;
    for (const auto& sub : st.subs) {
        // Only those the caller was to signal to this frame, and still below it: a later frame
        // reached them already, and raising a timeline to an older frame would go backwards.
        if (sub->caller_signals != targets.number || sub->relayed >= targets.number) continue;
        const auto& listed = targets.timelines;
        if (std::find(listed.begin(), listed.end(), sub->ready) == listed.end()) continue;
        try {
            if (sub->ready->value() >= targets.number) continue;
        } catch (const Error&) {
            // signal_ready says why, and drops it
        }
        to.push_back(sub);
    }
    if (to.empty()) return;
    try {
        st.signal_ready(to, targets.number, *ready_);
    } catch (const std::exception& e) {
        for (const auto& sub : to) {
            if (sub) st.drop(sub, std::string("its ready timeline could not be signalled (") + e.what() + ")");
        }
    }
}

uint64_t Sender::publish(VkImageAspectFlagBits aspect, const void* data, size_t size, std::chrono::nanoseconds timeout) {
    if (payload() != ResourceKind::kTexture) {
        throw InvalidArgumentError("the sender '" + name_ + "' is a tensor stream: publish its slot's bytes without an aspect");
    }
    // upload() returns once the copy has completed, so the host may signal "ready".
    return publish_frame(timeout, [&](const Frame& f) { f.texture->upload(aspect, data, size); });
}

uint64_t Sender::publish(const void* data, size_t size, std::chrono::nanoseconds timeout) {
    if (payload() != ResourceKind::kBuffer) {
        throw InvalidArgumentError("the sender '" + name_ + "' publishes textures: publish takes an aspect");
    }
    if (size != layout_.size()) {
        throw InvalidArgumentError("publish: " + std::to_string(size) + " bytes for a slot of " +
                                   std::to_string(layout_.size()) + " (" + layout_.describe() + ")");
    }
    // write() returns once the copy has completed, so the host may signal "ready".
    return publish_frame(timeout, [&](const Frame& f) { f.buffer->write(data, size, 0); });
}

uint64_t Sender::publish_frame(std::chrono::nanoseconds timeout, const std::function<void(const Frame&)>& write) {
    Frame f = begin_frame(timeout);
    try {
        write(f);
    } catch (...) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->pending_slot = -1;
        pending_ = 0;
        throw;
    }
    end_frame(f, ReadySignal::kHost);
    return f.number;
}

// ---- lifetime --------------------------------------------------------------------------------

void Sender::close() {
    if (closed_.exchange(true)) return;
    if (!state_) return;  // create() failed before publishing
    State& st = *state_;
    if (!st.in_owner_process()) {
        // A fork() child's copy: the parent's service thread does not exist here, and its mutex
        // may have been held at fork(). Close the child's copies of the sockets only; nothing is
        // sent to the parent's subscribers and its timeline is left alone.
        for (auto& sub : st.subs) sub->channel.close();
        (void)st.thread.release();
        (void)st.copier.release();
        (void)st.builder.release();
        return;
    }
    InterruptShield shield;
    st.stop.store(true);
    const uint64_t one = 1;
    if (::write(st.wake.get(), &one, sizeof(one)) < 0) {
        // Cannot fail for a counter this far from overflow; the thread notices `stop` within a slice.
    }
    if (st.thread && st.thread->joinable()) st.thread->join();
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        st.copy_wake.notify_all();
        st.build_wake.notify_all();
    }
    // A feeder being made finishes first (opening a device and CUDA: not interruptible).
    if (st.builder && st.builder->joinable()) st.builder->join();
    // Their connections close, told why: the service thread, which owned them, has ended.
    for (State::Parked& p : st.parked) refuse(p.greeted.channel, "the sender '" + name_ + "' is closing");
    st.parked.clear();
    // A download under way finishes first (one frame; a kGpu frame's wait is bounded by send_timeout).
    if (st.copier && st.copier->joinable()) st.copier->join();
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        st.signal_unsignalled(*ready_, options_.send_timeout);
        const uint64_t deadline = deadline_after(kGoodbyeTimeoutNs);
        for (const auto& sub : st.subs) {
            try {
                sub->channel.send(static_cast<uint16_t>(MessageType::kGoodbye), {}, {}, timeout_of(remaining(deadline)));
            } catch (const Error&) {
                // Gone already, or not reading: it learns from the closed socket instead.
            }
            sub->channel.close();
            try {
                sub->ready->mark_abandoned();
            } catch (const Error&) {
                // Its own timeline, which it may have broken; nobody else waits on it.
            }
        }
        for (const auto& sub : st.subs) st.fanout_of(*sub).retire(sub->ready);
        st.subs.clear();
        st.copy_jobs.clear();
        st.pending.clear();
        st.changed.notify_all();
        // The queue submissions that signal the subscribers' timelines finish before any of
        // them goes; a kGpu frame whose GPU signal never came is signalled here after
        // send_timeout (timeline_fanout.hpp), so that the device can go idle.
        st.fanout.drain(*ready_, options_.send_timeout);
        // The same for the peer copies and their GPUs' fan-outs; the feeders stay until the
        // Sender is destroyed. One whose GPUs did not go idle is left allocated for good: its
        // rings and CUDA imports may still be written by queued copies (CudaBuffer, unlike
        // CudaTexture, keeps no record of them), and freeing them could wait on a hung GPU.
        for (auto it = st.peers.begin(); it != st.peers.end();) {
            if (it->second->drain(*ready_, options_.send_timeout)) {
                ++it;
            } else {
                (void)it->second.release();
                it = st.peers.erase(it);
            }
        }
        for (auto& feeder : st.retired_peers) {
            if (!feeder->drain(*ready_, options_.send_timeout)) (void)feeder.release();
        }
    }
    ready_->mark_abandoned();
    // The socket goes now (the Listener unlinks it); the rest of the state stays until the Sender
    // is destroyed, so a thread still in subscribers() or a wait never sees it freed.
    { Listener gone = std::move(st.listener); }
}

}  // namespace geyser
