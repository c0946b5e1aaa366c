#!/usr/bin/env bash
# Peer-copy delivery (issue 19: a consumer on another GPU, through the named Sender/Subscriber) on
# the GPU machine, from the repository root, with .gl/ carried (../shared/gpu/README.md). Builds
# and installs the package, builds the C++ tests, runs everything below and writes it under $OUT;
# about 10 minutes in all (each step has its own timeout).
#
#   OUT=/tmp/out bash scripts/gpu/peerdelivery.sh
#
# Each delivery test runs twice: with consumers on the producer's GPU that set the test-only
# GEYSER_TEST_PEER_COPY_SAME_DEVICE=1 (the producer makes its copy engine on a second VkDevice of
# that GPU and PeerCopy takes its same_device path), and with consumers on another GPU (the real
# cross-GPU path: peer or host staging). The second kind skips, saying why, where CUDA sees one GPU.
#
# 1. pip install of the package (no build isolation), then the C++ tests test_peer_delivery and
#    test_peer_copy (own build in /tmp/peerdelivery-cpp), and the peer-copy cases of test_faults
#    in a fault-injection build (/tmp/peerdelivery-fault: a copy CUDA refuses, a held builder).
# 2. tests/test_peer_delivery.py (producer on the GPU; zero-copy and peer-copy consumers in their
#    own processes, every frame verified, both modes, a late joiner, a consumer killed mid-stream,
#    fd and device-memory counts flat over 1,000 frames, a kGpu frame copied after its signal),
#    then tests/test_peer_copy.py and tests/test_fallback.py.
# 3. benchmarks/peer_copy.py --quick: the engine against cuMemcpyPeer, and the delivery
#    comparison (peer-copy vs same-GPU zero-copy vs the host copy path) at 1080p and 4K.
#
# PARTS picks what runs (all by default; one command there may run 10 minutes at most):
#   OUT=/tmp/out PARTS="install cpp fault" bash scripts/gpu/peerdelivery.sh; OUT=/tmp/out PARTS="pytest bench" bash ...
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-peerdelivery-out
source scripts/gpu/common.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi -L >> "$OUT/device.txt" 2>&1 || true
cat "$OUT/device.txt"
PARTS=${PARTS:-install cpp fault pytest bench}
part() { [[ " $PARTS " == *" $1 "* ]]; }

# 1. The package and the C++ tests.
if part install; then
  timeout 400 "$PY" -m pip install --no-build-isolation --no-deps -q . > "$OUT/install.txt" 2>&1 \
    || { echo "install failed, see install.txt"; tail -20 "$OUT/install.txt"; exit 1; }
fi
if ! part cpp; then
  :
elif cmake -S . -B /tmp/peerdelivery-cpp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
     -DGEYSER_BUILD_PYTHON=OFF ${CMAKE_ARGS:-} > "$OUT/cpp-configure.txt" 2>&1; then
  targets="test_peer_delivery test_peer_copy"
  if timeout 400 cmake --build /tmp/peerdelivery-cpp --target $targets -j "$(nproc)" > "$OUT/cpp-build.txt" 2>&1; then
    for t in $targets; do
      GEYSER_VALIDATION=1 timeout 180 /tmp/peerdelivery-cpp/tests/cpp/$t > "$OUT/cpp-$t.txt" 2>&1 || status=1
      echo "C++ $t: $(grep -E '^\[  (PASSED|FAILED|SKIPPED)  \]' "$OUT/cpp-$t.txt" | tr '\n' ' ')"
    done
  else
    echo "C++ tests: the build failed, see cpp-build.txt"; tail -20 "$OUT/cpp-build.txt"; status=1
  fi
else
  echo "C++ tests not run: the configure failed (GoogleTest missing?), see cpp-configure.txt"
fi
if part fault; then
  if cmake -S . -B /tmp/peerdelivery-fault -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
       -DGEYSER_BUILD_PYTHON=OFF -DGEYSER_FAULT_INJECTION=ON ${CMAKE_ARGS:-} > "$OUT/fault-configure.txt" 2>&1 &&
     timeout 400 cmake --build /tmp/peerdelivery-fault --target test_faults -j "$(nproc)" > "$OUT/fault-build.txt" 2>&1; then
    GEYSER_VALIDATION=1 timeout 180 /tmp/peerdelivery-fault/tests/cpp/test_faults --gtest_filter='SenderFaults.*:PeerCopyFaults.*' \
      > "$OUT/cpp-test_faults.txt" 2>&1 || status=1
    echo "C++ test_faults (SenderFaults, PeerCopyFaults): $(grep -E '^\[  (PASSED|FAILED|SKIPPED)  \]' "$OUT/cpp-test_faults.txt" | tr '\n' ' ')"
  else
    echo "fault-injection build failed, see fault-configure.txt, fault-build.txt"; tail -20 "$OUT/fault-build.txt"; status=1
  fi
fi

# 2. The Python tests (the new ones first: they carry the same-GPU switch themselves).
if part pytest; then
  for t in test_peer_delivery test_peer_copy test_fallback; do
    GEYSER_VALIDATION=1 timeout 420 "$PY" -m pytest -q -rs -p no:cacheprovider "tests/$t.py" \
      --junitxml="$OUT/$t.xml" > "$OUT/$t.txt" 2>&1 || status=1
    echo "$t: $(tail -1 "$OUT/$t.txt")"
  done
  grep -E "^(FAILED|ERROR)|SKIPPED" "$OUT/test_peer_delivery.txt" | head -20
fi

# 3. The benchmark (the engine table, then the delivery comparison).
if part bench; then
  timeout 500 "$PY" benchmarks/peer_copy.py --quick --json "$OUT/bench-peer-copy.json" > "$OUT/bench-peer-copy.txt" 2>&1 \
    || status=1
  tail -40 "$OUT/bench-peer-copy.txt"
fi
exit $status
