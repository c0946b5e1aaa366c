"""pytest-benchmark: per-frame handoff through a named sender against the copy path (geyser.bench, as in handoff.py).

Each benchmark runs one batch of frames between two processes; the per-frame p50/p99 (ms) are
in the benchmark's extra_info (``--benchmark-json``), the batch time in its statistics.
"""

from __future__ import annotations

import statistics

import pytest

from geyser.bench import copy_path, percentile, zero_copy

SIZES = {"1080p": (1920, 1080), "4k": (3840, 2160)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("path", ["zero-copy", "copy"])
def test_handoff(benchmark, device, size, path):
    w, h = SIZES[size]
    benchmark.group = f"handoff {size} RGBA8"
    fn = zero_copy if path == "zero-copy" else copy_path
    frames = 100 if path == "zero-copy" else 8
    lat = benchmark.pedantic(fn, args=(device, w, h, frames), rounds=1, iterations=1)
    benchmark.extra_info.update(
        {"frames": frames, "p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 0.99)}
    )
