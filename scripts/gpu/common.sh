# Sourced by the scripts in scripts/gpu after `cd` to the checkout root, with OUT_DEFAULT set:
# makes $OUT (OUT, or OUT_DEFAULT), takes .gl's prologue where it was carried, picks $PY (the
# GPU machine's /opt/torch/.venv, else python3), sets status=0, and starts $OUT/device.txt with
# the date, the commit and the GPU.
OUT=${OUT:-$OUT_DEFAULT}
mkdir -p "$OUT"
[ -f .gl/prologue.sh ] && source .gl/prologue.sh
PY=${PY:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=python3
status=0
{
  date -u +"%Y-%m-%dT%H:%M:%SZ"
  git rev-parse HEAD 2>/dev/null || true
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
} > "$OUT/device.txt" 2>&1
