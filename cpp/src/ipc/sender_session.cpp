#include "ipc/sender_session.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "geyser/error.hpp"
#include "geyser/sender_protocol.hpp"
#include "deadline.hpp"
#include "timeout.hpp"

namespace geyser::sender_session {

uint64_t now_ns() { return monotonic_now_ns(); }

uint64_t remaining(uint64_t deadline) { return ns_until(deadline); }

uint64_t deadline_after(uint64_t timeout_ns) { return deadline_after_ns(timeout_ns); }

Message expect(Channel& ch, uint16_t type, size_t fds, uint64_t deadline, const char* what) {
    Message m = ch.receive(timeout_of(remaining(deadline)));
    if (m.type == static_cast<uint16_t>(MessageType::kGoodbye)) {
        throw PeerGoneError(std::string("the producer closed the sender while sending ") + what);
    }
    if (m.type == kDroppedMessage && m.fds.empty()) {
        // A refusal (a cap on this process's handshakes or subscriptions), with the producer's reason.
        throw SubscriptionDroppedError(std::string("the producer refused this connection: ") +
                                       decode_dropped(m.payload.data(), m.payload.size()));
    }
    if (m.type != type || m.fds.size() != fds) {
        throw ProtocolError(std::string("expected ") + what + " (" + message_type_name(type) + " with " +
                            std::to_string(fds) + " fd), got " + message_type_name(m.type) + " with " +
                            std::to_string(m.fds.size()));
    }
    return m;
}

Channel connect_sender(const std::string& name, uint64_t deadline, bool wait_for_listener) {
    const std::string path = sender_socket_path(name);
    Channel ch = [&] {
        try {
            return Channel::connect(path, timeout_of(remaining(deadline)), wait_for_listener);
        } catch (const TimeoutError&) {
            throw PeerGoneError("no producer is publishing '" + name + "' (nothing answers at " + path + ")");
        }
    }();
    // The runtime directory is private (runtime_dir), but a socket someone else put there, or a
    // directory swapped under us, must not answer as our sender.
    const PeerCredentials peer = ch.peer_credentials();
    if (peer.uid != ::geteuid()) {
        throw OsError(EACCES, "connect",
                      path + " is served by uid " + std::to_string(peer.uid) + " (pid " + std::to_string(peer.pid) +
                          "), not by this user (uid " + std::to_string(::geteuid()) + "): not a sender of ours");
    }
    return ch;
}

void check_sender_identity(const SenderInfo& info, const std::string& name, const Channel& ch) {
    const PeerCredentials peer = ch.peer_credentials();
    std::string diff;
    if (info.name != name) diff += "; it calls itself '" + info.name + "'";
    if (info.producer_pid != static_cast<uint32_t>(peer.pid)) {
        diff += "; it claims pid " + std::to_string(info.producer_pid) + ", but the process listening there is pid " +
                std::to_string(peer.pid);
    }
    if (!diff.empty()) throw ProtocolError("the sender at '" + name + "' is not who it says: " + diff.substr(2));
}

}  // namespace geyser::sender_session
