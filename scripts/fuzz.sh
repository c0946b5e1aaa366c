#!/usr/bin/env bash
# Fuzzes the wire decoder for a bounded time: installs clang and libFuzzer if missing (Debian 12:
# clang, libclang-rt-14-dev), builds tests/fuzz into build/fuzz with ASan and UBSan, replays the
# seed corpus and saved regressions, then fuzzes for FUZZ_SECONDS (default 60) from a scratch copy
# of tests/fuzz/corpus. Prints the executions count and the number of crashes; exits non-zero on
# any crash, leak, timeout or out-of-memory, leaving the input under build/fuzz/run-*/ .
#
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh
#   ./build/fuzz/fuzz_wire <crash file>      # reproduce one input
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/libfuzzer_stats.sh
seconds=${FUZZ_SECONDS:-60}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_packages=(clang libclang-rt-14-dev libvulkan-dev)
command -v cmake >/dev/null || apt_packages+=(cmake)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [ -f build/fuzz/CMakeCache.txt ]; then generator=(); fi  # the cache keeps the first one
CC=clang CXX=clang++ cmake -S tests/fuzz -B build/fuzz "${generator[@]}" \
    >/dev/null
cmake --build build/fuzz -j "$(nproc 2>/dev/null || echo 2)"

echo "== replaying the seed corpus and saved regressions"
ctest --test-dir build/fuzz --output-on-failure

run=build/fuzz/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run/corpus"
cp tests/fuzz/corpus/* "$run/corpus/"
extra=()
if compgen -G "tests/fuzz/regressions/*" >/dev/null; then extra=(tests/fuzz/regressions); fi

echo "== fuzzing for ${seconds}s (log: $run/fuzz.log)"
# New inputs go to the scratch corpus (the first directory), never into the source tree. A single
# input taking 10 s is a hang in a decoder of at most 64 KiB. 8 KiB inputs reach the default
# 4096-byte string limit; longer ones would only slow the search down.
started=$SECONDS
set +e
./build/fuzz/fuzz_wire -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$run/" "$run/corpus" "${extra[@]}" >"$run/fuzz.log" 2>&1
rc=$?
set -e
elapsed=$((SECONDS - started))

libfuzzer_stats "$run" "$rc"

echo "fuzz: ${executions:-?} executions in ${elapsed}s (${per_second:-?} exec/s), ${coverage:-?} coverage" \
     "points, ${new_units:-?} new corpus units, ${crashes} crashes"
if [ "$crashes" != 0 ]; then
  grep -E 'fuzz_wire: BUG|^==[0-9]+==ERROR|SUMMARY|runtime error|deadly signal' "$run/fuzz.log" | head -n 20 >&2 || true
  for f in "${artifacts[@]}"; do
    echo "fuzz: failing input $f; reproduce with ./build/fuzz/fuzz_wire $f" >&2
  done
  echo "fuzz: libFuzzer exited with $rc; full log in $run/fuzz.log" >&2
  exit 1
fi
