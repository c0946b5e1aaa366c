#!/usr/bin/env bash
# OpenGL interop on the GPU machine (NVIDIA EGL, GL_EXT_semaphore_fd + GL_NV_timeline_semaphore):
# the GL test suite, including the GL semaphore/timeline tests in and across processes (a GL
# consumer whose reads wait on the GPU for a Vulkan producer process), the C++ GL tests and the
# Subscriber's GPU-wait tests where GoogleTest is there, the Python GPU-wait test of
# tests/test_sender.py, and the OpenGL consumer benchmark at 1080p and 4K.
# Results go under $OUT. Run from the checkout root, after the usual prologue and install:
#   source .gl/prologue.sh && python3 -m pip install --no-build-isolation --no-deps -q . \
#     && python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
#     && bash scripts/gpu/gl.sh
# .whl/ holds the py3.12 wheels of moderngl, glcontext, glfw, mujoco (+ mujoco-core,
# mujoco-studio, pyopengl, websockets). Exits non-zero if any step failed; every step runs.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gl-out}
mkdir -p "$OUT"
export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export MUJOCO_GL=egl
rc=0
step() { echo "== $1"; shift; "$@" || { echo "FAILED ($?): $*"; rc=1; }; }

context() {
  python3 - <<'PY'
import moderngl, geyser, geyser.gl
device = geyser.Device()
ctx = moderngl.create_standalone_context(backend="egl")
gl = geyser.gl.GlContext(device)
i = gl.info
print(f"vulkan: {device.name} {device.info.driver_name} {device.info.driver_info} uuid {device.info.device_uuid}")
print(f"gl: {i.platform} {i.vendor} | {i.renderer} | {i.version}")
print(f"memory_object_fd {i.memory_object_fd} semaphore_fd {i.semaphore_fd} timeline {i.timeline_semaphore}")
print(f"device uuids {[u.hex() for u in i.device_uuids]} driver uuid {i.driver_uuid.hex()} sync {gl.sync_path.name}")
with geyser.gl.HeadlessContext(device) as h:
    print(f"HeadlessContext platform: {h.platform}")
PY
}

cpp_tests() {
  # tests/cpp needs GoogleTest; where it is missing the C++ GL tests are reported as not run.
  if ! cmake -S . -B /tmp/gl-cpp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEYSER_BUILD_TESTS=ON \
       ${CMAKE_ARGS:-} > "$OUT/cpp-configure.txt" 2>&1; then
    echo "C++ GL tests not run: the configure failed (GoogleTest missing?), see cpp-configure.txt"
    return 0
  fi
  cmake --build /tmp/gl-cpp --target test_gl test_sender -j "$(nproc)" > "$OUT/cpp-build.txt" 2>&1 &&
    GEYSER_VALIDATION=1 /tmp/gl-cpp/tests/cpp/test_gl &&
    GEYSER_VALIDATION=1 /tmp/gl-cpp/tests/cpp/test_sender --gtest_filter='*GpuWait*:*GpuSignalled*' 
}

pytests() {
  GEYSER_VALIDATION=1 timeout 500 python3 -m pytest -q -rs -p no:cacheprovider tests/test_gl.py tests/test_gl_tools.py \
    tests/test_sender.py::test_next_frame_wait_gpu_leaves_the_ready_wait_to_the_gpu
}

bench() {
  python3 - "$OUT/bench-gl.json" <<'PY'
import json, sys, geyser
from geyser import bench, bench_gl
device = geyser.Device()
skipped = []
groups = bench_gl.comparisons(device, [(1920, 1080), (3840, 2160)], 3, 100, lambda w, h: 20,
                              lambda m: print("  ", m, flush=True), skipped, zero_copy=bench.zero_copy,
                              copy_path=bench.copy_path, comparison=bench._Comparison)
results = [g.result() for g in groups]
for r in results:
    for row in r["rows"]:
        print(f"{r['title']:<28} {row['label']:<38} p50 {row['p50']:9.3f} ms  p99 {row['p99']:9.3f} ms  "
              f"ratio p50 {row['ratio_p50']:8.1f}x  p99 {row['ratio_p99']:8.1f}x")
print("skipped:", skipped)
json.dump({"device": device.name, "comparisons": results, "skipped": skipped}, open(sys.argv[1], "w"), indent=2)
sys.exit(1 if skipped else 0)
PY
}

step "GL context" context > "$OUT/gl-context.txt" 2>&1
step "C++ GL tests" cpp_tests > "$OUT/cpp-test_gl.txt" 2>&1
step "pytest tests/test_gl.py tests/test_gl_tools.py" pytests > "$OUT/pytest-gl.txt" 2>&1
step "OpenGL consumer benchmark, 1080p and 4K" bench > "$OUT/bench-gl.txt" 2>&1
tail -n 3 "$OUT"/*.txt
exit $rc
