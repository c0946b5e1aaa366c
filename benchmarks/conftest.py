"""Shared fixtures of the benchmark suites: the device present (skipped, with the loader's message,
where there is none)."""

from __future__ import annotations

import pytest

import geyser


@pytest.fixture(scope="session")
def device():
    try:
        return geyser.Device()
    except geyser.VulkanUnavailableError as e:
        pytest.skip(str(e))
