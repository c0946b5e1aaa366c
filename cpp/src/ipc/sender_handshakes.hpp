// Internal to the Sender: the connections whose Hello has not arrived yet. They are polled by
// the service thread together with the subscriptions, each with a deadline of its own, so no
// connection can hold up another's handshake (or close()) by staying silent.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "geyser/channel.hpp"
#include "geyser/wire.hpp"

namespace geyser::sender_session {

/// An accepted connection whose Hello has arrived, with the peer's kernel-reported pid.
struct Greeted {
    Channel channel;
    Message hello;
    uint32_t peer_pid = 0;
    uint64_t deadline = 0;  // the rest of the handshake must be done by then
};

class PendingHandshakes {
public:
    PendingHandshakes(size_t max_total, size_t max_per_peer) : max_total_(max_total), max_per_peer_(max_per_peer) {}

    /// Takes a connection just accepted. Over a cap (in all, or from that peer's pid) it is
    /// refused at once: the peer is sent a Dropped message saying why, and the connection closes.
    void add(Channel channel, uint64_t deadline);
    /// Appends one pollfd (POLLIN) per pending connection, in order.
    void poll_fds(std::vector<pollfd>& fds) const;
    /// After poll(): `fds` points at the entries poll_fds appended. Connections whose Hello came
    /// are returned; ones that hung up, broke the protocol or passed their deadline are closed.
    std::vector<Greeted> collect(const pollfd* fds, uint64_t now);
    size_t size() const noexcept { return pending_.size(); }
    /// Closes every pending connection (close()).
    void clear() { pending_.clear(); }

private:
    struct Pending {
        Channel channel;
        uint32_t pid = 0;
        uint64_t deadline = 0;
    };
    size_t from(uint32_t pid) const;

    size_t max_total_;
    size_t max_per_peer_;
    std::vector<Pending> pending_;
};

/// Sends a Dropped message saying `why` without waiting (a peer whose queue is full learns from
/// the closed socket instead), shuts the socket down, discards what the peer had sent, then closes
/// `channel` (so the peer reads the Dropped, never a reset).
void refuse(Channel& channel, const std::string& why);

}  // namespace geyser::sender_session
