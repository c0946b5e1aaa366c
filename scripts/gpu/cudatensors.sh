#!/usr/bin/env bash
# The C++ CUDA access to stream frames (geyser/cuda_frames.hpp: CudaSubscriber, CudaSender) and
# the Python helpers rebased on it, on the GPU machine (NVIDIA H200, ../shared/gpu/README.md: run
# from the checkout root with .gl/ carried):
#  1. install the package; build and run the C++ tests test_cuda_frames (a tensor stream and a
#     texture stream written by a CUDA stream and read after another's GPU wait, every misuse, no
#     fd leak, the mappings kept under a queued wait, the producer's stream signalling every
#     subscriber's own timeline), test_cuda, and test_sender and test_timeline_fanout (which need
#     exportable timelines for a producer's own submission to signal its subscribers);
#  2. tests/test_tensor_streams.py and tests/test_cuda*.py (torch/CuPy/JAX through DLPack, GPU
#     waits; they skip without CUDA);
#  3. benchmarks/cuda_handoff.py section 3 alone with --breakdown: geyser's tensor stream against
#     torch's IPC event + Pipe, p50/p99, the ratios, and the median of each stage of a frame
#     (publish call, delivery to next_frame/recv, the GPU wait call, kernel + sync);
#  4. examples/cpp/cuda_consumer.cpp, built against the installed package, taking 30 frames of a
#     tensor stream that a Python producer writes with torch and publishes with geyser.cuda.end_frame.
# Writes everything under $OUT; bounded to about 9 minutes in all. PARTS picks what runs (all by
# default; one command there may run 10 minutes at most):
#
#   OUT=/tmp/out bash scripts/gpu/cudatensors.sh
#   OUT=/tmp/out PARTS="install cpp" bash scripts/gpu/cudatensors.sh; OUT=/tmp/out PARTS="pytest bench" bash ...
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-cudatensors-out
source scripts/gpu/common.sh

PARTS=${PARTS:-install cpp pytest bench example}
part() { [[ " $PARTS " == *" $1 "* ]]; }

if part install; then
  "$PY" -m pip install --no-build-isolation --no-deps -q . > "$OUT/install.txt" 2>&1 || { tail -20 "$OUT/install.txt"; exit 1; }
fi
"$PY" -c "import geyser, geyser.cuda; d = geyser.Device(); print(d.name, d.info.driver_info, \
d.info.timeline_semaphore_export, geyser.cuda.status())" >> "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# 1. C++ (a couple of minutes to build there).
if ! part cpp; then
  :
elif cmake -S . -B /tmp/cudatensors-cpp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
     -DGEYSER_BUILD_PYTHON=OFF -DGEYSER_INSTALL=ON -DCMAKE_INSTALL_PREFIX=/tmp/cudatensors-install ${CMAKE_ARGS:-} \
     > "$OUT/cpp-configure.txt" 2>&1 &&
   cmake --build /tmp/cudatensors-cpp --target test_cuda_frames test_cuda test_sender test_timeline_fanout -j "$(nproc)" > "$OUT/cpp-build.txt" 2>&1; then
  for t in test_cuda_frames test_cuda test_sender test_timeline_fanout; do
    GEYSER_VALIDATION=1 timeout 120 /tmp/cudatensors-cpp/tests/cpp/$t > "$OUT/cpp-$t.txt" 2>&1 || status=1
    tail -3 "$OUT/cpp-$t.txt"
    grep -E "SKIPPED|FAILED|Failure" "$OUT/cpp-$t.txt" | head -10
  done
else
  echo "C++ tests not run: configure or build failed, see cpp-configure.txt, cpp-build.txt"
  tail -20 "$OUT/cpp-build.txt" 2>/dev/null
  status=1
fi

# 2. pytest (about 2 minutes there); -rs lists every skip with its reason.
if part pytest; then
  GEYSER_VALIDATION=1 timeout 300 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_tensor_streams.py \
    tests/test_cuda*.py --junitxml="$OUT/pytest.xml" > "$OUT/pytest.txt" 2>&1 || status=1
  tail -15 "$OUT/pytest.txt"
fi

# 3. Section 3 of the handoff benchmark, with the per-stage breakdown (about a minute there).
if part bench; then
  timeout 240 "$PY" benchmarks/cuda_handoff.py --tensors-only --breakdown --tensor-frames 500 \
    --json "$OUT/cuda-handoff.json" > "$OUT/cuda-handoff.txt" 2>&1 || status=1
  cat "$OUT/cuda-handoff.txt"
fi
# 4. The C++ CUDA consumer example against a Python producer whose torch writes each frame in place.
if part example; then
  # Only this example, as a consumer project of its own (examples/cpp's CMakeLists also wants
  # glslangValidator and volk for the producer example).
  mkdir -p /tmp/cudatensors-example-src
  cat > /tmp/cudatensors-example-src/CMakeLists.txt <<CMAKEEOF
cmake_minimum_required(VERSION 3.18)
project(geyser_cuda_consumer_example LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(geyser CONFIG REQUIRED)
add_executable(geyser_cuda_consumer $PWD/examples/cpp/cuda_consumer.cpp)
target_include_directories(geyser_cuda_consumer PRIVATE $PWD/examples/cpp)
target_link_libraries(geyser_cuda_consumer PRIVATE geyser::core)
CMAKEEOF
  if cmake --install /tmp/cudatensors-cpp > "$OUT/example-build.txt" 2>&1 &&
     geyser_dir=$(dirname "$(find /tmp/cudatensors-install -name geyserConfig.cmake | head -1)") &&
     cmake -S /tmp/cudatensors-example-src -B /tmp/cudatensors-examples -G Ninja ${CMAKE_ARGS:-} \
       -Dgeyser_DIR="$geyser_dir" >> "$OUT/example-build.txt" 2>&1 &&
     cmake --build /tmp/cudatensors-examples >> "$OUT/example-build.txt" 2>&1; then
    name="gpu-cuda-consumer-$$"
    timeout 60 "$PY" - "$name" > "$OUT/example-producer.txt" 2>&1 <<'PYEOF' &
import sys, torch, geyser, geyser.cuda
d = geyser.Device()
with geyser.Sender(d, sys.argv[1], tensors={"obs": ("float32", (64, 84, 84)), "reward": ("float32", (64,))},
                   sync="vulkan") as s:
    s.wait_for_subscribers(1, timeout=30)
    stream = torch.cuda.current_stream()
    for n in range(1, 31):
        f = s.begin_frame(timeout=30)
        torch.from_dlpack(geyser.cuda.tensor_views(f)["obs"]).fill_(float(n))
        geyser.cuda.end_frame(s, f, stream)
    print("producer: 30 frames published")
PYEOF
    producer=$!
    GEYSER_VALIDATION=1 timeout 60 /tmp/cudatensors-examples/geyser_cuda_consumer "$name" 30 > "$OUT/example-consumer.txt" 2>&1 || status=1
    wait "$producer" || status=1
    cat "$OUT/example-producer.txt" "$OUT/example-consumer.txt"
  else
    echo "the CUDA consumer example was not built, see example-build.txt"; tail -10 "$OUT/example-build.txt"
    status=1
  fi
fi
exit $status
