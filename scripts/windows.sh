#!/usr/bin/env bash
# Cross-compiles Geyser's Windows core and its GPU-free C++ tests with Debian's mingw-w64 (warnings
# as errors) and runs the tests under wine. Installs what it needs with apt-get first and skips
# what is already there. What this covers and what it cannot: docs/platforms.md.
#
#   bash scripts/windows.sh            # build dir: build/mingw (GEYSER_MINGW_BUILD to change)
set -euo pipefail
cd "$(dirname "$0")/.."

# g++-mingw-w64-x86-64-posix: the posix-threads compilers (std::thread, std::mutex);
# libgtest-dev: GoogleTest's sources in /usr/src/googletest, built here for Windows;
# libvulkan-dev, libvulkan-volk-dev: the header-only Vulkan headers and volk, shared with Linux;
# wine64: runs the tests (console programs only; no display is needed).
apt_packages=(g++-mingw-w64-x86-64-posix cmake ninja-build libgtest-dev libvulkan-dev libvulkan-volk-dev wine64 wine)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "windows: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${GEYSER_MINGW_BUILD:-build/mingw}
jobs=$(nproc 2>/dev/null || echo 2)
echo "== Windows core and tests (mingw-w64 cross-compile, -Werror)"
cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGEYSER_BUILD_TESTS=ON -DGEYSER_WERROR=ON -DGEYSER_INSTALL=OFF >/dev/null
cmake --build "$build" -j "$jobs"

echo "== Windows tests under wine"
# A private wine prefix inside the build dir: the first run creates it (a few seconds), later runs
# reuse it, and nothing is written to the user's ~/.wine.
export WINEPREFIX="$PWD/$build/wineprefix"
export WINEDEBUG=-all
if [ ! -d "$WINEPREFIX" ]; then
  wineboot --init >/dev/null 2>&1 || true
fi
ctest --test-dir "$build" --output-on-failure
