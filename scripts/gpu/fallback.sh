#!/usr/bin/env bash
# The copy path and explain/doctor on the GPU machine, with two real devices in one process:
# NVIDIA and lavapipe (Debian's mesa-vulkan-drivers packed by `scripts/gpu/lavapipe.sh pack` into build/lvp/, carried there;
# after .gl/prologue.sh names both ICDs). Runs from the repository root after the package is
# installed there (../shared/gpu/README.md); writes everything under $OUT; about 8 minutes.
#
#   OUT=/tmp/out bash scripts/gpu/fallback.sh
#
# 1. tests/test_fallback.py with the producer on NVIDIA and the consumers on lavapipe, then the
#    reverse: every frame verified in both delivery modes, a late joiner, zero_copy="require"
#    refused before any import, the reasons reported, explain for each pair, doctor --json, and
#    copy_to between the devices (the release rules and hostile-ring cases run on the producer's
#    device).
# 2. explain/doctor --json for each pair, saved as JSON.
# 3. The benchmark: the copy path at 1080p and 4K against the hand-written copy path and zero-copy,
#    and a copy subscriber's cost to zero-copy subscribers (producer on NVIDIA, copy consumer on
#    lavapipe; then both on NVIDIA with zero_copy="never").
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-fallback-out
source scripts/gpu/common.sh
source scripts/gpu/lavapipe.sh
cp "$OUT/device.txt" "$OUT/devices.txt"
"$PY" -c "import geyser
for d in geyser.devices(): print(d.index, d.name, d.driver_name, d.driver_info, d.device_uuid, d.driver_uuid)" \
  >> "$OUT/devices.txt" 2>&1
cat "$OUT/devices.txt"
if ! "$PY" -c "import geyser, sys; n = [d.name for d in geyser.devices()]; \
sys.exit(0 if any('NVIDIA' in x for x in n) and any('llvmpipe' in x for x in n) else 1)"; then
  echo "fallback.sh: both NVIDIA and llvmpipe must be visible (carry build/lvp: scripts/gpu/lavapipe.sh)" | tee "$OUT/error.txt"
  exit 1
fi

# 1. The tests, both pairs (about 1-2 minutes each there).
for pair in "NVIDIA llvmpipe" "llvmpipe NVIDIA"; do
  set -- $pair
  tag="$1-to-$2"
  GEYSER_TEST_PRODUCER_DEVICE=$1 GEYSER_TEST_CONSUMER_DEVICE=$2 GEYSER_DEVICE=$1 \
    timeout 280 "$PY" -m pytest -q -p no:cacheprovider tests/test_fallback.py \
    --junitxml="$OUT/tests-$tag.xml" > "$OUT/tests-$tag.txt" 2>&1 || status=1
  echo "tests $tag:"; tail -3 "$OUT/tests-$tag.txt"
done

# 2. explain and doctor --json for each pair (a sender on one device, asked from the other).
timeout 120 "$PY" - "$OUT" > "$OUT/explain.txt" 2>&1 <<'PYEOF' || status=1
import json, os, subprocess, sys
import geyser
out = sys.argv[1]
result = {}
for prod, cons in (("NVIDIA", "llvmpipe"), ("llvmpipe", "NVIDIA")):
    p, c = geyser.Device(prod), geyser.Device(cons)
    name = f"fallback-{prod}"
    with geyser.Sender(p, name, geyser.TextureDescriptor(64, 48)) as s:
        e = geyser.explain(name, c)
        doctor = subprocess.run([sys.executable, "-m", "geyser", "doctor", name, "--device", cons, "--json"],
                                capture_output=True, text=True, timeout=60)
        try:
            geyser.Subscriber(c, name, zero_copy="require")
            refused = None
        except geyser.DeviceMismatchError as err:
            refused = str(err)
        sub = geyser.Subscriber(c, name)
        path, reason = sub.path, sub.reason
        sub.close()
    result[f"{prod}->{cons}"] = {"explain": e.to_dict(), "explain_devices": geyser.explain(p, c).to_dict(),
                                 "cuda_for_consumer": geyser.explain_cuda(c).to_dict(),
                                 "doctor": json.loads(doctor.stdout) if doctor.returncode == 0 else doctor.stderr,
                                 "require_refused": refused, "auto_path": path, "auto_reason": reason}
    print(f"{prod} -> {cons}: zero_copy={e.zero_copy} codes={e.codes} auto={path}")
    print("  require:", refused)
    assert not e.zero_copy and path == "copy" and refused, result
with open(os.path.join(out, "explain.json"), "w") as f:
    json.dump(result, f, indent=2)
PYEOF
cat "$OUT/explain.txt"

# 3. The benchmark (about 3 minutes there): NVIDIA producer, lavapipe copy consumer; then the
# same device with zero_copy="never" (what the copy path costs on the GPU alone).
for fb in llvmpipe same; do
  timeout 240 "$PY" - "$OUT/bench-$fb.json" "$fb" > "$OUT/bench-$fb.txt" 2>&1 <<'PYEOF' || status=1
import json, sys
import geyser
from geyser import bench, bench_fallback
dev = geyser.Device("NVIDIA")
other = None if sys.argv[2] == "same" else geyser.Device(sys.argv[2])
cfg = {"quick": False, "frames": 100, "repeats": 3}
groups = bench_fallback.comparisons(dev, [(1920, 1080), (3840, 2160)], cfg, lambda w, h: 30 if w < 3000 else 12,
                                    lambda msg: print("  " + msg, flush=True), bench._Comparison,
                                    bench.copy_path, bench.zero_copy, consumer_device=other,
                                    start_consumer=bench._consumer)
results = [g.result() for g in groups]
bench._print_table(results, sys.stdout)
with open(sys.argv[1], "w") as f:
    json.dump({"device": dev.name, "consumer": other.name if other else dev.name, "comparisons": results}, f, indent=2)
PYEOF
  echo "bench ($fb):"; tail -14 "$OUT/bench-$fb.txt"
done
exit $status
