#!/usr/bin/env bash
# On the GPU machine (../shared/gpu/README.md; run from the checkout root with .gl/ carried):
# builds Geyser offline and runs what issue 17 added that an NVIDIA GPU exercises differently
# from lavapipe: the CUDA blocks of README.md and docs/guide.md (tests/test_docs.py; skipped on
# CPU-only CI), Buffer.map() on GPU memory (a view where the memory type is host-visible, else
# UnsupportedOperationError saying why), the typed module, the API and CLI tests, and
# `python -m geyser info --json`. pybind11-stubgen, mypy, pdoc and tqdm may be absent there: the
# stubs are then skipped with a CMake warning, and without tqdm the demo tests are deselected.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .gl/prologue.sh
python3 -m pip install --no-build-isolation --no-deps -q .
select=()
if ! python3 -c "import tqdm" 2>/dev/null; then
  echo "gpu/packaging: tqdm is not installed here: deselecting the demo tests (the demo's progress bar needs it)"
  select=(-k "not demo")
fi
python3 -m pytest -q -p no:cacheprovider -rs tests/test_docs.py tests/test_api.py tests/test_cli.py tests/typed "${select[@]}"
python3 -m geyser info --json | python3 -c "import json, sys; d = json.load(sys.stdin); print([x['name'] for x in d['devices']], d['device'])"
python3 - <<'PY'
import geyser
d = geyser.Device()
b = d.create_shareable_buffer(1 << 20)
print(d.name, "buffer memory type", b.memory_type_index, "host_mappable:", b.host_mappable)
if b.host_mappable:
    v = b.map()
    v[:4] = 7
    print("mapped; read back", b.read(4))
else:
    try:
        b.map()
    except geyser.UnsupportedOperationError as e:
        print("map refused:", e)
PY
