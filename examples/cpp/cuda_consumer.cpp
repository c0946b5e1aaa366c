// Subscribes to a named tensor stream and takes each frame in CUDA (geyser/cuda_frames.hpp): the
// ring is imported into CUDA once, each frame's ready point is waited for on a CUDA stream (no
// host wait), and the frame's tensors are device pointers to hand to your kernels, launched on the
// stream that waited; the release synchronises that stream before the slot goes back. This example
// launches none: it prints where the tensors are and counts the frames.
//
//   geyser_cuda_consumer NAME [FRAMES]
//
// Where CUDA cannot be used it says why (cuda_status().reason) and exits with 2.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <geyser/cuda_frames.hpp>
#include <geyser/geyser.hpp>

#include "example_support.hpp"

int main(int argc, char** argv) {
    example::ConsumerArgs args;
    if (!example::parse_consumer_args(argc, argv, args)) return 2;
    const std::string& name = args.name;
    const uint64_t frames = args.frames;
    try {
        const geyser::cuda::CudaStatus status = geyser::cuda::cuda_status();
        if (!status.available) {
            std::fprintf(stderr, "cuda consumer: CUDA cannot be used here: %s\n", status.reason.c_str());
            return 2;
        }
        auto device = geyser::Device::open();
        std::unique_ptr<geyser::Subscriber> sub = example::subscribe(device, name, "geyser C++ CUDA consumer");
        if (sub->info().payload != geyser::ResourceKind::kBuffer) {
            std::fprintf(stderr, "cuda consumer: '%s' is a texture stream; this example takes tensors\n", name.c_str());
            return 2;
        }
        auto cuda = geyser::cuda::CudaContext::for_device(device);
        auto ring = geyser::cuda::CudaSubscriber::create(cuda, *sub);  // every slot mapped once
        const geyser::TensorLayout& layout = ring->layout();
        // A GPU wait needs a Vulkan ready timeline; a portable one is waited for on the host.
        const geyser::ReadyWait wait = ring->ready() ? geyser::ReadyWait::kGpu : geyser::ReadyWait::kHost;
        const geyser::cuda::StreamHandle stream = 0;  // your engine's CUstream
        std::printf("cuda consumer: %s on %s (cuda:%d), tensors %s\n", name.c_str(), cuda->name().c_str(),
                    cuda->ordinal(), layout.describe().c_str());
        uint64_t seen = 0;
        while (frames == 0 || seen < frames) {
            geyser::Subscriber::Frame frame = sub->next_frame(std::chrono::seconds(10), wait);
            ring->wait(frame, stream);  // the stream waits for the producer's writes, on the GPU
            for (size_t i = 0; i < layout.tensors().size(); ++i) {
                const uint64_t pointer = ring->device_pointer(frame, i);  // launch your kernel on it here
                if (seen == 0) {
                    std::printf("  %s at %#llx (%llu bytes)\n", layout.tensors()[i].name.c_str(),
                                static_cast<unsigned long long>(pointer), static_cast<unsigned long long>(layout.bytes(i)));
                }
            }
            ring->release(frame, stream);  // synchronises the stream, then gives the slot back
            ++seen;
        }
        std::printf("cuda consumer: %llu frames taken in CUDA, %llu dropped\n", static_cast<unsigned long long>(seen),
                    static_cast<unsigned long long>(sub->frames_dropped()));
        return seen > 0 ? 0 : 1;
    } catch (const geyser::Error& e) {
        std::fprintf(stderr, "cuda consumer: %s\n", e.what());
        return 1;
    }
}
