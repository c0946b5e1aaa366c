#include "geyser/pipe_channel.hpp"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "geyser/error.hpp"
#include "geyser/win32_error.hpp"
#include "../timeout.hpp"

namespace geyser {

namespace {

constexpr size_t kMaxNameSize = 200;
constexpr DWORD kPipeBufferSize = 64 * 1024;
constexpr size_t kHandleValueSize = 8;  // each trailer entry: one little-endian u64

class Deadline {
public:
    explicit Deadline(uint64_t timeout_ns)
        : infinite_(timeout_ns == UINT64_MAX),
          end_(infinite_ ? std::chrono::steady_clock::time_point::max()
                         : std::chrono::steady_clock::now() +
                               std::chrono::nanoseconds(std::min<uint64_t>(timeout_ns, INT64_MAX / 2))) {}

    /// Milliseconds left for a Win32 wait, rounded up so a short timeout still waits.
    DWORD remaining_ms() const {
        if (infinite_) return INFINITE;
        const auto left = end_ - std::chrono::steady_clock::now();
        if (left <= std::chrono::nanoseconds(0)) return 0;
        const auto ms = (std::chrono::duration_cast<std::chrono::nanoseconds>(left).count() + 999'999) / 1'000'000;
        return static_cast<DWORD>(std::min<long long>(ms, INFINITE - 1));
    }
    bool expired() const { return !infinite_ && std::chrono::steady_clock::now() >= end_; }

private:
    bool infinite_;
    std::chrono::steady_clock::time_point end_;
};

std::wstring widen_ascii(const std::string& s) { return std::wstring(s.begin(), s.end()); }

[[noreturn]] void throw_io_error(DWORD err, const char* call) {
    switch (err) {
        case ERROR_BROKEN_PIPE:
        case ERROR_NO_DATA:
        case ERROR_PIPE_NOT_CONNECTED:
            throw PeerGoneError(std::string(call) + ": the process on the other end of the pipe has closed it");
        default:
            throw Win32Error(err, call);
    }
}

UniqueHandle make_event() {
    // Manual-reset: GetOverlappedResult and the waits below must see the completion, not consume it.
    HANDLE e = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (e == nullptr) throw_last_error("CreateEventW");
    return UniqueHandle(e);
}

// Cancels an operation still pending on `ov` and waits until the system is done with it, so that
// the stack OVERLAPPED may go. Returns the bytes it moved before it stopped; *err is ERROR_SUCCESS
// when it completed after all, else its error (ERROR_OPERATION_ABORTED when the cancel took).
size_t cancel_and_finish(HANDLE h, OVERLAPPED* ov, DWORD* err) {
    CancelIoEx(h, ov);
    DWORD moved = 0;
    if (GetOverlappedResult(h, ov, &moved, TRUE)) {
        *err = ERROR_SUCCESS;
        return moved;
    }
    *err = GetLastError();
    // A cancelled pipe write (or read) may have moved some bytes; the count is in InternalHigh.
    return static_cast<size_t>(ov->InternalHigh);
}

// What one overlapped ReadFile or WriteFile did. Nothing is pending on return, whatever happened.
struct IoOutcome {
    size_t moved = 0;              // bytes moved, also when the operation then failed or timed out
    bool timed_out = false;        // the deadline passed and the operation was cancelled
    DWORD error = ERROR_SUCCESS;   // otherwise, the failure
    const char* call = nullptr;    // the call that failed
};

// One overlapped ReadFile or WriteFile bounded by `deadline`. Never throws: the caller decides what
// a failure means, since only it knows whether a frame was under way.
IoOutcome overlapped_io(HANDLE pipe, HANDLE event, bool write, uint8_t* data, size_t size, const Deadline& deadline) {
    IoOutcome out;
    out.call = write ? "WriteFile" : "ReadFile";
    OVERLAPPED ov{};
    ov.hEvent = event;
    ResetEvent(event);
    const DWORD len = static_cast<DWORD>(std::min<size_t>(size, kPipeBufferSize));
    const BOOL started = write ? WriteFile(pipe, data, len, nullptr, &ov) : ReadFile(pipe, data, len, nullptr, &ov);
    if (!started) {
        const DWORD err = GetLastError();
        if (err != ERROR_IO_PENDING) {  // failed at once: nothing is pending
            out.error = err;
            return out;
        }
        const DWORD waited = WaitForSingleObject(event, deadline.remaining_ms());
        if (waited != WAIT_OBJECT_0) {
            // A timeout or a failed wait. The OVERLAPPED lives on this stack frame, so the operation
            // must be finished (or cancelled) before returning; it may have moved bytes meanwhile.
            const DWORD wait_err = waited == WAIT_FAILED ? GetLastError() : ERROR_INVALID_FUNCTION;
            DWORD io_err = ERROR_SUCCESS;
            out.moved = cancel_and_finish(pipe, &ov, &io_err);
            if (waited == WAIT_TIMEOUT) {
                if (io_err == ERROR_OPERATION_ABORTED) {
                    out.timed_out = true;
                } else {
                    out.error = io_err;  // ERROR_SUCCESS when it completed after all
                }
            } else {
                out.error = wait_err;
                out.call = "WaitForSingleObject";
            }
            return out;
        }
    }
    DWORD moved = 0;
    if (!GetOverlappedResult(pipe, &ov, &moved, FALSE)) {
        out.error = GetLastError();
        out.moved = static_cast<size_t>(ov.InternalHigh);
        return out;
    }
    out.moved = moved;
    return out;
}

// Moves exactly `size` bytes; *done counts the bytes moved, also when this throws. Returns false
// (nothing moved) on a timeout before the first byte; a timeout after it throws TimeoutError. Any
// failure once a byte has moved sets *partial: the stream is out of step.
bool transfer_exact(HANDLE pipe, HANDLE event, bool write, uint8_t* data, size_t size, const Deadline& deadline,
                    size_t* done, bool* partial) {
    *done = 0;
    while (*done < size) {
        const IoOutcome r = overlapped_io(pipe, event, write, data + *done, size - *done, deadline);
        *done += r.moved;
        if (!r.timed_out && r.error == ERROR_SUCCESS) continue;
        if (*done == size) return true;  // every byte moved before the failure took
        if (*done > 0) *partial = true;
        if (r.timed_out) {
            if (*done == 0) return false;
            throw TimeoutError(std::string(write ? "send" : "receive") + ": timed out after " + std::to_string(*done) +
                               " of " + std::to_string(size) + " bytes of a frame");
        }
        throw_io_error(r.error, r.call);
    }
    return true;
}

// The current user's SID (TokenUser), in a buffer that holds a TOKEN_USER.
class UserSid {
public:
    UserSid() {
        HANDLE token = nullptr;
        if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) throw_last_error("OpenProcessToken");
        UniqueHandle token_owner(token);
        DWORD size = 0;
        GetTokenInformation(token, TokenUser, nullptr, 0, &size);
        buffer_.resize(size);
        if (size == 0 || !GetTokenInformation(token, TokenUser, buffer_.data(), size, &size)) {
            throw_last_error("GetTokenInformation(TokenUser)");
        }
    }
    PSID get() const { return reinterpret_cast<const TOKEN_USER*>(buffer_.data())->User.Sid; }

private:
    std::vector<uint8_t> buffer_;
};

std::string sid_text(PSID sid) {
    wchar_t* text = nullptr;
    if (!ConvertSidToStringSidW(sid, &text)) return "(unprintable SID)";
    std::string out;
    for (const wchar_t* c = text; *c != 0; ++c) out.push_back(static_cast<char>(*c));  // S-1-5-...: ASCII
    LocalFree(text);
    return out;
}

// The client's check that the pipe it opened is served by this user: the server sets itself as the
// pipe's owner (PipeSecurity below), and a pipe name squatted by another user's process has that
// user (or its default owner) as owner instead. Throws ProtocolError when the owners differ.
void require_owned_by_this_user(HANDLE pipe, const std::string& path) {
    PSID owner = nullptr;
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    const DWORD err =
        GetSecurityInfo(pipe, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner, nullptr, nullptr, nullptr, &descriptor);
    if (err != ERROR_SUCCESS) throw Win32Error(err, "GetSecurityInfo(OWNER)", path);
    const UserSid user;
    const bool same = owner != nullptr && EqualSid(owner, user.get());
    const std::string owner_text = owner != nullptr ? sid_text(owner) : std::string("no owner");
    LocalFree(descriptor);
    if (!same) {
        throw ProtocolError("connect: " + path + " is owned by " + owner_text + ", not by this user (" +
                            sid_text(user.get()) + "); refusing a server that another user may run");
    }
}

// A security descriptor that makes the current user the pipe's owner (the client checks that) and
// admits only that user and SYSTEM (the default DACL grants read access to everyone, who could then
// read frames).
struct PipeSecurity {
    SECURITY_ATTRIBUTES attributes{};
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    PipeSecurity() {
        const UserSid user;
        wchar_t* sid = nullptr;
        if (!ConvertSidToStringSidW(user.get(), &sid)) throw_last_error("ConvertSidToStringSidW");
        // O: = owner (otherwise an elevated process's pipes are owned by Administrators);
        // D:P = protected DACL; GA = generic all; SY = LocalSystem.
        const std::wstring sddl =
            L"O:" + std::wstring(sid) + L"D:P(A;;GA;;;" + std::wstring(sid) + L")(A;;GA;;;SY)";
        LocalFree(sid);
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &descriptor,
                                                                  nullptr)) {
            throw_last_error("ConvertStringSecurityDescriptorToSecurityDescriptorW");
        }
        attributes.nLength = sizeof(attributes);
        attributes.lpSecurityDescriptor = descriptor;
        attributes.bInheritHandle = FALSE;
    }
    ~PipeSecurity() {
        if (descriptor != nullptr) LocalFree(descriptor);
    }
    PipeSecurity(const PipeSecurity&) = delete;
    PipeSecurity& operator=(const PipeSecurity&) = delete;
};

UniqueHandle create_instance(const std::string& name, bool first) {
    PipeSecurity security;
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    // FILE_FLAG_FIRST_PIPE_INSTANCE: fail if another process already serves this name, rather than
    // silently sharing it with a squatter.
    if (first) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    HANDLE pipe = CreateNamedPipeW(widen_ascii(pipe_path(name)).c_str(), open_mode,
                                   PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                                   PIPE_UNLIMITED_INSTANCES, kPipeBufferSize, kPipeBufferSize, 0,
                                   &security.attributes);
    if (pipe == INVALID_HANDLE_VALUE) {
        const DWORD err = GetLastError();
        if (err == ERROR_ACCESS_DENIED && first) {
            throw Win32Error(err, "CreateNamedPipeW", pipe_path(name) + " is already served by another listener");
        }
        throw Win32Error(err, "CreateNamedPipeW", pipe_path(name));
    }
    return UniqueHandle(pipe);
}

UniqueHandle open_peer_process(uint32_t pid, const char* side) {
    HANDLE process = OpenProcess(PROCESS_DUP_HANDLE, FALSE, pid);
    if (process == nullptr) {
        const DWORD err = GetLastError();  // before the message below allocates
        throw Win32Error(err, "OpenProcess(PROCESS_DUP_HANDLE)",
                         std::string("the pipe's ") + side + " process " + std::to_string(pid) +
                             " cannot receive handles from this one");
    }
    return UniqueHandle(process);
}

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
    for (size_t i = 0; i < kHandleValueSize; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (size_t i = 0; i < kHandleValueSize; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

// Takes ownership of the `count` handle values at `trailer`: every open, distinct value goes into
// *out (so that all are closed if any is bad). Returns what was wrong with the others, or "".
std::string take_handle_values(const uint8_t* trailer, size_t count, std::vector<UniqueHandle>* out) {
    std::set<uint64_t> seen;
    std::string problem;
    for (size_t i = 0; i < count; ++i) {
        const uint64_t v = get_u64(trailer + kHandleValueSize * i);
        HANDLE h = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(v));
        DWORD flags = 0;
        if (v == 0 || h == INVALID_HANDLE_VALUE) {
            problem = "handle " + std::to_string(i) + " is null or INVALID_HANDLE_VALUE";
        } else if (!seen.insert(v).second) {
            problem = "handle " + std::to_string(i) + " repeats an earlier value";
        } else if (!GetHandleInformation(h, &flags)) {
            problem = "handle " + std::to_string(i) + " is not open in this process";
        } else {
            out->emplace_back(h);
        }
    }
    return problem;
}

}  // namespace

std::string pipe_path(const std::string& name) {
    if (name.empty() || name.size() > kMaxNameSize) {
        throw InvalidArgumentError("pipe channel name must be 1 to " + std::to_string(kMaxNameSize) +
                                   " characters, found " + std::to_string(name.size()));
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) throw InvalidArgumentError("pipe channel name '" + name + "' may only hold [A-Za-z0-9._-]");
    }
    return "\\\\.\\pipe\\geyser-" + name;
}

// ---- PipeChannel ----------------------------------------------------------------------------

PipeChannel::PipeChannel(UniqueHandle pipe, uint32_t peer_pid, UniqueHandle peer_process)
    : pipe_(std::move(pipe)),
      peer_process_(std::move(peer_process)),
      read_event_(make_event()),
      write_event_(make_event()),
      peer_pid_(peer_pid) {}

PipeChannel& PipeChannel::operator=(PipeChannel&& other) noexcept {
    if (this != &other) {
        close();
        pipe_ = std::move(other.pipe_);
        peer_process_ = std::move(other.peer_process_);
        read_event_ = std::move(other.read_event_);
        write_event_ = std::move(other.write_event_);
        peer_pid_ = other.peer_pid_;
        receive_broken_ = other.receive_broken_;
        send_broken_ = other.send_broken_;
    }
    return *this;
}

PipeChannel::~PipeChannel() { close(); }

void PipeChannel::require_open() const {
    if (!pipe_) throw InvalidHandleError("pipe channel is closed");
}

void PipeChannel::drain_complete_frames() noexcept {
    // Only frames that have fully arrived, and only as many bytes as were there at the start, so a
    // peer that keeps sending cannot hold close() up. Each is received as usual and dropped, which
    // closes its handles (receive() closes the good ones of a refused frame too).
    try {
        DWORD available = 0;
        if (!PeekNamedPipe(pipe_.get(), nullptr, 0, nullptr, &available, nullptr)) return;
        size_t budget = available;
        while (budget >= kFrameHeaderSize && !receive_broken_) {
            uint8_t header_bytes[kFrameHeaderSize];
            DWORD peeked = 0;
            if (!PeekNamedPipe(pipe_.get(), header_bytes, sizeof(header_bytes), &peeked, &available, nullptr) ||
                peeked < sizeof(header_bytes)) {
                return;
            }
            const FrameHeader header = decode_header(header_bytes, sizeof(header_bytes));
            const size_t frame_size =
                kFrameHeaderSize + header.payload_size + kHandleValueSize * static_cast<size_t>(header.fd_count);
            if (frame_size > available || frame_size > budget) return;
            try {
                receive(std::chrono::milliseconds(100));  // dropped at once; the bytes are there, so no real wait
            } catch (const ProtocolError&) {
                // A refused frame: receive() already closed the handles it could take.
            }
            budget -= frame_size;
        }
    } catch (...) {
        // Best effort: what is left stays in the pipe, as pipe_channel.hpp describes.
    }
}

void PipeChannel::close() noexcept {
    if (pipe_ && !receive_broken_) drain_complete_frames();
    pipe_.reset();
    peer_process_.reset();
}

PipeChannel PipeChannel::connect(const std::string& name, std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    const std::wstring path = widen_ascii(pipe_path(name));
    const Deadline deadline(timeout_ns);
    DWORD last = ERROR_FILE_NOT_FOUND;
    auto backoff = std::chrono::milliseconds(1);
    for (;;) {
        // SECURITY_IDENTIFICATION: the server may learn who connected but not act as this user.
        HANDLE pipe = CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                                  FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
        if (pipe != INVALID_HANDLE_VALUE) {
            UniqueHandle owner(pipe);
            // Before anything is sent or any process opened: is this our user's server?
            require_owned_by_this_user(pipe, pipe_path(name));
            ULONG server_pid = 0;
            if (!GetNamedPipeServerProcessId(pipe, &server_pid)) throw_last_error("GetNamedPipeServerProcessId");
            UniqueHandle process = open_peer_process(server_pid, "server");
            return PipeChannel(std::move(owner), server_pid, std::move(process));
        }
        last = GetLastError();
        if (last != ERROR_FILE_NOT_FOUND && last != ERROR_PIPE_BUSY) {
            throw Win32Error(last, "CreateFileW", pipe_path(name));
        }
        if (deadline.expired()) {
            throw TimeoutError("no listener accepted on " + pipe_path(name) + " in time (last: " +
                               (last == ERROR_PIPE_BUSY ? "all instances busy" : "no such pipe") + ")");
        }
        if (last == ERROR_PIPE_BUSY) {
            WaitNamedPipeW(path.c_str(), std::min<DWORD>(deadline.remaining_ms(), 50));
        } else {
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
                backoff, std::chrono::milliseconds(std::max<DWORD>(1, std::min<DWORD>(deadline.remaining_ms(), 50)))));
            backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
        }
    }
}

void PipeChannel::send(uint16_t type, const std::vector<uint8_t>& payload, const std::vector<NativeHandle>& handles,
                       std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    require_open();
    if (send_broken_) throw ProtocolError("pipe channel: an earlier send stopped mid-frame; the stream is out of step");
    std::vector<uint8_t> frame = encode_frame(type, payload, handles.size());  // checks the limits
    for (NativeHandle h : handles) {
        if (h == nullptr || h == INVALID_HANDLE_VALUE) {
            throw InvalidHandleError("send: a null or INVALID_HANDLE_VALUE handle cannot be sent");
        }
    }
    const size_t trailer_at = frame.size();
    std::vector<uint64_t> given;
    given.reserve(handles.size());
    size_t written = 0;
    try {
        for (NativeHandle h : handles) given.push_back(duplicate_into(h, peer_process_.get()));
        for (uint64_t v : given) put_u64(frame, v);
        const Deadline deadline(timeout_ns);
        bool partial = false;
        try {
            if (!transfer_exact(pipe_.get(), write_event_.get(), true, frame.data(), frame.size(), deadline, &written,
                                &partial)) {
                throw TimeoutError("send: the peer did not drain the pipe in time");
            }
        } catch (...) {
            if (partial) send_broken_ = true;
            throw;
        }
    } catch (...) {
        // A value whose 8 bytes all reached the pipe is the receiver's from then on: it closes it
        // when it reads it, also from a frame it cannot finish (closing it here as well could close
        // an unrelated handle that reused the value). Values not fully written can never reach the
        // receiver, so they are taken back.
        const size_t delivered = written > trailer_at ? (written - trailer_at) / kHandleValueSize : 0;
        for (size_t i = delivered; i < given.size(); ++i) close_in(peer_process_.get(), given[i]);
        throw;
    }
}

PipeMessage PipeChannel::receive(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    require_open();
    if (receive_broken_) {
        throw ProtocolError("pipe channel: an earlier receive stopped mid-frame; the stream is out of step");
    }
    const Deadline deadline(timeout_ns);
    uint8_t header_bytes[kFrameHeaderSize];
    size_t header_done = 0;
    bool partial = false;
    try {
        if (!transfer_exact(pipe_.get(), read_event_.get(), false, header_bytes, sizeof(header_bytes), deadline,
                            &header_done, &partial)) {
            throw TimeoutError("receive: no frame arrived in time");
        }
    } catch (...) {
        if (partial) receive_broken_ = true;
        throw;
    }
    // From here on, any failure leaves the stream mid-frame. A header that does not decode
    // (ProtocolError) gives no frame extent, so nothing after it can be parsed.
    receive_broken_ = true;
    const FrameHeader header = decode_header(header_bytes, sizeof(header_bytes));
    std::vector<uint8_t> rest(header.payload_size + kHandleValueSize * header.fd_count);
    size_t rest_done = 0;
    try {
        if (!rest.empty() && !transfer_exact(pipe_.get(), read_event_.get(), false, rest.data(), rest.size(), deadline,
                                             &rest_done, &partial)) {
            throw TimeoutError("receive: the rest of a frame did not arrive in time");
        }
    } catch (...) {
        // The handle values that did arrive name handles the sender already gave this process (it
        // takes back only those it never wrote whole): close them rather than leak them.
        const size_t arrived = rest_done > header.payload_size
                                   ? std::min<size_t>(header.fd_count, (rest_done - header.payload_size) / kHandleValueSize)
                                   : 0;
        std::vector<UniqueHandle> closing;
        take_handle_values(rest.data() + header.payload_size, arrived, &closing);
        throw;
    }
    receive_broken_ = false;  // the whole frame has been consumed
    PipeMessage message;
    message.type = header.type;
    message.payload.assign(rest.begin(), rest.begin() + header.payload_size);
    const std::string problem = take_handle_values(rest.data() + header.payload_size, header.fd_count, &message.handles);
    if (!problem.empty()) {
        throw ProtocolError("pipe frame (" + std::string(message_type_name(header.type)) + "): " + problem);
    }
    return message;
}

// ---- PipeListener ---------------------------------------------------------------------------

PipeListener::PipeListener(std::string name, UniqueHandle instance)
    : name_(std::move(name)), instance_(std::move(instance)), connect_event_(make_event()) {}

PipeListener PipeListener::create(const std::string& name) { return PipeListener(name, create_instance(name, true)); }

PipeChannel PipeListener::accept(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    if (next_instance_error_) {
        // The previous accept() returned a channel but could not make the next instance; say so
        // once, and try again at the accept() after this one.
        std::exception_ptr failure = std::exchange(next_instance_error_, nullptr);
        std::rethrow_exception(failure);
    }
    if (!instance_) instance_ = create_instance(name_, false);
    const Deadline deadline(timeout_ns);
    for (;;) {
        OVERLAPPED ov{};
        ov.hEvent = connect_event_.get();
        ResetEvent(ov.hEvent);
        DWORD err = ERROR_SUCCESS;
        if (!ConnectNamedPipe(instance_.get(), &ov)) {
            err = GetLastError();
            if (err == ERROR_IO_PENDING) {
                const DWORD waited = WaitForSingleObject(ov.hEvent, deadline.remaining_ms());
                if (waited == WAIT_OBJECT_0) {
                    DWORD ignored = 0;
                    err = GetOverlappedResult(instance_.get(), &ov, &ignored, FALSE) ? ERROR_SUCCESS : GetLastError();
                } else {
                    // The OVERLAPPED lives on this stack frame: finish the operation before leaving.
                    const DWORD wait_err = waited == WAIT_FAILED ? GetLastError() : ERROR_INVALID_FUNCTION;
                    cancel_and_finish(instance_.get(), &ov, &err);
                    if (waited != WAIT_TIMEOUT) {
                        instance_.reset();  // in an unknown state: the next accept() makes a new one
                        throw Win32Error(wait_err, "WaitForSingleObject", "accept on " + pipe_path(name_));
                    }
                    if (err == ERROR_OPERATION_ABORTED) {
                        // Still listening: a client that comes later is seen by the next accept().
                        throw TimeoutError("accept: no client connected to " + pipe_path(name_) + " in time");
                    }
                    // Otherwise it completed meanwhile: judged below like any completion.
                }
            } else if (err == ERROR_PIPE_CONNECTED) {  // a client that connected before the call is fine
                err = ERROR_SUCCESS;
            }
        }
        if (err == ERROR_SUCCESS) break;
        if (err == ERROR_NO_DATA || err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED) {
            // A client connected and closed its end before we got to it: the instance is in the
            // closing state until it is disconnected. Recycle it and wait for the next client.
            DisconnectNamedPipe(instance_.get());
            if (deadline.expired()) {
                throw TimeoutError("accept: no client stayed connected to " + pipe_path(name_) + " in time");
            }
            continue;
        }
        instance_.reset();  // in an unknown state: the next accept() makes a new one
        throw Win32Error(err, "ConnectNamedPipe", pipe_path(name_));
    }
    UniqueHandle connected = std::move(instance_);
    ULONG client_pid = 0;
    if (!GetNamedPipeClientProcessId(connected.get(), &client_pid)) throw_last_error("GetNamedPipeClientProcessId");
    UniqueHandle process = open_peer_process(client_pid, "client");
    // The next client gets a fresh instance. If that fails, this channel is still good; the next
    // accept() reports the failure (until then no client can connect).
    try {
        instance_ = create_instance(name_, false);
    } catch (const Win32Error& e) {
        next_instance_error_ = std::make_exception_ptr(
            Win32Error(e.error_code(), e.call(),
                       "creating the next instance of " + pipe_path(name_) +
                           " after the previous accept(); no client could connect since"));
    } catch (const Error&) {
        next_instance_error_ = std::current_exception();
    }
    return PipeChannel(std::move(connected), client_pid, std::move(process));
}

}  // namespace geyser
