#include "ipc/sender_session.hpp"

#include "geyser/error.hpp"
#include "geyser/sender_protocol.hpp"
#include "deadline.hpp"

namespace geyser::sender_session {

uint64_t now_ns() { return monotonic_now_ns(); }

uint64_t remaining(uint64_t deadline) { return ns_until(deadline); }

uint64_t deadline_after(uint64_t timeout_ns) { return deadline_after_ns(timeout_ns); }

Message expect(Channel& ch, uint16_t type, size_t fds, uint64_t deadline, const char* what) {
    Message m = ch.receive(remaining(deadline));
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

Channel connect_sender(const std::string& name, uint64_t deadline) {
    try {
        return Channel::connect(sender_socket_path(name), remaining(deadline));
    } catch (const TimeoutError&) {
        throw PeerGoneError("no producer is publishing '" + name + "' (nothing answers at " +
                            sender_socket_path(name) + ")");
    }
}

}  // namespace geyser::sender_session
