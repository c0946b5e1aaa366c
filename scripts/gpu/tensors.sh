#!/usr/bin/env bash
# Tensor streams on the GPU machine (NVIDIA H200, Python 3.12 at /opt/torch/.venv with torch,
# CuPy and JAX, the package already built and installed there; ../shared/gpu/README.md): the
# tensor-stream tests with exportable Vulkan timelines (the torch/CuPy/JAX DLPack paths with GPU
# waits run here; they skip without CUDA), then benchmarks/cuda_handoff.py, whose section 3 is the
# per-frame tensor handoff to torch in another process against torch's own way (a CUDA tensor
# shared once through torch.multiprocessing, an IPC torch.cuda.Event and a Pipe per frame).
# Writes everything under $OUT; bounded to about 7 minutes in all.
#
#   OUT=/tmp/out bash scripts/gpu/tensors.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DEFAULT=/tmp/geyser-tensors-out
source scripts/gpu/common.sh
{
  "$PY" -c "import geyser, geyser.cuda; d = geyser.Device(); print(d.name, d.info.driver_info, \
d.info.timeline_semaphore_export, geyser.cuda.status())"
  "$PY" -c "import torch, cupy, jax; print('torch', torch.__version__, 'cupy', cupy.__version__, 'jax', jax.__version__, jax.devices())"
} >> "$OUT/device.txt" 2>&1

# 1. Tests (about a minute there): -rs lists every skip with its reason, so a GPU test that
# skipped on the GPU machine shows why.
timeout 240 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_tensor_streams.py \
  --junitxml="$OUT/tensors-tests.xml" > "$OUT/tensors-tests.txt" 2>&1 || status=1
tail -12 "$OUT/tensors-tests.txt"

# 2. The C++ tensor-stream tests, where the build tree is there (the lead's setup builds it).
if [ -x build/dev/tests/cpp/test_tensor_streams ]; then
  timeout 60 build/dev/tests/cpp/test_tensor_streams > "$OUT/tensors-cpp.txt" 2>&1 || status=1
  tail -3 "$OUT/tensors-cpp.txt"
fi

# 3. The benchmark (about 2 minutes there): sections 1-3 of cuda_handoff.py, section 3 being the
# tensor stream against torch's IPC event + Pipe, p50/p99 and the ratio.
timeout 300 "$PY" benchmarks/cuda_handoff.py --tensor-frames 500 --json "$OUT/cuda-handoff.json" \
  > "$OUT/cuda-handoff.txt" 2>&1 || status=1
tail -14 "$OUT/cuda-handoff.txt"
exit $status
