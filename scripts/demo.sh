#!/usr/bin/env bash
# The main job: set up, then share a texture between two processes on the default device and
# verify every byte. Extra arguments go to `python -m geyser demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m geyser demo "$@"
