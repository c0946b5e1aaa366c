// The directory of named senders: what is published on this machine for this user, asked
// without subscribing (like Syphon's SyphonServerDirectory and Spout's sender names).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "geyser/sender_protocol.hpp"

namespace geyser {

/// Asks the sender `name` for its SenderInfo without subscribing. Throws PeerGoneError when no
/// producer is listening there (or its socket is stale).
SenderInfo query_sender(const std::string& name, uint64_t timeout_ns);
/// Every sender currently answering in runtime_dir(), by name. Stale sockets are skipped.
std::vector<SenderInfo> list_senders(uint64_t timeout_ns_each);

}  // namespace geyser
