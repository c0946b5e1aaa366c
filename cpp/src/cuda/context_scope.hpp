// Internal: makes a CUDA context current on this thread for a scope.
#pragma once

#include "cuda/cuda_api.hpp"
#include "geyser/cuda.hpp"

namespace geyser::cuda {

/// Makes a context current on this thread for the scope's lifetime (CUDA calls act on the
/// calling thread's current context), restoring the previous one after.
class ContextScope {
public:
    explicit ContextScope(const CudaContext& context) : d_(api::require_driver()) {
        api::check(d_.cuCtxPushCurrent(reinterpret_cast<api::CUcontext>(context.context())), "cuCtxPushCurrent");
    }
    ~ContextScope() {
        api::CUcontext popped = nullptr;
        (void)d_.cuCtxPopCurrent(&popped);
    }
    ContextScope(const ContextScope&) = delete;
    ContextScope& operator=(const ContextScope&) = delete;
    const api::Driver& driver() const noexcept { return d_; }

private:
    const api::Driver& d_;
};

}  // namespace geyser::cuda
