"""Several threads on one Device at once, and waits that let other Python threads run."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import geyser


def test_threads_create_export_import_and_copy_on_one_device(device):
    errors: list[BaseException] = []
    other = geyser.Device(device.info.device_uuid)

    def worker(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            for _ in range(25):
                tex = device.create_shareable_texture(geyser.TextureDescriptor(int(rng.integers(1, 40)), 7))
                data = rng.integers(0, 256, (7, tex.width, 4), np.uint8)
                tex.upload(data)
                with device.export_texture(tex) as h:
                    imp = other.import_texture(h)
                assert np.array_equal(imp.download(), data)
                payload = rng.integers(0, 256, 257, np.uint8).tobytes()
                buf = device.create_shareable_buffer(257)
                buf.write(payload)
                with device.export_buffer(buf) as bh:
                    assert other.import_buffer(bh).read() == payload
        except BaseException as e:  # noqa: BLE001 - collected and re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors[0]


def test_threads_wait_and_signal_timelines(device):
    kinds = ["portable"] + (["vulkan"] if "opaque_fd" in device.info.timeline_semaphore_export else [])
    for kind in kinds:
        t = device.create_shared_timeline(kind)
        seen = []

        def waiter(i: int) -> None:
            t.wait(i, timeout=10)
            seen.append(i)

        threads = [threading.Thread(target=waiter, args=(i,)) for i in range(1, 9)]
        for th in threads:
            th.start()
        for v in range(1, 9):
            t.signal(v)
        for th in threads:
            th.join(timeout=20)
        assert sorted(seen) == list(range(1, 9)), kind


@pytest.mark.parametrize("what", ["portable-timeline", "vulkan-timeline", "fence", "subscriber"])
def test_blocking_calls_release_the_gil(device, what):
    """While one thread is blocked in Geyser, another Python thread keeps running."""
    if what == "vulkan-timeline" and not device.info.timeline_semaphores:
        pytest.skip(f"{device.name} has no timeline semaphores")
    if what == "portable-timeline":
        obj = device.create_shared_timeline("portable")
        block = lambda: obj.wait(1, timeout=0.6)  # noqa: E731
    elif what == "vulkan-timeline":
        obj = device.create_semaphore("timeline")
        block = lambda: obj.wait(1, timeout=0.6)  # noqa: E731
    elif what == "fence":
        obj = device.create_fence()
        block = lambda: obj.wait(timeout=0.6)  # noqa: E731
    else:
        name = f"gil-{os.getpid()}"
        sender = geyser.Sender(device, name, geyser.TextureDescriptor(4, 4))
        obj = geyser.Subscriber(device, name)
        block = lambda: obj.next_frame(timeout=0.6)  # noqa: E731
    ticks = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    with pytest.raises(geyser.TimeoutError):
        block()
    end = time.monotonic()
    stop.set()
    t.join()
    if what == "subscriber":
        sender.close()
    during = [x for x in ticks if start < x < end]
    # With the GIL held for 0.6 s the ticker could not run at all in that window.
    assert len(during) >= 10, f"only {len(during)} ticks while blocked for {end - start:.2f} s"
