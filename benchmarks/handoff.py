"""Per-frame handoff through a named sender (zero-copy) against the copy path, side by side.

Zero-copy: the producer announces a frame that is already in its ring texture
(``Sender.end_frame``); the consumer process holds it, ready, when ``Subscriber.next_frame``
returns. Copy path (what one would write without Geyser): the producer downloads its texture to
a numpy array, copies it into ``multiprocessing.shared_memory`` and notifies the consumer, which
uploads the bytes into its own texture. Each frame is timed from the producer's start of the
handoff to the consumer holding the frame in a texture (one CLOCK_MONOTONIC for both
processes), one frame in flight at a time, so no queueing is counted.

    python benchmarks/handoff.py                  # 1080p and 4K RGBA8
    python benchmarks/handoff.py --sizes 1920x1080 --frames 200 --copy-frames 30

The measuring functions live in ``geyser.bench`` (``python -m geyser bench`` runs this comparison
next to the others).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import geyser
from geyser.bench import copy_path, percentile, zero_copy



def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--frames", type=int, default=200, help="zero-copy frames per size")
    p.add_argument("--copy-frames", type=int, default=20, help="copy-path frames per size")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    dev = geyser.Device(args.device)
    print(f"device: {dev.name} ({dev.info.driver_name}); RGBA8; one frame in flight")
    print(f"{'size':<11}{'path':<12}{'p50 ms':>10}{'p99 ms':>10}{'frames':>8}{'copy / zero-copy p50':>24}")
    results = {}
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        zc = zero_copy(dev, w, h, args.frames)
        cp = copy_path(dev, w, h, args.copy_frames)
        ratio = statistics.median(cp) / statistics.median(zc)
        z = {"p50": percentile(zc, 0.5), "p99": percentile(zc, 0.99), "n": len(zc)}
        c = {"p50": percentile(cp, 0.5), "p99": percentile(cp, 0.99), "n": len(cp)}
        results[size] = {"zero_copy": z, "copy": c, "ratio_p50": ratio}
        print(f"{size:<11}{'zero-copy':<12}{z['p50']:>10.3f}{z['p99']:>10.3f}{len(zc):>8}")
        print(f"{size:<11}{'copy':<12}{c['p50']:>10.3f}{c['p99']:>10.3f}{len(cp):>8}{ratio:>24.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": dev.name, "driver": dev.info.driver_info, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
