"""pytest-benchmark: one cross-process round trip per benchmark round (geyser.bench, as in wake.py)."""

from __future__ import annotations

import pytest

from geyser.bench import PingPong

ROUNDS = 2000
WARMUP = 200


@pytest.mark.parametrize("mode", ["eventfd", "portable", "vulkan"])
def test_wake_round_trip(benchmark, device, mode):
    if mode == "vulkan" and "opaque_fd" not in device.info.timeline_semaphore_export:
        pytest.skip(f"{device.name} cannot export timeline semaphores")
    benchmark.group = "cross-process wake (round trip = 2 wakes)"
    pp = PingPong(mode, ROUNDS + WARMUP, device)
    try:
        benchmark.pedantic(pp.round_trip, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    finally:
        pp.close()
