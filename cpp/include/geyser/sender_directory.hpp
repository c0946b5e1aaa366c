// The directory of named senders: what is published on this machine for this user, asked
// without subscribing (like Syphon's SyphonServerDirectory and Spout's sender names).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "geyser/sender_protocol.hpp"

namespace geyser {

/// Asks the sender `name` for its SenderInfo without subscribing. Throws PeerGoneError when no
/// producer is listening there (or its socket is stale), ProtocolError when what answers is
/// not who it says (another name, or a pid other than the listener's: check_sender_identity),
/// OsError(EACCES) when another user's process listens there.
SenderInfo query_sender(const std::string& name, std::chrono::nanoseconds timeout);
/// Every sender currently answering in runtime_dir(), by name, within `timeout` for the
/// whole listing. Stale sockets (nobody listening), silent ones, and those query_sender would
/// refuse are skipped.
std::vector<SenderInfo> list_senders(std::chrono::nanoseconds timeout);

}  // namespace geyser
