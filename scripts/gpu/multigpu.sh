#!/usr/bin/env bash
# Several GPUs (issue 19) on the GPU machine, from the repo root, after the package is built and
# installed there (../shared/gpu/README.md). Writes everything under $OUT; bounded to about
# 8 minutes in all (each step has its own timeout).
#
#   OUT=/tmp/out bash scripts/gpu/multigpu.sh
#
# 1. The GPU listing and selectors with CUDA: `python -m geyser info` under several
#    CUDA_VISIBLE_DEVICES (unset, "", "0", and reversed where there are two GPUs), cuda:N and
#    torch.device selectors (tests/test_gpu_selection.py, under each of them).
# 2. The C++ tests of the listing, the selector, the peer-copy engine and the CUDA ABI
#    (test_gpu_topology, test_peer_copy, test_cuda_abi where cuda.h is installed).
# 3. The peer-copy engine from Python (tests/test_peer_copy.py): A == B on one GPU, every frame
#    verified, buffers and textures, direct and host staging, fd and device-memory counts flat
#    over 1,000 copies; every pair with GPU 0 as well when there are two or more GPUs.
# 4. The peer-copy benchmark at 1080p and 4K (benchmarks/peer_copy.py).
# With one GPU (nvidia-smi -L shows one line), the cross-GPU cases are reported as not run.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-multigpu-out
source scripts/gpu/common.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
{
  nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
  nvidia-smi topo -m 2>/dev/null || true
  echo "GPUs: $GPUS"
} >> "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# 1. Listing and selectors under several CUDA_VISIBLE_DEVICES.
visible_cases=("unset" "" "0")
[ "$GPUS" -ge 2 ] && visible_cases+=("1,0" "1")
for v in "${visible_cases[@]}"; do
  tag=${v:-empty}; tag=${tag//,/-}
  if [ "$v" = "unset" ]; then env_cmd=(env -u CUDA_VISIBLE_DEVICES); else env_cmd=(env "CUDA_VISIBLE_DEVICES=$v"); fi
  "${env_cmd[@]}" timeout 60 "$PY" -m geyser info > "$OUT/info-$tag.txt" 2>&1 || status=1
  "${env_cmd[@]}" timeout 60 "$PY" -m geyser info --json > "$OUT/info-$tag.json" 2>&1 || status=1
  "${env_cmd[@]}" GEYSER_VALIDATION=1 timeout 120 "$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/test_gpu_selection.py --junitxml="$OUT/selection-$tag.xml" > "$OUT/selection-$tag.txt" 2>&1 || status=1
  echo "selection, CUDA_VISIBLE_DEVICES=$v: $(tail -1 "$OUT/selection-$tag.txt")"
done

# 2. C++ tests (need GoogleTest there; reported as not run where the configure fails).
if cmake -S . -B /tmp/multigpu-cpp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
     -DGEYSER_BUILD_PYTHON=OFF ${CMAKE_ARGS:-} > "$OUT/cpp-configure.txt" 2>&1; then
  targets="test_gpu_topology test_peer_copy"
  grep -q "test_cuda_abi" /tmp/multigpu-cpp/build.ninja 2>/dev/null && targets="$targets test_cuda_abi"
  if timeout 300 cmake --build /tmp/multigpu-cpp --target $targets -j "$(nproc)" > "$OUT/cpp-build.txt" 2>&1; then
    for t in $targets; do
      GEYSER_VALIDATION=1 timeout 120 /tmp/multigpu-cpp/tests/cpp/$t > "$OUT/cpp-$t.txt" 2>&1 || status=1
      echo "C++ $t: $(grep -E '^\[  (PASSED|FAILED)  \]|tests? ran' "$OUT/cpp-$t.txt" | tr '\n' ' ')"
    done
  else
    echo "C++ tests: the build failed, see cpp-build.txt"; status=1
  fi
else
  echo "C++ tests not run: the configure failed (GoogleTest missing?), see cpp-configure.txt"
fi

# 3. The engine from Python, every frame verified; 1,000 copies with flat fd and memory counts.
GEYSER_VALIDATION=1 timeout 300 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_peer_copy.py tests/test_cuda.py \
  --junitxml="$OUT/peer-copy-tests.xml" > "$OUT/peer-copy-tests.txt" 2>&1 || status=1
echo "peer copy tests: $(tail -1 "$OUT/peer-copy-tests.txt")"
if [ "$GPUS" -lt 2 ]; then
  echo "cross-GPU cases: not run (one GPU; the engine ran A == B only)" | tee "$OUT/cross-gpu.txt"
fi

# 4. The benchmark.
timeout 240 "$PY" benchmarks/peer_copy.py --json "$OUT/peer-copy-bench.json" > "$OUT/peer-copy-bench.txt" 2>&1 || status=1
tail -14 "$OUT/peer-copy-bench.txt"
exit $status
