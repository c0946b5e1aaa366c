// Windows only: cross-process channels over named pipes (\\.\pipe\geyser-NAME) that carry the same
// wire.hpp frames as the Unix-socket Channel, and pass Win32 handles the way Windows documents it:
// the sender DuplicateHandle()s each handle into the receiving process and sends the value the
// duplicate has there.
//
// On the pipe, a frame is exactly the bytes encode_frame() makes (16-byte header, payload), followed
// by header.fd_count little-endian u64 handle values: this trailer is the named pipe's counterpart
// of SCM_RIGHTS ancillary data. Each value names a handle that already belongs to the receiver.
// The receiver checks that every value is distinct and open before it takes ownership.
//
// Trust: a sender needs PROCESS_DUP_HANDLE on the receiver, which amounts to full control of it,
// so both ends must be the same user's processes. The pipe is created with the creating user as its
// owner and a DACL that admits only that user and SYSTEM; it rejects remote clients, and fails if
// another process already owns the name. The client checks the pipe's owner before it uses it.
//
// Handle ownership across a failure. Every trailer value names a handle that already exists in the
// receiver, so exactly one side must close it:
//   - the sender takes back (close_in) the duplicates whose 8 bytes it did not write whole, and
//     never those it did (only the receiver can know whether it read them);
//   - the receiver closes every value it read whole from a frame it cannot finish (a timeout or
//     peer loss mid-frame), and the good values of a complete frame it refuses (ProtocolError);
//   - close() (and the destructor) first receives and drops the frames that have fully arrived, as
//     long as the stream is in step, which closes their handles.
// What can still leak, until the receiving process exits (the handles stay in its table, unnamed):
//   - the values of a frame that had not fully arrived when its receive() stopped mid-frame, if the
//     sender then completed it (the rest stays in the pipe, which nobody reads any more);
//   - every value after a header that does not decode (bad magic, version or limits: ProtocolError),
//     since the frame's extent is then unknown;
//   - after a receive() stopped mid-frame, all frames behind it (the stream is out of step, so
//     close() cannot find their boundaries), and frames that had not fully arrived when close() ran.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "geyser/unique_handle.hpp"
#include "geyser/wire.hpp"

namespace geyser {

/// Pass as a timeout to wait without limit (the same value and meaning as channel.hpp's, which is
/// the POSIX header; the two are never compiled together).
constexpr std::chrono::nanoseconds kInfiniteTimeout = std::chrono::nanoseconds::max();
/// How long send() waits for the peer to drain the pipe unless told otherwise: 10 s.
constexpr std::chrono::nanoseconds kDefaultSendTimeout = std::chrono::seconds(10);

/// The pipe path for a channel name: "\\.\pipe\geyser-" + name. Names are 1 to 200 characters of
/// [A-Za-z0-9._-]; anything else throws InvalidArgumentError. Thread-safety: a pure function of its
/// argument; safe to call from any thread.
std::string pipe_path(const std::string& name);

/// One received frame. Move-only: it owns the handles that arrived with it and closes any that the
/// caller does not move out.
struct PipeMessage {
    uint16_t type = 0;
    std::vector<uint8_t> payload;
    std::vector<UniqueHandle> handles;
};

/// One end of a connected named pipe. Move-only owner of the pipe and of a handle to the peer
/// process (PROCESS_DUP_HANDLE): the destructor (or close(), or being moved onto) closes both,
/// after which the peer's receive() reports PeerGoneError. A moved-from or closed PipeChannel
/// throws InvalidHandleError. Thread-safety: one thread may send() while another receive()s; two
/// concurrent send() calls, or two concurrent receive() calls, need external locking; close(), the
/// destructor and move assignment must not overlap any other call.
class PipeChannel {
public:
    PipeChannel(PipeChannel&&) noexcept = default;
    /// Closes this channel as close() does, then takes `other`'s.
    PipeChannel& operator=(PipeChannel&& other) noexcept;
    PipeChannel(const PipeChannel&) = delete;
    PipeChannel& operator=(const PipeChannel&) = delete;
    /// As close().
    ~PipeChannel();

    /// Connects to a PipeListener named `name`. While no listener exists yet, or all its instances
    /// are busy, retries until `timeout` has passed, then throws TimeoutError. Before anything
    /// else, checks that the pipe's owner is this process's user (GetSecurityInfo): a pipe owned by
    /// anyone else (another user's process squatting the name) throws ProtocolError. Throws
    /// Win32Error when the owner cannot be read or the server process cannot be opened for handle
    /// duplication.
    static PipeChannel connect(const std::string& name, std::chrono::nanoseconds timeout);

    /// Sends one frame. `handles` are borrowed: each is duplicated into the peer process, and the
    /// caller keeps its own. On failure the duplicates that never reached the pipe whole are closed
    /// in the peer again (the rest are the receiver's: see the top of this header). After a send
    /// stopped mid-frame (some bytes written, then a timeout or error) the stream is out of step,
    /// and every later send() throws ProtocolError. Throws InvalidArgumentError (payload or handle
    /// count over the wire limits), InvalidHandleError (a handle that is not open), TimeoutError,
    /// PeerGoneError, Win32Error.
    void send(uint16_t type, const std::vector<uint8_t>& payload, const std::vector<NativeHandle>& handles = {},
              std::chrono::nanoseconds timeout = kDefaultSendTimeout);

    /// Receives one frame, waiting at most `timeout` (kInfiniteTimeout: no limit). Throws
    /// TimeoutError when nothing arrived in time (the channel stays usable), PeerGoneError when the
    /// peer closed its end, ProtocolError for a malformed frame or handle value. After a frame was
    /// only partly received (timeout or error mid-frame) the stream is out of step, and every
    /// later receive() throws ProtocolError; the handle values that had arrived whole are closed.
    PipeMessage receive(std::chrono::nanoseconds timeout);

    /// The peer's process id, as the pipe reported it at connect time.
    uint32_t peer_pid() const noexcept { return peer_pid_; }
    bool is_open() const noexcept { return pipe_.valid(); }
    /// Closes the pipe and the peer process handle. Idempotent. While the receive stream is in
    /// step, it first receives and drops the frames that have already fully arrived (without
    /// waiting for more), so that the handles they carry are closed rather than leaked.
    void close() noexcept;

private:
    friend class PipeListener;
    PipeChannel(UniqueHandle pipe, uint32_t peer_pid, UniqueHandle peer_process);
    void require_open() const;
    void drain_complete_frames() noexcept;

    UniqueHandle pipe_;
    UniqueHandle peer_process_;
    UniqueHandle read_event_;
    UniqueHandle write_event_;
    uint32_t peer_pid_ = 0;
    bool receive_broken_ = false;
    bool send_broken_ = false;
};

/// Owns the server side of a pipe name: one waiting pipe instance at a time. Move-only; the
/// destructor closes the waiting instance (channels already accepted stay open). Not thread-safe.
class PipeListener {
public:
    PipeListener(PipeListener&&) noexcept = default;
    PipeListener& operator=(PipeListener&&) noexcept = default;
    PipeListener(const PipeListener&) = delete;
    PipeListener& operator=(const PipeListener&) = delete;
    ~PipeListener() = default;

    /// Creates the pipe `name` (pipe_path(name)). Throws InvalidArgumentError for a bad name and
    /// Win32Error (ERROR_ACCESS_DENIED) when another process already serves that name.
    static PipeListener create(const std::string& name);

    /// Waits at most `timeout` for a client and returns the connected channel. A client that
    /// connects and closes again before it is accepted is skipped (its instance is disconnected and
    /// listens again). Throws TimeoutError (the listener stays usable) or Win32Error. If the
    /// previous accept() could not create the next pipe instance, this one throws that Win32Error
    /// at once, and the accept() after it tries again.
    PipeChannel accept(std::chrono::nanoseconds timeout);

    const std::string& name() const noexcept { return name_; }

private:
    PipeListener(std::string name, UniqueHandle instance);

    std::string name_;
    UniqueHandle instance_;
    UniqueHandle connect_event_;
    std::exception_ptr next_instance_error_;  // why the last accept() has no next instance
};

}  // namespace geyser
