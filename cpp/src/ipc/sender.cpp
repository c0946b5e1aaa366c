#include "geyser/sender.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "geyser/channel.hpp"
#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/memory.hpp"
#include "geyser/wire.hpp"
#include "fault.hpp"
#include "ipc/sender_ring_guard.hpp"
#include "ipc/sender_session.hpp"

namespace geyser {

using namespace sender_session;

namespace {

// How often the accept thread wakes to notice close() and reap subscribers that have gone.
constexpr uint64_t kAcceptSliceNs = 100'000'000;
// How long a release wait sleeps between checks that the subscriber is still there.
constexpr uint64_t kReleaseSliceNs = 50'000'000;
// How long close() gives each Goodbye, and all of them together.
constexpr uint64_t kGoodbyeTimeoutNs = 500'000'000;

TimelineChoice choice_for(TimelineKind kind) {
    return kind == TimelineKind::kVulkan ? TimelineChoice::kVulkan : TimelineChoice::kPortable;
}

}  // namespace

namespace {

/// One subscriber, from its handshake until it is dropped. Shared, so that a release wait outside
/// the lock keeps its timeline alive while the accept thread drops it.
struct Subscription {
    Subscription(Channel c, std::shared_ptr<Timeline> r, uint32_t p, std::string cl, uint64_t first)
        : channel(std::move(c)), released(std::move(r)), pid(p), client(std::move(cl)), first_frame(first) {}

    Channel channel;
    std::shared_ptr<Timeline> released;
    uint32_t pid = 0;
    std::string client;
    uint64_t first_frame = 0;  // frames up to this one were published before it joined

    /// A subscriber sends nothing after its Hello, so a readable or hung-up socket means it has
    /// gone (or broke the protocol, which ends the subscription as well).
    bool dead() const {
        if (!channel.is_open()) return true;
        pollfd p{channel.native_handle(), POLLIN, 0};
        return ::poll(&p, 1, 0) > 0;
    }
};

}  // namespace

struct Sender::State {
    explicit State(Listener l) : listener(std::move(l)) {}

    Listener listener;
    pid_t owner_pid = ::getpid();
    std::mutex mutex;  // guards subs and the frame counter's announcement order
    std::vector<std::shared_ptr<Subscription>> subs;
    std::atomic<bool> stop{false};
    // Not a plain member: a fork() child must be able to leave its (thread-less) copy alone,
    // since destroying a joinable std::thread terminates the process.
    std::unique_ptr<std::thread> thread;

    bool in_owner_process() const noexcept { return ::getpid() == owner_pid; }

    /// Caller holds mutex. `sub` is a copy: the vector's element it may have come from goes here.
    void drop(std::shared_ptr<Subscription> sub) {
        auto it = std::find(subs.begin(), subs.end(), sub);
        if (it != subs.end()) subs.erase(it);
        sub->channel.close();
    }

    void reap() {
        std::lock_guard<std::mutex> lock(mutex);
        for (size_t i = subs.size(); i-- > 0;) {
            if (subs[i]->dead()) drop(subs[i]);
        }
    }
};

Sender::Sender(std::shared_ptr<Device> device, std::string name, TextureDescriptor descriptor, SenderOptions options)
    : device_(std::move(device)), name_(std::move(name)), descriptor_(std::move(descriptor)), options_(options) {}

std::unique_ptr<Sender> Sender::create(const std::shared_ptr<Device>& device, const std::string& name,
                                       const TextureDescriptor& descriptor, const SenderOptions& options) {
    if (!device) throw InvalidArgumentError("Sender::create: no device");
    check_sender_name(name);
    if (options.ring_size < 1 || options.ring_size > 64) {
        throw InvalidArgumentError("ring_size must be 1..64, got " + std::to_string(options.ring_size));
    }
    device->require_owner_process("publish a sender");
    std::unique_ptr<Sender> s(new Sender(device, name, descriptor, options));
    // On any failure below the destructor runs with state_ empty: the ring and the timeline go,
    // and the socket (if bound) is unlinked by the Listener's destructor.
    for (uint32_t i = 0; i < options.ring_size; ++i) s->ring_.push_back(device->create_shareable_texture(descriptor));
    s->ready_ = device->create_shared_timeline(options.sync, 0);
    s->state_ = std::make_unique<State>(Listener::bind(sender_socket_path(name)));
    Sender* self = s.get();
    try {
        if (fault::injected("pthread_create")) throw std::system_error(EAGAIN, std::generic_category());
        s->state_->thread = std::make_unique<std::thread>([self] { self->accept_loop(); });
    } catch (const std::system_error& e) {
        // Out of threads: `s` goes, and with it the bound socket, the ring and the timeline.
        throw OsError(e.code().value(), "pthread_create", "the sender's accept thread cannot start");
    }
    return s;
}

Sender::~Sender() {
    try {
        close();
    } catch (...) {
        // A destructor must not throw; close() already freed what it could.
    }
    if (device_) restore_ring_before_free(*device_, ring_);
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

void Sender::accept_loop() {
    State& st = *state_;
    while (!st.stop.load()) {
        std::optional<Channel> channel;
        try {
            channel.emplace(st.listener.accept(kAcceptSliceNs));
        } catch (const TimeoutError&) {
        } catch (...) {
            // A peer of another user (refused by the listener), or accept() failing outright
            // (EMFILE): back off instead of spinning. Nothing may escape the thread.
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!channel) {
            st.reap();
            continue;
        }
        try {
            handshake(std::move(*channel));
        } catch (...) {
            // The connection is closed with the Channel; the sender goes on serving others.
        }
    }
}

void Sender::handshake(Channel channel) {
    State& st = *state_;
    const uint64_t deadline = deadline_after(options_.handshake_timeout_ns);
    // The Hello is awaited in slices, so close() never waits out a silent peer's handshake.
    std::optional<Message> m;
    while (!m) {
        if (st.stop.load()) throw PeerGoneError("the sender is closing");
        try {
            m.emplace(channel.receive(std::min(remaining(deadline), kAcceptSliceNs)));
        } catch (const TimeoutError&) {
            if (remaining(deadline) == 0) throw;
        }
    }
    if (m->type != static_cast<uint16_t>(MessageType::kHello) || !m->fds.empty()) {
        throw ProtocolError(std::string("expected a hello without fds, got ") + message_type_name(m->type));
    }
    const Hello hello = decode_hello(m->payload.data(), m->payload.size());

    // All but the last message go out without the lock, so a slow or silent peer never holds up
    // end_frame: frames published meanwhile are simply not its frames (it joins below, at the
    // frame current then, which its released timeline starts from).
    SenderInfo now;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        now = info_locked();
    }
    channel.send(kSenderInfoMessage, encode_sender_info(now), {}, remaining(deadline));
    if (!hello.subscribe) return;
    for (const auto& tex : ring_) {
        const MemoryHandle h = export_ring_texture(*device_, *tex);
        channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(h), {h.fd.get()},
                     remaining(deadline));
    }
    std::shared_ptr<Timeline> released =
        device_->create_shared_timeline(choice_for(ready_->kind()), now.current_frame);
    auto announce = [&](TimelineRole role) {
        TimelineHandle th = device_->export_timeline(role == TimelineRole::kReady ? *ready_ : *released);
        TimelineAnnounce a;
        a.role = role;
        a.kind = th.kind;
        const int fd = th.native_fd();
        if (th.kind == TimelineKind::kVulkan) a.semaphore = std::move(th.semaphore);
        channel.send(static_cast<uint16_t>(MessageType::kTimelineHandle), encode_timeline_announce(a), {fd},
                     remaining(deadline));
        // `th` (or `a.semaphore`) still owns the fd; it is closed when they go out of scope.
    };
    announce(TimelineRole::kReady);
    // The last message goes under the lock, with the subscription added at once: a subscriber
    // whose connect has returned is one end_frame announces to. It is one small message on a
    // socket whose queue holds far more than a handshake, so the lock is not held for long.
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.stop.load()) throw PeerGoneError("the sender is closing");
    // Frames published since SenderInfo went out count as released by this subscriber.
    const uint64_t first = frame_.load();
    if (first > released->value()) released->signal(first);
    announce(TimelineRole::kReleased);
    st.subs.push_back(std::make_shared<Subscription>(std::move(channel), std::move(released), hello.pid,
                                                     hello.client, first));
}

size_t Sender::subscribers() const {
    if (!state_ || !state_->in_owner_process()) return 0;
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->subs.size();
}

SenderInfo Sender::info() const {
    require_open("describe the sender");
    std::lock_guard<std::mutex> lock(state_->mutex);
    return info_locked();
}

SenderInfo Sender::info_locked() const {
    SenderInfo i;
    i.name = name_;
    i.producer_pid = static_cast<uint32_t>(state_->owner_pid);
    i.ring_size = static_cast<uint32_t>(ring_.size());
    i.width = descriptor_.width;
    i.height = descriptor_.height;
    i.vk_format = ring_[0]->vk_format();
    i.texture_format = descriptor_.format;
    i.texture_usage = descriptor_.usage;
    i.sync_kind = ready_->kind();
    i.current_frame = frame_.load();
    i.subscribers = static_cast<uint32_t>(state_->subs.size());
    i.device_uuid = device_->info().device_uuid;
    i.driver_uuid = device_->info().driver_uuid;
    return i;
}

// ---- frames ----------------------------------------------------------------------------------

void Sender::wait_released(uint64_t value, uint64_t timeout_ns) {
    State& st = *state_;
    const uint64_t deadline = deadline_after(timeout_ns);
    std::vector<std::shared_ptr<Subscription>> subs;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        subs = st.subs;
    }
    for (const auto& sub : subs) {
        if (sub->first_frame >= value) continue;  // joined after that frame was published
        for (;;) {
            const uint64_t left = remaining(deadline);
            {
                std::lock_guard<std::mutex> lock(st.mutex);
                if (st.stop.load()) return;  // closed meanwhile: begin_frame refuses
                if (std::find(st.subs.begin(), st.subs.end(), sub) == st.subs.end()) break;  // dropped meanwhile
                if (sub->dead()) {
                    st.drop(sub);
                    break;
                }
            }
            try {
                // With no time left this still checks once: a subscriber that has released is
                // kept, however long the ones before it took.
                sub->released->wait(value, std::min(left, kReleaseSliceNs));
                break;
            } catch (const TimeoutError&) {
                if (left == 0) {
                    std::lock_guard<std::mutex> lock(st.mutex);
                    st.drop(sub);
                    break;
                }
                continue;
            } catch (const Error&) {
                // Its released timeline is unusable (marked abandoned, say): that subscriber is
                // dropped, and the producer goes on serving the others.
                std::lock_guard<std::mutex> lock(st.mutex);
                st.drop(sub);
                break;
            }
        }
    }
}

Sender::Frame Sender::begin_frame(uint64_t timeout_ns) {
    require_open("begin a frame");
    if (pending_ != 0) {
        throw InvalidArgumentError("frame " + std::to_string(pending_) + " was begun and not ended");
    }
    const uint64_t number = frame_.load() + 1;
    const uint32_t slot = static_cast<uint32_t>((number - 1) % ring_.size());
    if (number > ring_.size()) {
        wait_released(number - ring_.size(), timeout_ns == kDefault ? options_.release_timeout_ns : timeout_ns);
        require_open("begin a frame");  // close() may have run while it waited
    }
    pending_ = number;
    Frame f;
    f.number = number;
    f.slot = slot;
    f.texture = ring_[slot];
    f.layout = f.texture->external_layout();
    f.ready = ready_.get();
    f.ready_semaphore = ready_->semaphore() ? ready_->semaphore()->vk_semaphore() : VK_NULL_HANDLE;
    return f;
}

void Sender::abandon_frame(const Frame& frame) {
    require_open("abandon a frame");
    if (frame.number != pending_ || pending_ == 0) {
        throw InvalidArgumentError("abandon_frame takes the frame begin_frame returned");
    }
    pending_ = 0;
}

void Sender::end_frame(const Frame& frame, ReadySignal ready) {
    require_open("end a frame");
    if (frame.number != pending_ || pending_ == 0) {
        throw InvalidArgumentError("end_frame takes the frame begin_frame returned (frame " +
                                   std::to_string(pending_) + " is pending, got " + std::to_string(frame.number) + ")");
    }
    if (ready == ReadySignal::kGpu && ready_->kind() != TimelineKind::kVulkan) {
        throw InvalidArgumentError(
            "ReadySignal::kGpu needs a Vulkan ready timeline; this sender's is portable, which only the host "
            "signals: wait for your GPU work, then end_frame with ReadySignal::kHost");
    }
    if (ready == ReadySignal::kHost) ready_->signal(frame.number);
    // The slot follows from the number (begin_frame's rule); the caller's copy is not trusted.
    const uint32_t slot = static_cast<uint32_t>((frame.number - 1) % ring_.size());
    const std::vector<uint8_t> payload = encode_frame_message(FrameMessage{frame.number, slot});
    State& st = *state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    frame_.store(frame.number);
    pending_ = 0;
    // One deadline bounds the whole announcement, however many subscribers there are.
    const uint64_t deadline = deadline_after(options_.send_timeout_ns);
    for (size_t i = st.subs.size(); i-- > 0;) {
        const auto sub = st.subs[i];
        try {
            sub->channel.send(static_cast<uint16_t>(MessageType::kFrame), payload, {}, remaining(deadline));
        } catch (const Error&) {
            st.drop(sub);
        }
    }
}

uint64_t Sender::publish(VkImageAspectFlagBits aspect, const void* data, size_t size, uint64_t timeout_ns) {
    Frame f = begin_frame(timeout_ns);
    try {
        // upload() returns once the copy has completed, so the host may signal "ready".
        f.texture->upload(aspect, data, size);
    } catch (...) {
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
        // A fork() child's copy: the parent's accept thread does not exist here, and its mutex may
        // have been held at fork(). Close the child's copies of the sockets only; nothing is sent
        // to the parent's subscribers and its timeline is left alone.
        for (auto& sub : st.subs) sub->channel.close();
        (void)st.thread.release();
        return;
    }
    st.stop.store(true);
    if (st.thread && st.thread->joinable()) st.thread->join();
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        const uint64_t deadline = deadline_after(kGoodbyeTimeoutNs);
        for (const auto& sub : st.subs) {
            try {
                sub->channel.send(static_cast<uint16_t>(MessageType::kGoodbye), {}, {}, remaining(deadline));
            } catch (const Error&) {
                // Gone already, or not reading: it learns from the closed socket instead.
            }
            sub->channel.close();
        }
        st.subs.clear();
    }
    ready_->mark_abandoned();
    // The socket goes now (the Listener unlinks it); the rest of the state stays until the Sender
    // is destroyed, so a thread still in subscribers() or a release wait never sees it freed.
    { Listener gone = std::move(st.listener); }
}

}  // namespace geyser
