"""A consumer process for tests/test_fallback.py and scripts/gpu/fallback.sh.

``consume NAME COUNT ZERO_COPY HOLD``: subscribes to NAME on GEYSER_DEVICE's device with
``zero_copy=ZERO_COPY``, reads COUNT frames (or until the producer goes), checks each frame's
pixels against the demo pattern of its number while it is held, and prints one JSON line: the
path and reason, the numbers, how many frames were wrong, the error that ended it, and the fds
open before subscribing and after closing.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import numpy as np

import geyser
from geyser.demo import pattern


def consume(name: str, count: int, zero_copy: str, hold: float) -> int:
    dev = geyser.Device()
    fds_before = len(os.listdir("/proc/self/fd"))
    answer: dict = {"device": dev.info.name}
    try:
        sub = geyser.Subscriber(dev, name, timeout=10, zero_copy=zero_copy)
    except geyser.GeyserError as e:
        answer["error"] = f"{type(e).__name__}: {e}"
        gc.collect()
        answer["fds"] = [fds_before, len(os.listdir("/proc/self/fd"))]
        print(json.dumps(answer), flush=True)
        return 0
    print(json.dumps({"subscribed": sub.info.current_frame, "path": sub.path}), flush=True)
    numbers, bad, error = [], 0, None
    desc = sub.info.descriptor
    try:
        while len(numbers) < count:
            with sub.next_frame(timeout=10) as f:
                want = pattern(desc.format, desc.width, desc.height, f.number)
                bad += not np.array_equal(f.texture.download(), want)
                if hold:
                    time.sleep(hold)
                    bad += not np.array_equal(f.texture.download(), want)
                numbers.append(f.number)
    except geyser.GeyserError as e:
        error = f"{type(e).__name__}: {e}"
    answer.update(path=sub.path, reason=sub.reason, numbers=numbers, bad=bad, dropped=sub.frames_dropped,
                  error=error)
    sub.close()
    f = sub = None
    gc.collect()
    answer["fds"] = [fds_before, len(os.listdir("/proc/self/fd"))]
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(consume(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])))
