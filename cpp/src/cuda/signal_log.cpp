// SignalLog: per-frame CUDA events, in frame order, for CudaSender's imports of subscribers' timelines.
#include "cuda/signal_log.hpp"

#include "cuda/context_scope.hpp"
#include "cuda/cuda_api.hpp"

namespace geyser::cuda {

using namespace api;

SignalLog::~SignalLog() {
    const Driver* d = driver();
    if (d == nullptr || d->cuCtxPushCurrent(reinterpret_cast<CUcontext>(context_->context())) != CUDA_SUCCESS) return;
    for (const auto& [frame, event] : pending_) (void)d->cuEventDestroy(static_cast<CUevent>(event));
    for (void* event : free_) (void)d->cuEventDestroy(static_cast<CUevent>(event));
    CUcontext popped = nullptr;
    (void)d->cuCtxPopCurrent(&popped);
}

void SignalLog::record(uint64_t frame, StreamHandle stream) {
    ContextScope scope(*context_);
    const Driver& d = scope.driver();
    void* event = nullptr;
    if (free_.empty()) {
        CUevent created = nullptr;
        check(d.cuEventCreate(&created, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        event = created;
    } else {
        event = free_.back();
        free_.pop_back();
    }
    const CUresult r = d.cuEventRecord(static_cast<CUevent>(event), reinterpret_cast<CUstream>(stream));
    if (r != CUDA_SUCCESS) {
        free_.push_back(event);
        check(r, "cuEventRecord");
    }
    pending_.emplace_back(frame, event);
}

uint64_t SignalLog::reached() {
    if (pending_.empty()) return reached_;
    ContextScope scope(*context_);
    const Driver& d = scope.driver();
    while (!pending_.empty() && d.cuEventQuery(static_cast<CUevent>(pending_.front().second)) == CUDA_SUCCESS) {
        reached_ = pending_.front().first;
        free_.push_back(pending_.front().second);
        pending_.pop_front();
    }
    return reached_;
}

}  // namespace geyser::cuda
