// Internal to the named-sender implementation: deadlines and the strict "expect this message"
// receive shared by the producer, the subscriber and the directory.
#pragma once

#include <cstdint>
#include <string>

#include "geyser/channel.hpp"
#include "geyser/sender_protocol.hpp"
#include "geyser/wire.hpp"

namespace geyser::sender_session {

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t now_ns();
/// Nanoseconds left until `deadline` (0 once it has passed).
uint64_t remaining(uint64_t deadline);
/// now + timeout, saturating.
uint64_t deadline_after(uint64_t timeout_ns);
/// The next message, which must be `type` with exactly `fds` fds; Goodbye becomes PeerGoneError,
/// Dropped (a refusal) SubscriptionDroppedError with its reason, and anything else ProtocolError
/// naming `what`.
Message expect(Channel& ch, uint16_t type, size_t fds, uint64_t deadline, const char* what);
/// Connects to the sender `name`; PeerGoneError when nothing answers there by `deadline`
/// (`wait_for_listener` false: at once when nobody listens, for listing). A listener of
/// another uid (SO_PEERCRED) is OsError(EACCES): it is not this user's sender, whatever it says.
Channel connect_sender(const std::string& name, uint64_t deadline, bool wait_for_listener = true);
/// ProtocolError unless `info` is the socket's own: named `name` (the name it was looked up by)
/// and sent by the process listening there (its producer_pid equal to the SO_PEERCRED pid).
void check_sender_identity(const SenderInfo& info, const std::string& name, const Channel& ch);

}  // namespace geyser::sender_session
