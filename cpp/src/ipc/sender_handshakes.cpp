#include "ipc/sender_handshakes.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "geyser/error.hpp"
#include "geyser/sender_protocol.hpp"

namespace geyser::sender_session {

void refuse(Channel& channel, const std::string& why) {
    if (!channel.is_open()) return;
    try {
        channel.send(kDroppedMessage, encode_dropped(why), {}, std::chrono::nanoseconds(0));
    } catch (const Error&) {
        // Gone already, or its queue is full: the closed socket tells it.
    }
    // Linux resets the peer (ECONNRESET before its queued messages, the Dropped among them) when
    // a socket is released with unread messages, and the release may come late (another thread
    // still polls the fd). So: no more messages in (the peer sees a hang-up at once and can read
    // what is queued), the ones already in read and discarded (their fds closed), then close.
    ::shutdown(channel.native_handle(), SHUT_RDWR);
    for (int i = 0; i < 4096; ++i) {
        try {
            channel.receive(std::chrono::nanoseconds(0));
        } catch (const Error&) {
            break;  // none left (TimeoutError), or the end (PeerGoneError)
        }
    }
    channel.close();
}

size_t PendingHandshakes::from(uint32_t pid) const {
    return static_cast<size_t>(
        std::count_if(pending_.begin(), pending_.end(), [pid](const Pending& p) { return p.pid == pid; }));
}

void PendingHandshakes::add(Channel channel, uint64_t deadline) {
    const uint32_t pid = static_cast<uint32_t>(channel.peer_credentials().pid);
    if (from(pid) >= max_per_peer_) {
        refuse(channel, "pid " + std::to_string(pid) + " already has " + std::to_string(max_per_peer_) +
                            " handshakes in progress, the most one peer may have (max_handshakes_per_peer)");
        return;
    }
    if (pending_.size() >= max_total_) {
        refuse(channel, "the sender already has " + std::to_string(max_total_) +
                            " handshakes in progress, the most it takes at once (max_pending_handshakes)");
        return;
    }
    pending_.push_back(Pending{std::move(channel), pid, deadline});
}

void PendingHandshakes::poll_fds(std::vector<pollfd>& fds) const {
    for (const auto& p : pending_) fds.push_back(pollfd{p.channel.native_handle(), POLLIN, 0});
}

std::vector<Greeted> PendingHandshakes::collect(const pollfd* fds, uint64_t now) {
    std::vector<Greeted> greeted;
    std::vector<Pending> kept;
    kept.reserve(pending_.size());
    for (size_t i = 0; i < pending_.size(); ++i) {
        Pending& p = pending_[i];
        if (fds[i].revents != 0) {
            try {
                Message m = p.channel.receive(std::chrono::nanoseconds(0));
                greeted.push_back(Greeted{std::move(p.channel), std::move(m), p.pid, p.deadline});
            } catch (const TimeoutError&) {
                kept.push_back(std::move(p));  // woken for nothing
            } catch (const Error&) {
                // Hung up or sent garbage: the connection closes with `p`.
            }
            continue;
        }
        if (now < p.deadline) kept.push_back(std::move(p));
        // Otherwise its deadline passed in silence: it closes with `p`.
    }
    pending_ = std::move(kept);
    return greeted;
}

}  // namespace geyser::sender_session
