#!/usr/bin/env bash
# Streams on the GPU machine (NVIDIA H200, Python 3.12 at /opt/torch/.venv, the package already
# built and installed there; ../shared/gpu/README.md): the stream tests with exportable Vulkan
# timelines (kill and soak included), then the stream benchmarks (fan-out to 1, 4 and 16 consumer
# processes in both delivery modes at 1080p, and a 50 ms-a-frame consumer in latest mode).
# Writes everything under $OUT; bounded to about 6 minutes in all.
#
#   OUT=/tmp/out bash scripts/gpu/streams.sh
#
# Tensor streams to torch/CuPy/JAX and the comparison against torch.multiprocessing are
# scripts/gpu/tensors.sh's.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-streams-out
source scripts/gpu/common.sh
"$PY" -c "import geyser; d = geyser.Device(); print(d.name, d.info.driver_name, d.info.driver_info, \
d.info.timeline_semaphore_export)" >> "$OUT/device.txt" 2>&1

# 1. Tests (about 2 minutes there): every stream behaviour, with Vulkan timelines where the
# device exports them (sync="auto" picks them), the sender tests, and kill/soak in both modes.
timeout 200 "$PY" -m pytest -q -p no:cacheprovider tests/test_streams.py tests/test_sender.py \
  tests/test_kill.py "tests/test_soak.py::test_soak_stream_in_both_modes" \
  --junitxml="$OUT/streams-tests.xml" > "$OUT/streams-tests.txt" 2>&1 || status=1
tail -3 "$OUT/streams-tests.txt"

# 2. Benchmarks (about 2 minutes there): 1/4/16 consumers x both modes at 1920x1080, 3 repeats,
# p50/p99 handoff and producer per-frame cost; the latest-mode slow consumer ratio.
timeout 180 "$PY" - "$OUT/streams-bench.json" > "$OUT/streams-bench.txt" 2>&1 <<'PYEOF' || status=1
import json, statistics, sys
import geyser
from geyser import bench, bench_streams

dev = geyser.Device()
cfg = {"quick": False, "frames": 300, "repeats": 3}
groups = bench_streams.comparisons(dev, cfg, lambda msg: print("  " + msg, flush=True), bench._Comparison)
results = [g.result() for g in groups]
bench._print_table(results, sys.stdout)
summary = {}
for r in results:
    rows = {row["case"]: row for row in r["rows"]}
    if r["key"].startswith("fanout-") and not r["key"].startswith("fanout-cost"):
        summary[r["key"] + ": p50 16 consumers / 1"] = rows["16"]["ratio_p50"]
    if r["key"] == "latest-slow-consumer":
        summary["latest: producer period with a 50 ms consumer / none (p50)"] = rows["slow"]["ratio_p50"]
print(json.dumps(summary, indent=2))
with open(sys.argv[1], "w") as f:
    json.dump({"device": dev.name, "comparisons": results, "summary": summary}, f, indent=2)
PYEOF
tail -8 "$OUT/streams-bench.txt"
exit $status
