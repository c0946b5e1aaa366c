#include "geyser/channel.hpp"

#include "fault.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"
#include "../timeout.hpp"

namespace geyser {

namespace {

using Clock = std::chrono::steady_clock;

// Room for exactly kMaxFdsPerMessage descriptors in one SCM_RIGHTS message. The kernel installs
// only as many as fit and sets MSG_CTRUNC for the rest, which is how "too many fds" is detected.
constexpr size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage);

// A timeout in nanoseconds, turned into a point on the monotonic clock once, so that retries
// after EINTR or a lost race never extend the total wait.
class Deadline {
public:
    explicit Deadline(uint64_t timeout_ns) : timeout_ns_(timeout_ns) {
        // Beyond ~146 years steady_clock's int64 nanoseconds would overflow; treat it as forever.
        constexpr uint64_t kForever = static_cast<uint64_t>(INT64_MAX / 2);
        infinite_ = timeout_ns >= kForever;
        if (!infinite_) end_ = Clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(timeout_ns));
    }
    bool infinite() const noexcept { return infinite_; }
    uint64_t remaining_ns() const {
        if (infinite_) return UINT64_MAX;
        const auto left = end_ - Clock::now();
        return left.count() > 0 ? static_cast<uint64_t>(std::chrono::nanoseconds(left).count()) : 0;
    }
    std::string describe() const {
        if (timeout_ns_ % 1'000'000 == 0) return std::to_string(timeout_ns_ / 1'000'000) + " ms";
        return std::to_string(timeout_ns_ / 1000) + " us";
    }

private:
    uint64_t timeout_ns_;
    bool infinite_ = false;
    Clock::time_point end_{};
};

// Waits until `fd` reports one of `events` (or an error/hang-up, which the following call then
// reports). Returns false when the deadline passes first.
// The sleep is cut into interrupt slices (interrupt.hpp) while an interrupt check is installed.
bool wait_until(int fd, short events, const Deadline& deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        timespec ts{};
        timespec* tsp = nullptr;
        const uint64_t left = deadline.remaining_ns();
        const uint64_t slice = interrupt_slice_ns(left);
        if (!deadline.infinite() || slice != left) {
            ts.tv_sec = static_cast<time_t>(slice / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(slice % 1'000'000'000);
            tsp = &ts;
        }
        const int r = ::ppoll(&p, 1, tsp, nullptr);
        if (r < 0) {
            if (errno == EINTR) {
                check_interrupt();
                continue;
            }
            throw_errno("ppoll");
        }
        if (r == 0) {
            if (slice == left && !deadline.infinite()) return false;
            check_interrupt();
            if (!deadline.infinite() && deadline.remaining_ns() == 0) return false;
            continue;
        }
        if (p.revents & POLLNVAL) throw OsError(EBADF, "ppoll", "fd " + std::to_string(fd) + " is not open");
        return true;
    }
}

sockaddr_un make_address(const std::string& path, socklen_t& length) {
    if (path.empty()) throw InvalidArgumentError("socket path is empty");
    // A leading NUL would select Linux's abstract namespace, which has no permissions and no
    // owner; Geyser keeps every socket in a directory whose mode protects it.
    if (path.find('\0') != std::string::npos) {
        throw InvalidArgumentError("socket path contains a NUL byte (abstract-namespace sockets are not supported)");
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        throw InvalidArgumentError("socket path is " + std::to_string(path.size()) +
                                   " bytes; a Unix socket path holds at most " +
                                   std::to_string(sizeof(address.sun_path) - 1) + ": " + path);
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return address;
}

UniqueFd new_socket(int extra_flags) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | extra_flags, 0));
    if (!fd) throw_errno("socket(AF_UNIX, SOCK_SEQPACKET)");
    return fd;
}

void set_blocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) throw_errno("fcntl(F_GETFL)");
    if ((flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) throw_errno("fcntl(F_SETFL)");
}

PeerCredentials credentials_of(int fd) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) throw_errno("getsockopt(SO_PEERCRED)");
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

// Wraps every descriptor the kernel installed into owners before anything else can throw.
// Returns false if some control message other than SCM_RIGHTS arrived (nothing here asks for
// one, so that is a protocol violation, reported only after the fds are safely owned).
bool take_fds(msghdr& msg, std::vector<UniqueFd>& fds) {
    bool only_rights = true;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            only_rights = false;
            continue;
        }
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const auto* data = reinterpret_cast<const unsigned char*>(CMSG_DATA(c));
        for (size_t i = 0; i < n; ++i) {
            int fd = -1;
            std::memcpy(&fd, data + i * sizeof(int), sizeof(int));  // CMSG_DATA need not be int-aligned
            fds.emplace_back(fd);
        }
    }
    return only_rights;
}

// True when the peer has shut the connection down (as opposed to sending an empty datagram,
// which recvmsg also reports as 0 bytes).
bool peer_hung_up(int fd) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) < 0) return false;
    return (p.revents & (POLLHUP | POLLRDHUP)) != 0;
}

// Creates `dir` (mode 0700) if missing and checks it is a real directory we own with mode 0700
// exactly: sockets inside it are reachable by anyone who can search it, so the mode is the only
// access control they have.
void ensure_private_dir(const std::string& dir, uid_t uid) {
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir", dir);
    // O_NOFOLLOW: a symlink planted at the name (in /tmp anyone can create one) must not redirect
    // our sockets into a directory someone else controls.
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            throw OsError(err, "runtime_dir",
                          dir + " is a symlink or not a directory; Geyser needs a real directory there that "
                                "you own with mode 0700 (remove it and retry)");
        }
        throw OsError(err, "open", dir);
    }
    struct stat st {};
    if (::fstat(d.get(), &st) < 0) throw_errno("fstat", dir);
    if (st.st_uid != uid) {
        throw OsError(EACCES, "runtime_dir",
                      dir + " is owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                          std::to_string(uid) + " (someone else created it; remove it or set XDG_RUNTIME_DIR)");
    }
    const mode_t mode = st.st_mode & 07777;
    if (mode == 0700) return;
    if ((mode & ~static_cast<mode_t>(0700)) == 0) {
        // Only owner bits are missing: mkdir's mode is filtered by the umask, so a umask such as
        // 0277 (ours, or that of a concurrent process that won the mkdir race) leaves 0500. Adding
        // owner bits to our own directory opens it to nobody else.
        if (::fchmod(d.get(), 0700) < 0) throw_errno("fchmod", dir);
        return;
    }
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode));
    throw OsError(EACCES, "runtime_dir",
                  dir + " has mode " + octal + ", expected 0700 exactly (run: chmod 700 " + dir + ")");
}

}  // namespace

// ---- Channel --------------------------------------------------------------------------------

int Channel::require_open(const char* operation) const {
    if (!socket_) throw InvalidHandleError(std::string("cannot ") + operation + ": the channel is closed");
    return socket_.get();
}

std::pair<Channel, Channel> Channel::pair() {
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) throw_errno("socketpair");
    return {Channel(UniqueFd(fds[0])), Channel(UniqueFd(fds[1]))};
}

Channel Channel::connect(const std::string& path, std::chrono::nanoseconds timeout, bool wait_for_listener) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    socklen_t length = 0;
    const sockaddr_un address = make_address(path, length);
    const Deadline deadline(timeout_ns);
    auto backoff = std::chrono::milliseconds(1);
    for (;;) {
        // Non-blocking: a blocking AF_UNIX connect would wait without limit on a full backlog.
        UniqueFd fd = new_socket(SOCK_NONBLOCK);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0) {
            set_blocking(fd.get());
            return Channel(std::move(fd));
        }
        const int err = errno;
        // ENOENT/ECONNREFUSED: no listener (yet, or any more); EAGAIN: its backlog is full.
        if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN && err != EINTR) {
            throw OsError(err, "connect", path);
        }
        if (!wait_for_listener && (err == ENOENT || err == ECONNREFUSED)) {
            throw PeerGoneError("nothing listens at " + path + " (" + std::strerror(err) + ")");
        }
        const uint64_t left = deadline.remaining_ns();
        if (left == 0) {
            throw TimeoutError("could not connect to " + path + " within " + deadline.describe() + " (" +
                               std::strerror(err) + ")");
        }
        const auto pause = std::min<uint64_t>(static_cast<uint64_t>(std::chrono::nanoseconds(backoff).count()), left);
        std::this_thread::sleep_for(std::chrono::nanoseconds(pause));
        check_interrupt();
        backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    }
}

Channel Channel::adopt(UniqueFd socket) {
    if (!socket) throw InvalidHandleError("cannot adopt a channel: no socket fd given");
    int domain = 0;
    int type = 0;
    socklen_t len = sizeof(int);
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
        throw InvalidHandleError("cannot adopt fd " + std::to_string(socket.get()) + " as a channel: not a socket (" +
                                 std::strerror(errno) + ")");
    }
    len = sizeof(int);
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_TYPE, &type, &len) < 0) throw_errno("getsockopt(SO_TYPE)");
    if (domain != AF_UNIX || type != SOCK_SEQPACKET) {
        throw InvalidHandleError("cannot adopt fd " + std::to_string(socket.get()) +
                                 " as a channel: expected an AF_UNIX SOCK_SEQPACKET socket, found domain " +
                                 std::to_string(domain) + " type " + std::to_string(type));
    }
    sockaddr_un peer{};
    socklen_t peer_len = sizeof(peer);
    if (::getpeername(socket.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) < 0) {
        throw InvalidHandleError("cannot adopt fd " + std::to_string(socket.get()) +
                                 " as a channel: it is not connected (" + std::strerror(errno) + ")");
    }
    set_blocking(socket.get());
    return Channel(std::move(socket));
}

void Channel::send(uint16_t type, const std::vector<uint8_t>& payload, const std::vector<int>& borrowed_fds,
                   std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    const int fd = require_open("send");
    for (int f : borrowed_fds) {
        if (f < 0) throw InvalidHandleError("cannot send file descriptor " + std::to_string(f));
    }
    auto header = encode_header(type, payload.size(), borrowed_fds.size());

    iovec iov[2];
    iov[0].iov_base = header.data();
    iov[0].iov_len = header.size();
    iov[1].iov_base = const_cast<uint8_t*>(payload.data());  // sendmsg does not write through it
    iov[1].iov_len = payload.size();

    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = payload.empty() ? 1 : 2;
    alignas(cmsghdr) unsigned char control[kControlSize];
    std::memset(control, 0, sizeof(control));
    if (!borrowed_fds.empty()) {
        const size_t bytes = borrowed_fds.size() * sizeof(int);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(bytes);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(bytes);
        std::memcpy(CMSG_DATA(c), borrowed_fds.data(), bytes);
    }

    const size_t total = header.size() + payload.size();
    const Deadline deadline(timeout_ns);
    for (;;) {
        // MSG_NOSIGNAL: POSIX lets a send on a connection-mode socket whose peer is gone raise
        // SIGPIPE (Linux's AF_UNIX stream path does; its SEQPACKET path currently returns EPIPE
        // only). Either way a vanished peer must surface as PeerGoneError, never kill us.
        int flags = MSG_NOSIGNAL;
        // A blocking AF_UNIX sendmsg waits for the peer to drain its queue for up to SO_SNDTIMEO
        // (poll() cannot be used: it reports a connected SEQPACKET socket writable even when the
        // peer's queue is full). SO_SNDTIMEO of zero means "forever", so a zero wait is
        // MSG_DONTWAIT instead.
        const uint64_t left = deadline.remaining_ns();
        const uint64_t slice = interrupt_slice_ns(left);
        timeval tv{};
        if (!deadline.infinite() || slice != left) {
            if (slice == 0) {
                flags |= MSG_DONTWAIT;
            } else {
                const uint64_t us = std::max<uint64_t>(1, (slice + 999) / 1000);
                tv.tv_sec = static_cast<time_t>(us / 1'000'000);
                tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
            }
        }
        // MSG_DONTWAIT ignores SO_SNDTIMEO, so a send that must not wait (a frame announcement,
        // one per subscriber per frame) makes one syscall, not two.
        if ((flags & MSG_DONTWAIT) == 0 && ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
            throw_errno("setsockopt(SO_SNDTIMEO)");
        }

        const ssize_t n = fault::injected("sendmsg") ? (errno = EIO, -1) : ::sendmsg(fd, &msg, flags);
        if (n >= 0) {
            // SOCK_SEQPACKET sends a frame whole or not at all.
            if (static_cast<size_t>(n) != total) {
                throw ProtocolError("short send: " + std::to_string(n) + " of " + std::to_string(total) + " bytes");
            }
            return;
        }
        switch (errno) {
            case EINTR:
                check_interrupt();
                continue;
            case EAGAIN:
                if (slice != left && (deadline.infinite() || deadline.remaining_ns() > 0)) {
                    check_interrupt();
                    continue;
                }
                throw TimeoutError(std::string("peer did not accept a ") + message_type_name(type) + " message within " +
                                   deadline.describe() + " (its receive queue is full)");
            case EPIPE:
            case ECONNRESET:
            case ENOTCONN:
                throw PeerGoneError("peer closed the channel");
            case EBADF:
                // Our own socket was checked above, so the bad one is among the fds to pass.
                throw InvalidHandleError("cannot send: one of the file descriptors to pass is not open");
            default:
                throw_errno("sendmsg");
        }
    }
}

Message Channel::receive(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    const int fd = require_open("receive");
    receive_buffer_.resize(kFrameHeaderSize + kMaxPayloadSize);
    const Deadline deadline(timeout_ns);
    for (;;) {
        if (!wait_until(fd, POLLIN, deadline)) {
            throw TimeoutError("no message arrived on the channel within " + deadline.describe());
        }
        // Reserved before recvmsg so that wrapping the received fds cannot fail half-way (a
        // bad_alloc there would leak the fds not yet owned).
        Message message;
        message.fds.reserve(kMaxFdsPerMessage);
        iovec iov{receive_buffer_.data(), receive_buffer_.size()};
        alignas(cmsghdr) unsigned char control[kControlSize];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        // MSG_CMSG_CLOEXEC: received fds must not leak into a child that another thread
        // fork()s and exec()s before we could set FD_CLOEXEC ourselves.
        // MSG_DONTWAIT: another thread may have taken the message poll() saw.
        const ssize_t n =
            fault::injected("recvmsg") ? (errno = EIO, -1) : ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            const int err = errno;
            if (err == EAGAIN || err == EINTR) continue;
            if (err == ECONNRESET) throw PeerGoneError("peer closed the channel");
            throw OsError(err, "recvmsg");
        }

        const bool only_rights = take_fds(msg, message.fds);
        if (msg.msg_flags & MSG_CTRUNC) {
            throw ProtocolError("message carried more than " + std::to_string(kMaxFdsPerMessage) +
                                " file descriptors (MSG_CTRUNC); the " + std::to_string(message.fds.size()) +
                                " that arrived were closed");
        }
        if (!only_rights) throw ProtocolError("message carried an unexpected control message (not SCM_RIGHTS)");
        if (msg.msg_flags & MSG_TRUNC) {
            throw ProtocolError("message exceeds the largest frame (" + std::to_string(kFrameHeaderSize) +
                                "-byte header + " + std::to_string(kMaxPayloadSize) + "-byte payload)");
        }
        if (n == 0 && message.fds.empty()) {
            if (peer_hung_up(fd)) throw PeerGoneError("peer closed the channel");
            throw ProtocolError("received an empty message (no frame header)");
        }

        const auto size = static_cast<size_t>(n);
        const FrameHeader header = decode_header(receive_buffer_.data(), size);
        if (size - kFrameHeaderSize != header.payload_size) {
            throw ProtocolError(std::string(message_type_name(header.type)) + " frame: header declares a " +
                                std::to_string(header.payload_size) + "-byte payload, " +
                                std::to_string(size - kFrameHeaderSize) + " bytes arrived");
        }
        if (message.fds.size() != header.fd_count) {
            throw ProtocolError(std::string(message_type_name(header.type)) + " frame: header declares " +
                                std::to_string(header.fd_count) + " file descriptors, " +
                                std::to_string(message.fds.size()) + " arrived");
        }
        message.type = header.type;
        const auto begin = receive_buffer_.begin() + static_cast<std::ptrdiff_t>(kFrameHeaderSize);
        message.payload.assign(begin, begin + static_cast<std::ptrdiff_t>(header.payload_size));
        return message;
    }
}

PeerCredentials Channel::peer_credentials() const { return credentials_of(require_open("peer_credentials")); }

// ---- Listener -------------------------------------------------------------------------------

Listener::Listener(Listener&& other) noexcept
    : socket_(std::move(other.socket_)),
      path_(std::exchange(other.path_, {})),
      dev_(other.dev_),
      ino_(other.ino_),
      owner_pid_(other.owner_pid_),
      allow_other_users_(other.allow_other_users_) {}

Listener& Listener::operator=(Listener&& other) noexcept {
    if (this != &other) {
        unlink_path();
        socket_ = std::move(other.socket_);
        path_ = std::exchange(other.path_, {});
        dev_ = other.dev_;
        ino_ = other.ino_;
        owner_pid_ = other.owner_pid_;
        allow_other_users_ = other.allow_other_users_;
    }
    return *this;
}

Listener::~Listener() { unlink_path(); }

void Listener::unlink_path() noexcept {
    if (path_.empty()) return;
    // A fork()ed child (Python's multiprocessing, say) holds a copy of this object; its exit must
    // not take the name away from the parent that is still listening.
    if (::getpid() != owner_pid_) {
        path_.clear();
        return;
    }
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
    path_.clear();
}

Listener Listener::bind(const std::string& path, bool allow_other_users) {
    socklen_t length = 0;
    const sockaddr_un address = make_address(path, length);
    // Non-blocking so that accept() after a poll() cannot hang when the peer already went away.
    UniqueFd fd = new_socket(SOCK_NONBLOCK);
    const auto* addr = reinterpret_cast<const sockaddr*>(&address);

    if (::bind(fd.get(), addr, length) < 0) {
        if (errno != EADDRINUSE) throw_errno("bind", path);
        // The name exists. Only a socket file can be replaced, and only if nobody listens on it:
        // a socket whose owner died refuses connections (ECONNREFUSED) but its file remains.
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
            throw InvalidArgumentError(path + " exists and is not a socket; refusing to replace it");
        }
        UniqueFd probe = new_socket(SOCK_NONBLOCK);
        // ENOENT: the file vanished since bind() failed, which is as good as stale.
        const bool stale = ::connect(probe.get(), addr, length) < 0 && (errno == ECONNREFUSED || errno == ENOENT);
        probe.reset();
        if (!stale) {
            // Connected, backlog full (EAGAIN) or a live socket of another type (EPROTOTYPE):
            // somebody owns the name. Other errors (EACCES) also mean it is not ours to remove.
            throw OsError(EADDRINUSE, "bind", path + " is in use: another process is listening on it");
        }
        // Between this unlink and our bind another process could do the same; the loser's bind
        // then fails with EADDRINUSE below rather than silently displacing the winner.
        if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("unlink", "stale socket " + path);
        if (::bind(fd.get(), addr, length) < 0) {
            if (errno == EADDRINUSE) {
                throw OsError(EADDRINUSE, "bind", path + " is in use: another process bound it just now");
            }
            throw_errno("bind", path);
        }
    }

    Listener listener;
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) throw_errno("lstat", path);
    listener.path_ = path;
    listener.dev_ = st.st_dev;
    listener.ino_ = st.st_ino;
    listener.owner_pid_ = ::getpid();
    listener.allow_other_users_ = allow_other_users;
    listener.socket_ = std::move(fd);
    // From here the listener owns the path; a failing listen() unlinks it through ~Listener.
    if (::listen(listener.socket_.get(), SOMAXCONN) < 0) throw_errno("listen", path);
    return listener;
}

Channel Listener::accept(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    if (!socket_) throw InvalidHandleError("cannot accept: the listener is closed");
    const Deadline deadline(timeout_ns);
    for (;;) {
        // Accepted sockets do not inherit O_NONBLOCK on Linux; only SOCK_CLOEXEC is asked for.
        UniqueFd fd(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (fd) {
            const PeerCredentials peer = credentials_of(fd.get());
            const uid_t ours = ::geteuid();
            if (peer.uid != ours && !allow_other_users_) {
                throw OsError(EACCES, "accept",
                              "refused a peer on " + path_ + " running as uid " + std::to_string(peer.uid) +
                                  " (pid " + std::to_string(peer.pid) + "); this listener accepts only uid " +
                                  std::to_string(ours) + " unless bound with allow_other_users");
            }
            return Channel(std::move(fd));
        }
        const int err = errno;
        // ECONNABORTED: a peer gave up while queued; wait for the next one.
        if (err != EAGAIN && err != EINTR && err != ECONNABORTED) throw OsError(err, "accept4", path_);
        if (!wait_until(socket_.get(), POLLIN, deadline)) {
            throw TimeoutError("no peer connected to " + path_ + " within " + deadline.describe());
        }
    }
}

// ---- runtime directory ----------------------------------------------------------------------

std::string runtime_dir() {
    const uid_t uid = ::geteuid();
    std::string base;
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
        std::string candidate = xdg;
        while (candidate.size() > 1 && candidate.back() == '/') candidate.pop_back();
        struct stat st {};
        // "Usable" per the XDG Base Directory spec: a directory owned by us, with access for us
        // alone (the spec's 0700). One others can write lets them rename our geyser/ away and
        // put their own in its place between our check and our connect; lstat, so a symlink to
        // a directory is not taken for one.
        if (::lstat(candidate.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
            (st.st_mode & 0777) == 0700) {
            base = candidate + "/geyser";
        }
    }
    if (base.empty()) base = "/tmp/geyser-" + std::to_string(uid);
    ensure_private_dir(base, uid);
    return base;
}

// ---- handles --------------------------------------------------------------------------------

namespace {

// The one fd a handle frame carries (`optional`: or none), moved out of the message.
UniqueFd handle_fd(Message& m, bool optional) {
    if (m.fds.size() > 1 || (!optional && m.fds.empty())) {
        throw ProtocolError(std::string("a ") + message_type_name(m.type) + " message carries " +
                            (optional ? "at most one" : "exactly one") + " file descriptor, found " +
                            std::to_string(m.fds.size()));
    }
    return m.fds.empty() ? UniqueFd() : std::move(m.fds[0]);
}

// Which frame carries each handle type, and how it is decoded.
template <typename Handle>
struct HandleFrame;

template <>
struct HandleFrame<MemoryHandle> {
    static constexpr MessageType kType = MessageType::kMemoryHandle;
    static MemoryHandle decode(Message& m) {
        UniqueFd fd = handle_fd(m, false);
        return decode_memory_handle(m.payload.data(), m.payload.size(), std::move(fd));
    }
};

template <>
struct HandleFrame<SyncHandle> {
    static constexpr MessageType kType = MessageType::kSyncHandle;
    // decode_sync_handle decides whether the payload may come without its fd.
    static SyncHandle decode(Message& m) {
        UniqueFd fd = handle_fd(m, true);
        return decode_sync_handle(m.payload.data(), m.payload.size(), std::move(fd));
    }
};

template <>
struct HandleFrame<TimelineHandle> {
    static constexpr MessageType kType = MessageType::kTimelineHandle;
    static TimelineHandle decode(Message& m) {
        UniqueFd fd = handle_fd(m, false);
        return decode_timeline_handle(m.payload.data(), m.payload.size(), std::move(fd));
    }
};

std::string found(const Message& m) {
    return "found type " + std::to_string(m.type) + " (" + message_type_name(m.type) + ")";
}

}  // namespace

void send_handle(Channel& channel, const MemoryHandle& handle, std::chrono::nanoseconds timeout) {
    if (!handle.fd) throw InvalidHandleError("cannot send a memory handle without an fd (closed or moved from)");
    channel.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(handle), {handle.fd.get()},
                 timeout);
}

void send_handle(Channel& channel, const SyncHandle& handle, std::chrono::nanoseconds timeout) {
    if (handle.already_signaled) {
        if (handle.fd) {
            throw InvalidHandleError("an already-signalled sync handle stands for a payload without an fd, but this "
                                     "one holds fd " + std::to_string(handle.fd.get()));
        }
        channel.send(static_cast<uint16_t>(MessageType::kSyncHandle), encode_sync_handle(handle), {}, timeout);
        return;
    }
    if (!handle.fd) throw InvalidHandleError("cannot send a sync handle without an fd (closed or moved from)");
    channel.send(static_cast<uint16_t>(MessageType::kSyncHandle), encode_sync_handle(handle), {handle.fd.get()},
                 timeout);
}

void send_handle(Channel& channel, const TimelineHandle& handle, std::chrono::nanoseconds timeout) {
    const bool vulkan = handle.kind == TimelineKind::kVulkan;
    // A Vulkan timeline's fd is its semaphore's; a portable one's is its memfd (TimelineHandle).
    if ((vulkan ? handle.fd : handle.semaphore.fd).valid()) {
        throw InvalidHandleError(std::string("this ") + (vulkan ? "vulkan" : "portable") +
                                 " timeline handle holds an fd where its kind keeps none");
    }
    const int fd = handle.native_fd();
    if (fd < 0) throw InvalidHandleError("cannot send a timeline handle without an fd (closed or moved from)");
    channel.send(static_cast<uint16_t>(MessageType::kTimelineHandle), encode_timeline_handle(handle), {fd}, timeout);
}

AnyHandle receive_handle(Channel& channel, std::chrono::nanoseconds timeout) {
    Message message = channel.receive(timeout);
    switch (static_cast<MessageType>(message.type)) {
        case MessageType::kMemoryHandle: return HandleFrame<MemoryHandle>::decode(message);
        case MessageType::kSyncHandle: return HandleFrame<SyncHandle>::decode(message);
        case MessageType::kTimelineHandle: return HandleFrame<TimelineHandle>::decode(message);
        default: break;
    }
    throw ProtocolError("expected a handle message (memory_handle, sync_handle or timeline_handle), " + found(message));
}

template <typename Handle>
Handle receive_handle(Channel& channel, std::chrono::nanoseconds timeout) {
    Message message = channel.receive(timeout);
    constexpr auto expected = static_cast<uint16_t>(HandleFrame<Handle>::kType);
    if (message.type != expected) {
        throw ProtocolError(std::string("expected a ") + message_type_name(expected) + " message (type " +
                            std::to_string(expected) + "), " + found(message));
    }
    return HandleFrame<Handle>::decode(message);
}

template MemoryHandle receive_handle<MemoryHandle>(Channel&, std::chrono::nanoseconds);
template SyncHandle receive_handle<SyncHandle>(Channel&, std::chrono::nanoseconds);
template TimelineHandle receive_handle<TimelineHandle>(Channel&, std::chrono::nanoseconds);

}  // namespace geyser
