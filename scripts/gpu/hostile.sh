#!/usr/bin/env bash
# Issue #14 on the NVIDIA GPU machine (../shared/gpu/README.md: run from the checkout root with
# .gl/ carried). What it checks there, where every memory fd is /dev/nvidiactl:
#  - the memory-file rules are the device node's (nothing read, nothing refused): imports of real
#    exports still work (test_bad_handles, test_channel, test_pickling, test_sender);
#  - the memfd attacks of tests/test_hostile_peers.py skip with NVIDIA's reason, and the rest
#    (identity, frame numbers, O_PATH, UUIDs, runtime dir, other uid, listing) pass;
#  - the C++ handle-type and sender tests pass (the memfd ones skip).
set -euo pipefail
source .gl/prologue.sh
python3 -m pip install --no-build-isolation --no-deps -q .
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
  -DGEYSER_BUILD_PYTHON=OFF -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" > /dev/null
cmake --build build/gpu -j16 > /dev/null
GEYSER_VALIDATION=1 ctest --test-dir build/gpu -j8 -R "MemoryServices|XdgRuntimeDir|Channel|Sender|Subscriber" \
  --output-on-failure | tail -5
GEYSER_VALIDATION=1 python3 -m pytest -q -rs tests/test_hostile_peers.py tests/test_bad_handles.py \
  tests/test_channel.py tests/test_sender.py tests/test_pickling.py
