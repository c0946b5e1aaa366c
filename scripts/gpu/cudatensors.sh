#!/usr/bin/env bash
# The C++ CUDA access to stream frames (geyser/cuda_frames.hpp: CudaSubscriber, CudaSender) and
# the Python helpers rebased on it, on the GPU machine (NVIDIA H200, ../shared/gpu/README.md: run
# from the checkout root with .gl/ carried):
#  1. install the package; build and run the C++ tests test_cuda_frames (a tensor stream and a
#     texture stream written by a CUDA stream and read after another's GPU wait, every misuse, no
#     fd leak, the mappings kept under a queued wait) and test_cuda;
#  2. tests/test_tensor_streams.py and tests/test_cuda*.py (torch/CuPy/JAX through DLPack, GPU
#     waits; they skip without CUDA);
#  3. benchmarks/cuda_handoff.py section 3 alone with --breakdown: geyser's tensor stream against
#     torch's IPC event + Pipe, p50/p99, the ratios, and the median of each stage of a frame
#     (publish call, delivery to next_frame/recv, the GPU wait call, kernel + sync).
# Writes everything under $OUT; bounded to about 9 minutes in all. PARTS picks what runs (all by
# default; one command there may run 10 minutes at most):
#
#   OUT=/tmp/out bash scripts/gpu/cudatensors.sh
#   OUT=/tmp/out PARTS="install cpp" bash scripts/gpu/cudatensors.sh; OUT=/tmp/out PARTS="pytest bench" bash ...
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-cudatensors-out
source scripts/gpu/common.sh

PARTS=${PARTS:-install cpp pytest bench}
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
     -DGEYSER_BUILD_PYTHON=OFF ${CMAKE_ARGS:-} > "$OUT/cpp-configure.txt" 2>&1 &&
   cmake --build /tmp/cudatensors-cpp --target test_cuda_frames test_cuda -j "$(nproc)" > "$OUT/cpp-build.txt" 2>&1; then
  for t in test_cuda_frames test_cuda; do
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
exit $status
