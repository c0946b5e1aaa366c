#!/usr/bin/env bash
# Installs what Geyser needs on a fresh Debian/Ubuntu machine and builds the package into the
# current Python: system packages (Vulkan headers, volk, lavapipe, validation layers, GoogleTest,
# glslangValidator for the examples' shaders, a C++ compiler, Mesa's EGL/llvmpipe OpenGL and Xvfb
# for geyser.gl) with apt-get, then the Python build
# and test tools with pip (the `vulkan` package records the tests' own Vulkan work; moderngl, glfw,
# MuJoCo and CPU torch for the OpenGL tests and examples; torch==2.13.0 is the CPU build), then
# `pip install .`. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

apt_packages=(g++ make pkg-config libvulkan1 libvulkan-dev libvulkan-volk-dev mesa-vulkan-drivers
              vulkan-validationlayers vulkan-tools libgtest-dev glslang-tools
              libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgles2 libglx-mesa0 xvfb xauth)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$PYTHON" -m pip install -q --disable-pip-version-check "scikit-build-core>=0.10" "pybind11>=2.12" \
    "cmake>=3.18" ninja "numpy>=1.21" "pytest>=7" "pytest-benchmark>=4" "vulkan>=1.3" \
    "moderngl>=5.9" glfw mujoco torch==2.13.0 2>&1 | grep -v "Running pip as the 'root' user" || true
"$PYTHON" -m pip install -q --disable-pip-version-check --no-build-isolation . 2>&1 \
    | grep -v "Running pip as the 'root' user" || true
"$PYTHON" -c "import geyser, geyser._native" || { echo "setup: geyser did not install" >&2; exit 1; }
echo "setup: geyser installed into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
