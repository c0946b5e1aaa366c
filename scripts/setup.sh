#!/usr/bin/env bash
# Installs what Geyser needs on a fresh Debian/Ubuntu machine and builds the package into the
# current Python ($PYTHON, default python3): system packages (Vulkan headers, volk, lavapipe,
# validation layers, GoogleTest, glslangValidator for the examples' shaders, a C++ compiler,
# Mesa's EGL/llvmpipe OpenGL and Xvfb for geyser.gl) with apt-get, then the Python build tools
# with pip, then `pip install .`, printing the compile's progress. Safe to run again; it skips what is already there.
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

# Build tools only (pybind11-stubgen writes the type stubs of geyser._native at build time) and
# the run-time dependencies; scripts/test.sh adds the test tools.
"$PYTHON" -m pip install -q --disable-pip-version-check "scikit-build-core>=0.10" "pybind11>=2.12" \
    "pybind11-stubgen>=2.5" "cmake>=3.18" ninja "numpy>=1.21" "tqdm>=4.60" 2>&1 \
    | grep -v "Running pip as the 'root' user" || true
# The compile takes about a minute on 2 cores: show its progress (ninja's [n/N] lines).
echo "setup: building geyser (the C++ core and the extension) into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
set +e
"$PYTHON" -m pip install -v --disable-pip-version-check --no-build-isolation . 2>&1 \
    | { grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|^\*\*\* |error|Successfully installed' || true; }
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
  echo "setup: pip install . failed (exit $status); '$PYTHON -m pip install -v --no-build-isolation .' shows it all" >&2
  exit 1
fi
"$PYTHON" -c "import geyser, geyser._native" || { echo "setup: geyser did not install" >&2; exit 1; }
echo "setup: geyser installed into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
