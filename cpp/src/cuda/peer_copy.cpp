// A copy engine between two GPUs' CUDA contexts, ordered by timelines on both (geyser/peer_copy.hpp).
#include "geyser/peer_copy.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include "cuda/context_scope.hpp"
#include "cuda/cuda_api.hpp"
#include "deadline.hpp"
#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"

namespace geyser::cuda {

using namespace api;

namespace {

CUstream as_stream(void* s) { return static_cast<CUstream>(s); }
CUevent as_event(void* e) { return static_cast<CUevent>(e); }
CUcontext as_context(const CudaContext& c) { return reinterpret_cast<CUcontext>(c.context()); }

void check_on(const CudaContext& want, const CudaContext& found, const char* what, const char* gpu) {
    if (want.ordinal() != found.ordinal()) {
        throw DeviceMismatchError(std::string(what) + " is on CUDA device " + std::to_string(found.ordinal()) + " (" +
                                  found.name() + "), not on the copy's " + gpu + " GPU, CUDA device " +
                                  std::to_string(want.ordinal()) + " (" + want.name() + ")");
    }
}

void check_fits(const CudaBuffer& source, const CudaBuffer& destination) {
    if (destination.size() < source.size()) {
        throw InvalidArgumentError("the destination buffer (" + std::to_string(destination.size()) +
                                   " bytes) is smaller than the source (" + std::to_string(source.size()) + " bytes)");
    }
}

// A whole array to or from pinned host memory (`to_host`: array -> host), rows packed.
void copy_array_host(const Driver& d, CUarray array, void* host, uint64_t row, uint32_t height, bool to_host,
                     CUstream stream) {
    CUDA_MEMCPY2D c{};
    if (to_host) {
        c.srcMemoryType = CU_MEMORYTYPE_ARRAY;
        c.srcArray = array;
        c.dstMemoryType = CU_MEMORYTYPE_HOST;
        c.dstHost = host;
        c.dstPitch = row;
    } else {
        c.srcMemoryType = CU_MEMORYTYPE_HOST;
        c.srcHost = host;
        c.srcPitch = row;
        c.dstMemoryType = CU_MEMORYTYPE_ARRAY;
        c.dstArray = array;
    }
    c.WidthInBytes = row;
    c.Height = height;
    check(d.cuMemcpy2DAsync(&c, stream), "cuMemcpy2DAsync");
}

// An event, polled from a destructor or idle(): finished when it never held work or its work is done.
bool event_done(const Driver& d, void* event) { return event == nullptr || d.cuEventQuery(as_event(event)) == CUDA_SUCCESS; }

// A non-blocking stream and a timing-free event in the current context. The engine's destructor
// frees them (create() hands the engine out only once all are made, and destroys it otherwise).
void* new_stream(const Driver& d) {
    CUstream s = nullptr;
    check(d.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    return s;
}

void* new_event(const Driver& d) {
    CUevent e = nullptr;
    check(d.cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    return e;
}

}  // namespace

const char* peer_copy_path_name(PeerCopyPath path) noexcept {
    switch (path) {
        case PeerCopyPath::kSameDevice: return "same_device";
        case PeerCopyPath::kPeer: return "peer";
        case PeerCopyPath::kHostStaging: return "host_staging";
    }
    return "unknown";
}

std::unique_ptr<PeerCopy> PeerCopy::create(std::shared_ptr<CudaContext> source, std::shared_ptr<CudaContext> destination,
                                           const PeerCopyOptions& options) {
    if (!source || !destination) throw InvalidArgumentError("PeerCopy::create: a CUDA context is missing");
    std::unique_ptr<PeerCopy> p(new PeerCopy());
    p->source_ = std::move(source);
    p->destination_ = std::move(destination);
    const CudaContext& a = *p->source_;
    const CudaContext& b = *p->destination_;
    const Driver& d = require_driver();
    bool peer = false;
    if (a.ordinal() == b.ordinal()) {
        p->path_ = PeerCopyPath::kSameDevice;
        p->reason_ = "source and destination are the same GPU (CUDA device " + std::to_string(a.ordinal()) + ")";
    } else {
        CUdevice da = 0, db = 0;
        check(d.cuDeviceGet(&da, a.ordinal()), "cuDeviceGet");
        check(d.cuDeviceGet(&db, b.ordinal()), "cuDeviceGet");
        int can = 0;
        check(d.cuDeviceCanAccessPeer(&can, da, db), "cuDeviceCanAccessPeer");
        peer = can != 0;
        const std::string pair = "CUDA device " + std::to_string(a.ordinal()) + " (" + a.name() + ") to CUDA device " +
                                 std::to_string(b.ordinal()) + " (" + b.name() + ")";
        if (!peer) {
            p->path_ = PeerCopyPath::kHostStaging;
            p->reason_ = "cuDeviceCanAccessPeer says " + pair + " has no peer access";
        } else {
            p->path_ = PeerCopyPath::kPeer;
            p->reason_ = "peer access from " + pair;
        }
    }
    if (options.host_staging) {
        p->path_ = PeerCopyPath::kHostStaging;
        p->reason_ = "host staging was asked for (" + p->reason_ + ")";
    }
    {
        ContextScope scope(a);
        if (p->path_ == PeerCopyPath::kPeer) {
            // Peer access is per context and one way: A's copies write B's memory, so A's
            // context needs access to B's. It stays enabled for the process (as the CUDA runtime
            // leaves it), which other users of the primary context may rely on too.
            // Refused (too many peers, say), the copies go through host memory instead.
            const CUresult r = d.cuCtxEnablePeerAccess(as_context(b), 0);
            if (r != CUDA_SUCCESS && r != CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED) {
                p->path_ = PeerCopyPath::kHostStaging;
                p->reason_ = "cuCtxEnablePeerAccess refused " + p->reason_ + " (" + result_name(r) + ")";
            }
        }
        p->stream_a_ = new_stream(d);
        p->copied_ = new_event(d);
    }
    {
        ContextScope scope(b);
        p->stream_b_ = new_stream(d);
        p->landed_ = new_event(d);
        if (p->path_ == PeerCopyPath::kHostStaging) {
            for (Staging& st : p->staging_) st.drained = new_event(d);
        }
    }
    return p;
}

PeerCopy::~PeerCopy() {
    const Driver* d = driver();
    if (d == nullptr) return;  // no driver, or a fork() child: the parent's objects are the parent's
    if (!source_ || !destination_) return;
    // Streams and events may go with work queued ("resources are released once the device has
    // completed all work"); pinned memory may not, so it stays allocated while a copy uses it.
    bool done = event_done(*d, copied_) && event_done(*d, landed_);
    for (const Staging& st : staging_) done = done && event_done(*d, st.drained);
    CUcontext popped = nullptr;
    // Each object goes with the context it was made in current: A's stream and event, and the
    // pinned buffers (allocated with A's context current); then B's.
    if (d->cuCtxPushCurrent(as_context(*source_)) == CUDA_SUCCESS) {
        for (const Staging& st : staging_) {
            if (st.host != nullptr && done) (void)d->cuMemFreeHost(st.host);
        }
        for (const Staging& st : retired_) {
            if (done) (void)d->cuMemFreeHost(st.host);
        }
        if (copied_ != nullptr) (void)d->cuEventDestroy(as_event(copied_));
        if (stream_a_ != nullptr) (void)d->cuStreamDestroy(as_stream(stream_a_));
        (void)d->cuCtxPopCurrent(&popped);
    }
    if (d->cuCtxPushCurrent(as_context(*destination_)) == CUDA_SUCCESS) {
        for (const Staging& st : staging_) {
            if (st.drained != nullptr) (void)d->cuEventDestroy(as_event(st.drained));
        }
        if (landed_ != nullptr) (void)d->cuEventDestroy(as_event(landed_));
        if (stream_b_ != nullptr) (void)d->cuStreamDestroy(as_stream(stream_b_));
        (void)d->cuCtxPopCurrent(&popped);
    }
}

void PeerCopy::check_sync(const PeerCopySync& sync) const {
    if (sync.source_ready) check_on(*source_, *sync.source_ready->context(), "the source_ready semaphore", "source");
    if (sync.source_released) {
        check_on(*source_, *sync.source_released->context(), "the source_released semaphore", "source");
    }
    if (sync.destination_ready) {
        check_on(*destination_, *sync.destination_ready->context(), "the destination_ready semaphore", "destination");
    }
    auto check_value = [](const CudaSemaphore* s, uint64_t value, const char* what) {
        if (s != nullptr && !s->timeline() && value != 0) {
            throw InvalidArgumentError(std::string(what) + " is a binary semaphore, which has no values: give 0, not " +
                                       std::to_string(value));
        }
    };
    check_value(sync.source_ready, sync.source_ready_value, "source_ready");
    check_value(sync.destination_ready, sync.destination_ready_value, "destination_ready");
    check_value(sync.source_released, sync.source_released_value, "source_released");
}

PeerCopy::Staging& PeerCopy::staging_for(uint64_t bytes) {
    // Alternate between the two buffers, so that A fills one while B drains the other.
    Staging& st = staging_[copies_ % 2];
    if (st.capacity >= bytes) return st;
    const Driver& d = require_driver();
    // A smaller buffer may still be read by a queued upload: retire it (freed with the engine)
    // rather than free it under that upload. Frame sizes are fixed per ring, so this happens once.
    if (st.host != nullptr) retired_.push_back(Staging{st.host, st.capacity, nullptr});
    st.host = nullptr;
    st.capacity = 0;
    ContextScope scope(*source_);
    void* host = nullptr;
    check(d.cuMemHostAlloc(&host, bytes, kMemHostAllocPortable), "cuMemHostAlloc",
          std::to_string(bytes) + " bytes of pinned host memory for staging");
    st.host = host;
    st.capacity = bytes;
    return st;
}

template <typename OnA, typename OnB>
void PeerCopy::enqueue(const PeerCopySync& sync, uint64_t bytes, OnA&& copy_on_a, OnB&& upload_on_b) {
    const Driver& d = require_driver();
    Staging* st = path_ == PeerCopyPath::kHostStaging ? &staging_for(bytes) : nullptr;
    {
        ContextScope scope(*source_);
        if (sync.source_ready) sync.source_ready->wait(sync.source_ready_value, source_stream());
        // A staging buffer is overwritten only after B has read what the copy before last left in it.
        if (st != nullptr) check(d.cuStreamWaitEvent(as_stream(stream_a_), as_event(st->drained), 0), "cuStreamWaitEvent");
        copy_on_a(d, st != nullptr ? st->host : nullptr);
        if (sync.source_released) sync.source_released->signal(sync.source_released_value, source_stream());
        check(d.cuEventRecord(as_event(copied_), as_stream(stream_a_)), "cuEventRecord");
    }
    {
        ContextScope scope(*destination_);
        // B's stream waits on the GPU for A's copy (an event of another device is allowed here).
        check(d.cuStreamWaitEvent(as_stream(stream_b_), as_event(copied_), 0), "cuStreamWaitEvent");
        if (st != nullptr) {
            upload_on_b(d, st->host);
            check(d.cuEventRecord(as_event(st->drained), as_stream(stream_b_)), "cuEventRecord");
        }
        if (sync.destination_ready) {
            sync.destination_ready->signal(sync.destination_ready_value, destination_stream());
        }
        check(d.cuEventRecord(as_event(landed_), as_stream(stream_b_)), "cuEventRecord");
    }
    ++copies_;
}

void PeerCopy::copy_buffer(const CudaBuffer& source, const CudaBuffer& destination, const PeerCopySync& sync) {
    check_on(*source_, *source.context(), "the source buffer", "source");
    check_on(*destination_, *destination.context(), "the destination buffer", "destination");
    check_fits(source, destination);
    check_sync(sync);
    const uint64_t bytes = source.size();
    std::lock_guard<std::mutex> lock(mutex_);
    enqueue(
        sync, bytes,
        [&](const Driver& d, void* host) {
            if (host == nullptr) {
                check(d.cuMemcpyPeerAsync(destination.device_pointer(), as_context(*destination_), source.device_pointer(),
                                          as_context(*source_), bytes, as_stream(stream_a_)),
                      "cuMemcpyPeerAsync");
            } else {
                check(d.cuMemcpyDtoHAsync(host, source.device_pointer(), bytes, as_stream(stream_a_)), "cuMemcpyDtoHAsync");
            }
        },
        [&](const Driver& d, void* host) {
            check(d.cuMemcpyHtoDAsync(destination.device_pointer(), host, bytes, as_stream(stream_b_)), "cuMemcpyHtoDAsync");
        });
}

void PeerCopy::copy_texture(const CudaTexture& source, const CudaTexture& destination, const PeerCopySync& sync) {
    check_on(*source_, *source.context(), "the source texture", "source");
    check_on(*destination_, *destination.context(), "the destination texture", "destination");
    if (source.width() != destination.width() || source.height() != destination.height() ||
        source.format().cu_format != destination.format().cu_format ||
        source.format().channels != destination.format().channels) {
        throw InvalidArgumentError("the textures differ: source " + std::to_string(source.width()) + "x" +
                                   std::to_string(source.height()) + " of " + std::to_string(source.format().channels) +
                                   " channels (CUDA format " + std::to_string(source.format().cu_format) +
                                   "), destination " + std::to_string(destination.width()) + "x" +
                                   std::to_string(destination.height()) + " of " +
                                   std::to_string(destination.format().channels) + " channels (CUDA format " +
                                   std::to_string(destination.format().cu_format) + ")");
    }
    check_sync(sync);
    const uint64_t row = uint64_t{source.width()} * source.format().bytes_per_texel;
    const uint32_t height = source.height();
    const CUarray src = reinterpret_cast<CUarray>(source.array());
    const CUarray dst = reinterpret_cast<CUarray>(destination.array());
    std::lock_guard<std::mutex> lock(mutex_);
    enqueue(
        sync, row * height,
        [&](const Driver& d, void* host) {
            if (host == nullptr) {
                CUDA_MEMCPY3D_PEER c{};
                c.srcMemoryType = CU_MEMORYTYPE_ARRAY;
                c.srcArray = src;
                c.srcContext = as_context(*source_);
                c.dstMemoryType = CU_MEMORYTYPE_ARRAY;
                c.dstArray = dst;
                c.dstContext = as_context(*destination_);
                c.WidthInBytes = row;
                c.Height = height;
                c.Depth = 1;
                check(d.cuMemcpy3DPeerAsync(&c, as_stream(stream_a_)), "cuMemcpy3DPeerAsync");
                destination.pending_.record(source_stream());
            } else {
                copy_array_host(d, src, host, row, height, true, as_stream(stream_a_));
            }
            // The arrays are in use until their copies are done: their destructors check.
            source.pending_.record(source_stream());
        },
        [&](const Driver& d, void* host) {
            copy_array_host(d, dst, host, row, height, false, as_stream(stream_b_));
            destination.pending_.record(destination_stream());
        });
}

uint64_t PeerCopy::copies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return copies_;
}

bool PeerCopy::idle() const {
    const Driver& d = require_driver();
    std::lock_guard<std::mutex> lock(mutex_);
    // `landed_` follows the last copy's work on B, which waited for `copied_`, recorded after all
    // of its work on A; both are asked, so the answer does not rest on that chain alone.
    auto done = [&](void* event, const char* what) {
        if (event == nullptr) return true;
        const CUresult r = d.cuEventQuery(as_event(event));
        if (r == CUDA_ERROR_NOT_READY) return false;
        check(r, "cuEventQuery", std::string("a peer copy failed on the ") + what + " GPU");
        return true;
    };
    return done(copied_, "source") && done(landed_, "destination");
}

void PeerCopy::wait_idle(std::chrono::nanoseconds timeout) const {
    const uint64_t deadline = deadline_after_ns(timeout.count() > 0 ? static_cast<uint64_t>(timeout.count()) : 0);
    uint64_t pause_ns = 20'000;  // polls cuEventQuery, from 20 us up to one interrupt slice
    while (!idle()) {
        const uint64_t left = ns_until(deadline);
        if (left == 0) {
            throw TimeoutError("the peer copies did not finish within " + std::to_string(timeout.count() / 1'000'000) +
                               " ms (a copy waits for a source_ready value that has not been signalled?)");
        }
        const uint64_t slice = std::min<uint64_t>(std::min(pause_ns, interrupt_slice_ns(left)), left);
        std::this_thread::sleep_for(std::chrono::nanoseconds(slice));
        check_interrupt();
        pause_ns = std::min<uint64_t>(pause_ns * 2, 20'000'000);
    }
}

void copy_peer(const CudaBuffer& source, const CudaBuffer& destination, StreamHandle stream) {
    check_fits(source, destination);
    ContextScope scope(*source.context());
    check(scope.driver().cuMemcpyPeerAsync(destination.device_pointer(), as_context(*destination.context()),
                                           source.device_pointer(), as_context(*source.context()), source.size(),
                                           reinterpret_cast<CUstream>(stream)),
          "cuMemcpyPeerAsync");
}

}  // namespace geyser::cuda
