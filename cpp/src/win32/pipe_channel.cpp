#include "geyser/pipe_channel.hpp"

#include <windows.h>
#include <sddl.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "geyser/error.hpp"
#include "geyser/win32_error.hpp"

namespace geyser {

namespace {

constexpr size_t kMaxNameSize = 200;
constexpr DWORD kPipeBufferSize = 64 * 1024;
constexpr size_t kHandleValueSize = 8;  // each trailer entry: one little-endian u64

class Deadline {
public:
    explicit Deadline(uint64_t timeout_ns)
        : infinite_(timeout_ns == kInfiniteTimeout),
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

// One overlapped ReadFile or WriteFile bounded by `deadline`. Returns the bytes moved; 0 only when
// the deadline passed before any moved (TimeoutError is the caller's to raise, since only it knows
// whether a frame was under way).
size_t overlapped_io(HANDLE pipe, HANDLE event, bool write, uint8_t* data, size_t size, const Deadline& deadline,
                     bool* timed_out) {
    *timed_out = false;
    OVERLAPPED ov{};
    ov.hEvent = event;
    ResetEvent(event);
    const DWORD len = static_cast<DWORD>(std::min<size_t>(size, kPipeBufferSize));
    const BOOL started = write ? WriteFile(pipe, data, len, nullptr, &ov) : ReadFile(pipe, data, len, nullptr, &ov);
    if (!started) {
        const DWORD err = GetLastError();
        if (err != ERROR_IO_PENDING) throw_io_error(err, write ? "WriteFile" : "ReadFile");
        const DWORD waited = WaitForSingleObject(event, deadline.remaining_ms());
        if (waited == WAIT_TIMEOUT) {
            // The OVERLAPPED lives on this stack frame, so the operation must be finished (or
            // cancelled) before returning. It may still have completed in the meantime.
            CancelIoEx(pipe, &ov);
            DWORD moved = 0;
            if (GetOverlappedResult(pipe, &ov, &moved, TRUE)) return moved;
            const DWORD err2 = GetLastError();
            if (err2 != ERROR_OPERATION_ABORTED) throw_io_error(err2, write ? "WriteFile" : "ReadFile");
            *timed_out = true;
            return 0;
        }
        if (waited != WAIT_OBJECT_0) throw_last_error("WaitForSingleObject");
    }
    DWORD moved = 0;
    if (!GetOverlappedResult(pipe, &ov, &moved, FALSE)) throw_io_error(GetLastError(), write ? "WriteFile" : "ReadFile");
    return moved;
}

// Moves exactly `size` bytes. Returns false (nothing moved) on a timeout before the first byte;
// a timeout after it throws TimeoutError and sets *partial.
bool transfer_exact(HANDLE pipe, HANDLE event, bool write, uint8_t* data, size_t size, const Deadline& deadline,
                    bool* partial) {
    size_t done = 0;
    while (done < size) {
        bool timed_out = false;
        done += overlapped_io(pipe, event, write, data + done, size - done, deadline, &timed_out);
        if (timed_out) {
            if (done == 0) return false;
            *partial = true;
            throw TimeoutError(std::string(write ? "send" : "receive") + ": timed out after " + std::to_string(done) +
                               " of " + std::to_string(size) + " bytes of a frame");
        }
    }
    return true;
}

// A DACL that admits only the current user and SYSTEM (the default one grants read access to
// everyone, who could then read frames).
struct PipeSecurity {
    SECURITY_ATTRIBUTES attributes{};
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    PipeSecurity() {
        HANDLE token = nullptr;
        if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) throw_last_error("OpenProcessToken");
        UniqueHandle token_owner(token);
        DWORD size = 0;
        GetTokenInformation(token, TokenUser, nullptr, 0, &size);
        std::vector<uint8_t> buffer(size);
        if (size == 0 || !GetTokenInformation(token, TokenUser, buffer.data(), size, &size)) {
            throw_last_error("GetTokenInformation(TokenUser)");
        }
        const auto* user = reinterpret_cast<const TOKEN_USER*>(buffer.data());
        wchar_t* sid = nullptr;
        if (!ConvertSidToStringSidW(user->User.Sid, &sid)) throw_last_error("ConvertSidToStringSidW");
        // D:P = protected DACL; GA = generic all; SY = LocalSystem.
        const std::wstring sddl = L"D:P(A;;GA;;;" + std::wstring(sid) + L")(A;;GA;;;SY)";
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
        throw_last_error("OpenProcess(PROCESS_DUP_HANDLE)",
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

void PipeChannel::require_open() const {
    if (!pipe_) throw InvalidHandleError("pipe channel is closed");
}

void PipeChannel::close() noexcept {
    pipe_.reset();
    peer_process_.reset();
}

PipeChannel PipeChannel::connect(const std::string& name, uint64_t timeout_ns) {
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
                       uint64_t timeout_ns) {
    require_open();
    if (send_broken_) throw ProtocolError("pipe channel: an earlier send stopped mid-frame; the stream is out of step");
    std::vector<uint8_t> frame = encode_frame(type, payload, handles.size());  // checks the limits
    for (NativeHandle h : handles) {
        if (h == nullptr || h == INVALID_HANDLE_VALUE) {
            throw InvalidHandleError("send: a null or INVALID_HANDLE_VALUE handle cannot be sent");
        }
    }
    std::vector<uint64_t> given;
    given.reserve(handles.size());
    auto take_back = [&] {
        for (uint64_t v : given) close_in(peer_process_.get(), v);
    };
    try {
        for (NativeHandle h : handles) given.push_back(duplicate_into(h, peer_process_.get()));
        for (uint64_t v : given) put_u64(frame, v);
        const Deadline deadline(timeout_ns);
        bool partial = false;
        try {
            if (!transfer_exact(pipe_.get(), write_event_.get(), true, frame.data(), frame.size(), deadline, &partial)) {
                throw TimeoutError("send: the peer did not drain the pipe in time");
            }
        } catch (...) {
            if (partial) send_broken_ = true;
            throw;
        }
    } catch (...) {
        // The frame never fully reached the peer, so nobody there will own these duplicates.
        take_back();
        throw;
    }
}

PipeMessage PipeChannel::receive(uint64_t timeout_ns) {
    require_open();
    if (receive_broken_) {
        throw ProtocolError("pipe channel: an earlier receive stopped mid-frame; the stream is out of step");
    }
    const Deadline deadline(timeout_ns);
    uint8_t header_bytes[kFrameHeaderSize];
    bool partial = false;
    try {
        if (!transfer_exact(pipe_.get(), read_event_.get(), false, header_bytes, sizeof(header_bytes), deadline,
                            &partial)) {
            throw TimeoutError("receive: no frame arrived in time");
        }
        partial = true;  // from here on, any failure leaves the stream mid-frame
        const FrameHeader header = decode_header(header_bytes, sizeof(header_bytes));
        std::vector<uint8_t> rest(header.payload_size + kHandleValueSize * header.fd_count);
        if (!rest.empty() &&
            !transfer_exact(pipe_.get(), read_event_.get(), false, rest.data(), rest.size(), deadline, &partial)) {
            throw TimeoutError("receive: the rest of a frame did not arrive in time");
        }
        PipeMessage message;
        message.type = header.type;
        message.payload.assign(rest.begin(), rest.begin() + header.payload_size);
        // Take every open, distinct value first (so all are closed if any is bad), then judge.
        std::set<uint64_t> seen;
        std::string problem;
        for (size_t i = 0; i < header.fd_count; ++i) {
            const uint64_t v = get_u64(rest.data() + header.payload_size + kHandleValueSize * i);
            HANDLE h = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(v));
            DWORD flags = 0;
            if (v == 0 || h == INVALID_HANDLE_VALUE) {
                problem = "handle " + std::to_string(i) + " is null or INVALID_HANDLE_VALUE";
            } else if (!seen.insert(v).second) {
                problem = "handle " + std::to_string(i) + " repeats an earlier value";
            } else if (!GetHandleInformation(h, &flags)) {
                problem = "handle " + std::to_string(i) + " is not open in this process";
            } else {
                message.handles.emplace_back(h);
            }
        }
        partial = false;  // the whole frame has been consumed
        if (!problem.empty()) throw ProtocolError("pipe frame (" + std::string(message_type_name(header.type)) + "): " + problem);
        return message;
    } catch (...) {
        if (partial) receive_broken_ = true;
        throw;
    }
}

// ---- PipeListener ---------------------------------------------------------------------------

PipeListener::PipeListener(std::string name, UniqueHandle instance)
    : name_(std::move(name)), instance_(std::move(instance)), connect_event_(make_event()) {}

PipeListener PipeListener::create(const std::string& name) { return PipeListener(name, create_instance(name, true)); }

PipeChannel PipeListener::accept(uint64_t timeout_ns) {
    if (!instance_) instance_ = create_instance(name_, false);
    const Deadline deadline(timeout_ns);
    OVERLAPPED ov{};
    ov.hEvent = connect_event_.get();
    ResetEvent(ov.hEvent);
    if (!ConnectNamedPipe(instance_.get(), &ov)) {
        const DWORD err = GetLastError();
        if (err == ERROR_IO_PENDING) {
            const DWORD waited = WaitForSingleObject(ov.hEvent, deadline.remaining_ms());
            if (waited == WAIT_TIMEOUT) {
                CancelIoEx(instance_.get(), &ov);
                DWORD ignored = 0;
                if (!GetOverlappedResult(instance_.get(), &ov, &ignored, TRUE)) {
                    throw TimeoutError("accept: no client connected to " + pipe_path(name_) + " in time");
                }
            } else if (waited != WAIT_OBJECT_0) {
                throw_last_error("WaitForSingleObject");
            } else {
                DWORD ignored = 0;
                if (!GetOverlappedResult(instance_.get(), &ov, &ignored, FALSE)) throw_last_error("ConnectNamedPipe");
            }
        } else if (err != ERROR_PIPE_CONNECTED) {  // a client that connected before the call is fine
            throw Win32Error(err, "ConnectNamedPipe", pipe_path(name_));
        }
    }
    UniqueHandle connected = std::move(instance_);
    ULONG client_pid = 0;
    if (!GetNamedPipeClientProcessId(connected.get(), &client_pid)) throw_last_error("GetNamedPipeClientProcessId");
    UniqueHandle process = open_peer_process(client_pid, "client");
    // The next client gets a fresh instance; a failure here surfaces at the next accept().
    try {
        instance_ = create_instance(name_, false);
    } catch (const Error&) {
    }
    return PipeChannel(std::move(connected), client_pid, std::move(process));
}

}  // namespace geyser
