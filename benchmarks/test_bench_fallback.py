"""pytest-benchmark: the copy path (a Subscriber whose device cannot import the ring) against the
hand-written copy path and zero-copy, and a copy subscriber's cost to the zero-copy subscribers of
the same sender (geyser.bench_fallback, as ``python -m geyser bench`` runs them).

The per-frame p50/p99 (ms) are in each benchmark's extra_info (``--benchmark-json``).
GEYSER_TEST_CONSUMER_DEVICE names another device for the copy path's consumer (the GPU machine:
NVIDIA and lavapipe); by default it is the same device with ``zero_copy="never"``.
"""

from __future__ import annotations

import os
import statistics

import pytest

import geyser
from geyser.bench import copy_path, percentile, zero_copy
from geyser.bench_fallback import fallback, neighbour

SIZES = {"1080p": (1920, 1080), "4k": (3840, 2160)}


@pytest.fixture(scope="module")
def consumer_device():
    sel = os.environ.get("GEYSER_TEST_CONSUMER_DEVICE")
    return geyser.Device(sel) if sel else None


def _extra(benchmark, lat, frames):
    benchmark.extra_info.update({"frames": frames, "p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 0.99)})


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("path", ["hand-copy", "fallback", "zero-copy"])
def test_copy_path_handoff(benchmark, device, consumer_device, size, path):
    w, h = SIZES[size]
    benchmark.group = f"copy path {size} RGBA8"
    frames = 8
    if path == "fallback":
        fn = lambda: fallback(device, w, h, frames, consumer_device)[0]  # noqa: E731
    elif path == "hand-copy":
        fn = lambda: copy_path(device, w, h, frames)  # noqa: E731
    else:
        fn = lambda: zero_copy(device, w, h, frames)  # noqa: E731
    _extra(benchmark, benchmark.pedantic(fn, rounds=1, iterations=1), frames)


@pytest.mark.parametrize("with_copy", [False, True], ids=["alone", "with-copy-subscriber"])
def test_zero_copy_beside_a_copy_subscriber(benchmark, device, consumer_device, with_copy):
    benchmark.group = "zero-copy handoff 1080p, a copy subscriber beside it or not"
    frames = 30
    lat, producer = benchmark.pedantic(neighbour, args=(device, 1920, 1080, frames, with_copy, consumer_device),
                                       rounds=1, iterations=1)
    _extra(benchmark, lat, frames)
    benchmark.extra_info.update({"producer_p50_ms": statistics.median(producer),
                                 "producer_p99_ms": percentile(producer, 0.99)})
