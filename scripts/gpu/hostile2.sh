#!/usr/bin/env bash
# The producer's hostile-peer fixes (issue #14, branch hostile2) on the GPU machine, where the
# ready timelines are exported Vulkan semaphores (lavapipe has none): the C++ Sender tests (the
# GPU-wait ones are skipped on CI; end_frame(kGpu)'s forwarding by the device is
# scripts/gpu/fanout.sh's) and tests/test_hostile_producer.py with sync="auto" (Vulkan there).
# Writes the logs under $OUT; about 2 minutes.
#
#   OUT=/tmp/out bash scripts/gpu/hostile2.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/geyser-hostile2-out}
mkdir -p "$OUT"
[ -f .gl/prologue.sh ] && source .gl/prologue.sh
PY=${PY:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=python3
status=0
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON -DGEYSER_BUILD_PYTHON=OFF \
    > "$OUT/cmake.txt" 2>&1 && cmake --build build/gpu -j8 --target test_sender >> "$OUT/cmake.txt" 2>&1 || status=1
build/gpu/tests/cpp/test_sender --gtest_filter='Sender.*' > "$OUT/test_sender.txt" 2>&1 || status=1
"$PY" -m pytest -q tests/test_hostile_producer.py tests/test_streams.py > "$OUT/pytest.txt" 2>&1 || status=1
tail -3 "$OUT/test_sender.txt" "$OUT/pytest.txt"
exit $status
