// Cross-process channels (Linux): Unix domain SOCK_SEQPACKET sockets that carry wire.hpp frames
// and pass file descriptors with SCM_RIGHTS. SOCK_SEQPACKET keeps message boundaries, so one
// sendmsg is exactly one frame and a receiver never has to reassemble a stream.
//
// Sockets live only in the filesystem (no abstract namespace), normally under runtime_dir(),
// which is a directory private to this user.
#pragma once

#include <chrono>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "geyser/memory.hpp"
#include "geyser/sync.hpp"
#include "geyser/timeline.hpp"
#include "geyser/unique_fd.hpp"
#include "geyser/wire.hpp"

namespace geyser {

/// Pass as a timeout to wait without limit (the same convention as Vulkan's waits).
constexpr std::chrono::nanoseconds kInfiniteTimeout = std::chrono::nanoseconds::max();
/// How long send() waits for the peer to drain its queue unless told otherwise: 10 s.
constexpr std::chrono::nanoseconds kDefaultSendTimeout = std::chrono::seconds(10);

/// Who is on the other end of a socket, as the kernel recorded it at connect() or socketpair()
/// time (SO_PEERCRED).
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

/// One end of a connected SOCK_SEQPACKET Unix socket. Move-only owner of the socket: the
/// destructor (or close()) closes it, after which the peer's receive() reports PeerGoneError.
/// A moved-from or closed Channel throws InvalidHandleError from every operation.
/// Thread-safety: one thread may send() while another receive()s; two concurrent send() calls,
/// or two concurrent receive() calls, need external locking.
class Channel {
public:
    Channel(Channel&&) noexcept = default;
    Channel& operator=(Channel&&) noexcept = default;
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;
    ~Channel() = default;

    /// Two connected ends (socketpair), for threads, tests, or handing one end to a child
    /// process. Both are close-on-exec.
    static std::pair<Channel, Channel> pair();

    /// Connects to a Listener bound at `path`. While nothing listens there yet (no such file,
    /// ECONNREFUSED) or its backlog is full, retries with back-off until `timeout` has passed,
    /// then throws TimeoutError naming the last errno. Throws InvalidArgumentError for a path
    /// sockaddr_un cannot hold, OsError for other failures (EACCES, not a socket, ...).
    /// `wait_for_listener` false: no such file or ECONNREFUSED is PeerGoneError at once (a
    /// full backlog is still waited for), for asking what is there without waiting for it.
    static Channel connect(const std::string& path, std::chrono::nanoseconds timeout, bool wait_for_listener = true);

    /// Takes ownership of an already connected AF_UNIX SOCK_SEQPACKET socket (one end of a
    /// socketpair a parent passed down, say) and switches it to blocking mode. Throws
    /// InvalidHandleError if `socket` is not such a socket; it is closed in that case.
    static Channel adopt(UniqueFd socket);

    /// Sends one frame. `borrowed_fds` stay owned by the caller: the kernel installs duplicates in
    /// the peer. Waits at most `timeout` for room in the peer's queue (TimeoutError; 0 means
    /// "only if there is room now"). Throws InvalidArgumentError for more than kMaxPayloadSize
    /// bytes or kMaxFdsPerMessage fds, InvalidHandleError for an fd that is not open,
    /// PeerGoneError when the peer has closed (never SIGPIPE).
    void send(uint16_t type, const std::vector<uint8_t>& payload, const std::vector<int>& borrowed_fds,
              std::chrono::nanoseconds timeout = kDefaultSendTimeout);

    /// Waits at most `timeout` for the next frame (TimeoutError; 0 polls once) and returns it
    /// with the fds that came with it, which the Message owns (close-on-exec). Throws
    /// PeerGoneError when the peer closed the channel (after every frame it sent has been
    /// received), ProtocolError for a frame that breaks the wire format, including a header
    /// fd_count that differs from the fds that arrived, or more fds than kMaxFdsPerMessage. A
    /// malformed frame is consumed whole, and every fd it carried is closed before the throw.
    Message receive(std::chrono::nanoseconds timeout);

    /// The peer's pid/uid/gid (SO_PEERCRED). For a socketpair, the process that created it.
    PeerCredentials peer_credentials() const;

    /// Closes the socket now; later operations throw InvalidHandleError.
    void close() noexcept { socket_.reset(); }
    bool is_open() const noexcept { return socket_.valid(); }
    /// The socket fd, borrowed (for poll/epoll/asyncio readiness); do not close it or read from it.
    int native_handle() const noexcept { return socket_.get(); }

private:
    friend class Listener;
    explicit Channel(UniqueFd socket) noexcept : socket_(std::move(socket)) {}
    int require_open(const char* operation) const;

    UniqueFd socket_;
    // Reused between receives; sized for the largest legal frame so truncation means "too big".
    std::vector<uint8_t> receive_buffer_;
};

/// A bound, listening SOCK_SEQPACKET socket at a filesystem path. Move-only owner of the socket
/// and of the path: the destructor closes the socket and unlinks the path, but only in the
/// process that bound it (not in a fork()ed child) and only if the file there is still the one it
/// created. Not thread-safe.
class Listener {
public:
    Listener(Listener&& other) noexcept;
    Listener& operator=(Listener&& other) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();

    /// Binds and listens at `path`. A socket file left there by a process that died (connecting
    /// to it gives ECONNREFUSED) is stale: it is unlinked and replaced. Throws OsError with
    /// EADDRINUSE when something is listening there, InvalidArgumentError when the path is not a
    /// socket file, is empty, or is too long for sockaddr_un. The liveness probe is a real
    /// connect(), so a live listener at `path` will accept one connection that closes at once.
    /// `allow_other_users` lifts only accept()'s uid check; filesystem permissions still decide
    /// who can reach the path at all (runtime_dir() is mode 0700, so nobody else can).
    static Listener bind(const std::string& path, bool allow_other_users = false);

    /// Waits at most `timeout` for a peer (TimeoutError; 0 polls once). A peer whose uid
    /// (SO_PEERCRED) differs from our effective uid is refused unless allow_other_users was set:
    /// its connection is closed and OsError(EACCES) is thrown. The Listener stays usable after
    /// either error.
    Channel accept(std::chrono::nanoseconds timeout);

    const std::string& path() const noexcept { return path_; }
    /// The listening fd, borrowed (readable when a peer is waiting); do not close it.
    int native_handle() const noexcept { return socket_.get(); }

private:
    Listener() = default;
    void unlink_path() noexcept;

    UniqueFd socket_;
    // Empty once moved from: then there is no path to unlink.
    std::string path_;
    // Identity of the socket file bind() created, so the destructor never unlinks a file that
    // another process put at the same path after ours was removed.
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    pid_t owner_pid_ = 0;
    bool allow_other_users_ = false;
};

/// The directory Geyser's sockets live in: $XDG_RUNTIME_DIR/geyser when XDG_RUNTIME_DIR names a
/// private directory (not a symlink, ours, mode 0700: nobody else can rename or replace what is
/// in it), else /tmp/geyser-<euid>. Created with mode 0700 if missing.
/// Throws OsError when it exists but is a symlink or not a directory, is owned by another user,
/// or has a mode other than exactly 0700 (the message says which and how to fix it).
/// Thread-safe.
std::string runtime_dir();

// ---- handles ----------------------------------------------------------------------------------
// One frame per handle, in the wire layer's encoding (wire.hpp) with the fd beside it: a
// MemoryHandle as kMemoryHandle, a semaphore's or fence's SyncHandle as kSyncHandle, a
// TimelineHandle as kTimelineHandle. The receiver either takes whichever handle comes (the
// AnyHandle overload, what Python's geyser.receive_handle uses) or demands one type
// (receive_handle<MemoryHandle>, ...). Thread-safety: as Channel::send and Channel::receive.

/// Sends `handle` as a kMemoryHandle frame: its description plus its fd (borrowed; the handle
/// keeps it). Throws InvalidHandleError when the handle has no fd, InvalidArgumentError when the
/// description is invalid, otherwise as Channel::send.
void send_handle(Channel& channel, const MemoryHandle& handle, std::chrono::nanoseconds timeout = kDefaultSendTimeout);

/// Sends a semaphore's or fence's `handle` as a kSyncHandle frame: its description plus its fd
/// (borrowed), or no fd for an already-signalled sync FD. Throws InvalidHandleError when a handle
/// that is not already signalled has no fd (or one that is has one), InvalidArgumentError when
/// the description is invalid, otherwise as Channel::send.
void send_handle(Channel& channel, const SyncHandle& handle, std::chrono::nanoseconds timeout = kDefaultSendTimeout);

/// Sends `handle` as a kTimelineHandle frame: its kind (and a Vulkan timeline's semaphore
/// description) plus its fd (borrowed). Throws InvalidHandleError when the handle holds no fd or
/// holds it in the wrong place for its kind, InvalidArgumentError when the description is
/// invalid, otherwise as Channel::send.
void send_handle(Channel& channel, const TimelineHandle& handle, std::chrono::nanoseconds timeout = kDefaultSendTimeout);

/// A handle as it came off a channel: exactly one of the three, owning the fd that came with it.
/// Move-only.
using AnyHandle = std::variant<MemoryHandle, SyncHandle, TimelineHandle>;

/// Receives the next frame, which must be a handle frame (kMemoryHandle, kSyncHandle or
/// kTimelineHandle) with the fds its type carries (one; none for an already-signalled sync FD),
/// and decodes it with that type's codec; the returned handle owns the fd. Throws ProtocolError
/// for any other frame or fd count (its fds are closed), otherwise as Channel::receive and the
/// decoder.
AnyHandle receive_handle(Channel& channel, std::chrono::nanoseconds timeout);

/// As above, but the frame must carry a `Handle` (MemoryHandle, SyncHandle or TimelineHandle):
/// ProtocolError naming the type that came instead (its fds are closed).
template <typename Handle>
Handle receive_handle(Channel& channel, std::chrono::nanoseconds timeout);

extern template MemoryHandle receive_handle<MemoryHandle>(Channel&, std::chrono::nanoseconds);
extern template SyncHandle receive_handle<SyncHandle>(Channel&, std::chrono::nanoseconds);
extern template TimelineHandle receive_handle<TimelineHandle>(Channel&, std::chrono::nanoseconds);

}  // namespace geyser
