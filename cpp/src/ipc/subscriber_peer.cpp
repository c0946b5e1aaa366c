// Subscriber::subscribe_peer (geyser/subscriber.hpp): peer-copy delivery. The first connection's
// SenderInfo said the producer is on another GPU (explain.hpp: device_uuid_mismatch, or the
// test-only GEYSER_TEST_PEER_COPY_SAME_DEVICE); nothing of it was imported. A second connection
// asks for peer copy (Hello path kPeerCopy with this device's UUID). The producer answers: either
// frames are copied GPU to GPU into a ring it keeps on this GPU, whose handles follow and are
// imported here zero-copy with a Vulkan ready timeline of this GPU; or it cannot, and the copy
// path follows on the same connection (docs/streams.md, "A consumer on another GPU").
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/explain.hpp"
#include "geyser/subscriber.hpp"
#include "geyser/wire.hpp"
#include "ipc/sender_session.hpp"

namespace geyser {

using namespace sender_session;

void Subscriber::subscribe_peer(const std::string& name, uint64_t deadline, const std::string& client,
                                const Explanation& why) {
    resubscribe(name, deadline, client, SharePath::kPeerCopy, device_->info().device_uuid);
    Message m = expect(channel_, kPeerAnswerMessage, 0, deadline, "the answer to a peer-copy request");
    const PeerAnswer answer = decode_peer_answer(m.payload.data(), m.payload.size());
    if (!answer.accepted) {
        const std::string asked = why.zero_copy()
                                      ? "GEYSER_TEST_PEER_COPY_SAME_DEVICE=1 asked for peer copy (a test-only switch)."
                                      : why.summary();
        reason_ = asked + " The producer answered that " + answer.message +
                  "; frames come through host memory (the copy path).";
        take_copy_ring(deadline);
        return;
    }
    if (info_.sync_kind != TimelineKind::kVulkan) {
        throw ProtocolError("sender '" + name + "' accepted peer copy with a portable ready timeline, which CUDA cannot "
                            "wait on");
    }
    import_ring(deadline);
    import_ready(deadline, TimelineKind::kVulkan, "the Vulkan ready timeline of this GPU a peer-copy subscriber is given");
    path_ = SharePath::kPeerCopy;
    reason_ = answer.message;
}

}  // namespace geyser
