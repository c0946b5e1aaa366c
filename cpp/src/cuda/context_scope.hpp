// Internal: makes a CUDA context current on this thread for a scope.
#pragma once

#include "cuda/cuda_api.hpp"
#include "geyser/cuda.hpp"

namespace geyser::cuda {

/// Makes a context current on this thread for the scope's lifetime, unless it is already (CUDA
/// calls act on the calling thread's current context), restoring the previous one after.
class ContextScope {
public:
    explicit ContextScope(const CudaContext& context) : d_(api::require_driver()) {
        const auto wanted = reinterpret_cast<api::CUcontext>(context.context());
        // Already current (a torch or CuPy thread on that device: the same primary context):
        // nothing to push or pop, two driver calls fewer on every per-frame step.
        api::CUcontext current = nullptr;
        if (d_.cuCtxGetCurrent(&current) == api::CUDA_SUCCESS && current == wanted) return;
        api::check(d_.cuCtxPushCurrent(wanted), "cuCtxPushCurrent");
        pushed_ = true;
    }
    ~ContextScope() {
        if (!pushed_) return;
        api::CUcontext popped = nullptr;
        (void)d_.cuCtxPopCurrent(&popped);
    }
    ContextScope(const ContextScope&) = delete;
    ContextScope& operator=(const ContextScope&) = delete;
    const api::Driver& driver() const noexcept { return d_; }

private:
    const api::Driver& d_;
    bool pushed_ = false;
};

}  // namespace geyser::cuda
