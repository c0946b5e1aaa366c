#!/usr/bin/env bash
# Fuzzes the Python-facing handle reconstruction (tests/fuzz/fuzz_handles.py: from_bytes of every
# handle class, receive_handle on a channel, the multiprocessing rebuild functions) with atheris
# for a bounded time: installs atheris with pip if missing, replays the seed corpus (written by
# tests/fuzz/make_handles_corpus.py), then fuzzes for
# FUZZ_SECONDS (default 60) from a scratch copy of tests/fuzz/handles_corpus, with the Khronos
# validation layer on unless GEYSER_VALIDATION is set otherwise. Prints the executions count and
# the number of crashes; exits non-zero on any crash (an exception that is not a GeyserError,
# TypeError or ValueError, a handle whose to_bytes() differs from the bytes it was decoded from,
# an fd leak, a validation message, a segfault), leaving the input under
# build/fuzz_handles/run-*/ .
#
#   FUZZ_SECONDS=300 bash scripts/fuzz_handles.sh
#   python tests/fuzz/fuzz_handles.py <crash file>      # reproduce one input
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/libfuzzer_stats.sh
PYTHON=${PYTHON:-python3}
seconds=${FUZZ_SECONDS:-60}
export GEYSER_VALIDATION=${GEYSER_VALIDATION:-1}

if ! "$PYTHON" -c "import atheris" 2>/dev/null; then
  echo "fuzz_handles: installing atheris"
  "$PYTHON" -m pip install -q atheris
fi

run=build/fuzz_handles/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run/corpus"
cp tests/fuzz/handles_corpus/* "$run/corpus/"

echo "== replaying the seed corpus"
"$PYTHON" tests/fuzz/fuzz_handles.py -runs=0 tests/fuzz/handles_corpus >"$run/replay.log" 2>&1 || {
  tail -n 30 "$run/replay.log" >&2
  echo "fuzz_handles: a seed input fails; log in $run/replay.log" >&2
  exit 1
}

echo "== fuzzing for ${seconds}s (log: $run/fuzz.log)"
started=$SECONDS
set +e
"$PYTHON" tests/fuzz/fuzz_handles.py -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=512 \
    -print_final_stats=1 -artifact_prefix="$run/" "$run/corpus" >"$run/fuzz.log" 2>&1
rc=$?
set -e
elapsed=$((SECONDS - started))

libfuzzer_stats "$run" "$rc"

echo "fuzz_handles: ${executions:-?} executions in ${elapsed}s (${per_second:-?} exec/s)," \
     "${coverage:-?} Python coverage points, ${crashes} crashes"
if [ "$crashes" != 0 ]; then
  grep -E -A3 'Uncaught Python exception|Finding|deadly signal|ERROR: libFuzzer' "$run/fuzz.log" | head -n 30 >&2 || true
  for f in "${artifacts[@]}"; do
    echo "fuzz_handles: failing input $f; reproduce with $PYTHON tests/fuzz/fuzz_handles.py $f" >&2
  done
  echo "fuzz_handles: atheris exited with $rc; full log in $run/fuzz.log" >&2
  exit 1
fi
