// Internal to CudaSender: which frames' signals a producer's streams have passed, in frame order.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "geyser/cuda.hpp"

namespace geyser::cuda {

/// One CUDA event per frame, recorded on the frame's stream after its signals of the
/// subscribers' timelines, kept in frame order. reached() is the newest frame whose event, and
/// every earlier frame's, has completed: what a stream still queued further on does not hold
/// back (one event re-recorded per stream would be incomplete for as long as the stream stays
/// busy). Completed events are reused. Not thread-safe: the CudaSender's thread only.
class SignalLog {
public:
    explicit SignalLog(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}
    ~SignalLog();  // destroys the events in their context (a queued one's resources go once it completes)
    SignalLog(const SignalLog&) = delete;
    SignalLog& operator=(const SignalLog&) = delete;

    /// Records frame `frame`'s event on `stream`, after what is enqueued there so far. Frames
    /// come in increasing order. Throws CudaError (nothing recorded).
    void record(uint64_t frame, StreamHandle stream);
    /// The newest frame whose event and every earlier one have completed (0 before any).
    uint64_t reached();
    /// Whether every event recorded has completed (reached() is the newest frame recorded).
    bool idle() {
        (void)reached();
        return pending_.empty();
    }

private:
    std::shared_ptr<CudaContext> context_;
    std::deque<std::pair<uint64_t, void*>> pending_;  // (frame, CUevent), oldest first
    std::vector<void*> free_;                         // completed events, to record again
    uint64_t reached_ = 0;
};

}  // namespace geyser::cuda
