#!/usr/bin/env bash
# The whole test suite: set up, build and run the C++ tests (ctest), build the consumer project
# against the installed geyser::core, then run pytest with the Khronos validation layer on
# (any validation message fails the test that caused it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
bash scripts/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=build/cpp
echo "== C++ core and tests"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON -DGEYSER_INSTALL=ON \
      -DGEYSER_WERROR=ON -DCMAKE_INSTALL_PREFIX="$PWD/build/install" >/dev/null
cmake --build "$build" -j "$jobs"
GEYSER_VALIDATION=1 ctest --test-dir "$build" --output-on-failure -j "$jobs"

echo "== C++ core and tests under AddressSanitizer + UndefinedBehaviorSanitizer, with fault injection"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGEYSER_BUILD_TESTS=ON -DGEYSER_SANITIZE=ON \
      -DGEYSER_FAULT_INJECTION=ON -DGEYSER_WERROR=ON >/dev/null
cmake --build build/asan -j "$jobs"
GEYSER_VALIDATION=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions="$PWD/tests/cpp/lsan.supp" ctest --test-dir build/asan --output-on-failure -j "$jobs"

echo "== Windows core and tests (mingw-w64 cross-compile, -Werror, run under wine)"
bash scripts/windows.sh

echo "== C++ consumer project against the installed package"
cmake --install "$build" >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/consumer
GEYSER_VALIDATION=1 ./build/consumer/geyser_consumer_smoke

echo "== C++ consumer example subscribing to the Python producer example"
cmake -S examples/cpp -B build/examples -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/examples
name="ci-example-$$"
"$PYTHON" examples/producer.py --name "$name" --frames 60 --width 96 --height 40 &
producer=$!
GEYSER_VALIDATION=1 ./build/examples/geyser_consumer "$name" 60
wait "$producer"

echo "== Python consumer example subscribing to the C++ producer example (frames drawn by a compute shader)"
name="ci-cpp-producer-$$"
GEYSER_VALIDATION=1 ./build/examples/geyser_producer "$name" 60 96 40 &
producer=$!
GEYSER_VALIDATION=1 "$PYTHON" examples/consumer.py --name "$name" --frames 60 --timeout 30
wait "$producer"

echo "== C++ OpenGL consumer example (each frame imported into EGL/llvmpipe) subscribing to the Python producer example"
name="ci-gl-consumer-$$"
"$PYTHON" examples/producer.py --name "$name" --frames 30 --width 96 --height 40 &
producer=$!
GEYSER_VALIDATION=1 ./build/examples/geyser_gl_consumer "$name" 30
wait "$producer"

echo "== Wire and sender-protocol decoders under libFuzzer (ASan+UBSan), bounded"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash scripts/fuzz.sh

echo "== Python handle reconstruction under atheris, bounded"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash scripts/fuzz_handles.sh

echo "== Python tests (validation layer on)"
set +e
GEYSER_VALIDATION=1 "$PYTHON" -m pytest -p no:cacheprovider tests "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests (exit 5)" >&2
  exit 1
fi
exit "$rc"
