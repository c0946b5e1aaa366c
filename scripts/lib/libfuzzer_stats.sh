# Sourced by scripts/fuzz.sh and scripts/fuzz_handles.sh (libFuzzer and atheris write the same log).
# libfuzzer_stats RUN_DIR RC: reads RUN_DIR/fuzz.log and the artifacts libFuzzer left in RUN_DIR,
# and sets executions, per_second, new_units, coverage, artifacts (an array) and crashes; a
# non-zero RC with no artifact counts as one crash.
libfuzzer_stats() {
  local run=$1 rc=$2 f
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" | tail -n 1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/fuzz.log" | tail -n 1)
  new_units=$(sed -n 's/^stat::new_units_added: *//p' "$run/fuzz.log" | tail -n 1)
  coverage=$(grep -o 'cov: [0-9]*' "$run/fuzz.log" | tail -n 1 | cut -d' ' -f2)
  artifacts=()
  for f in "$run"/crash-* "$run"/leak-* "$run"/timeout-* "$run"/oom-*; do
    [ -e "$f" ] && artifacts+=("$f")
  done
  crashes=${#artifacts[@]}
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then crashes=1; fi
  return 0
}
