"""GPU-to-GPU frame copies: geyser.cuda.PeerCopy against a plain cuMemcpyPeerAsync of the same bytes.

    python benchmarks/peer_copy.py [--device SELECTOR] [--sizes 1920x1080,3840x2160] [--quick] [--json PATH]

Needs CUDA and a device that exports timeline semaphores (the GPU machine). With two GPUs the copy
goes from --device to the other one; with one, to a second Vulkan device on the same GPU. What is
measured is in geyser/bench_peer_copy.py; ``python -m geyser bench`` runs the same section.
"""

from __future__ import annotations

import argparse
import json
import sys

import geyser
from geyser import bench, bench_peer_copy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="source GPU: index, UUID, name or cuda:N")
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    dev = geyser.Device(args.device)
    why = bench_peer_copy.unavailable_reason(dev)
    if why is not None:
        print(f"peer copy benchmark skipped: {why}")
        return 0
    cfg = bench.config(args.quick, None, None)
    skipped: list[str] = []
    groups = bench_peer_copy.comparisons(dev, bench.parse_sizes(args.sizes), cfg, lambda m: print("  " + m, flush=True),
                                         skipped, bench._Comparison)
    groups += bench_peer_copy.delivery_comparisons(dev, bench.parse_sizes(args.sizes), cfg,
                                                   lambda m: print("  " + m, flush=True), skipped, bench._Comparison)
    results = [g.result() for g in groups]
    bench._print_table(results, sys.stdout)
    rows = bench_peer_copy.bandwidth(results)
    bench_peer_copy.print_bandwidth(rows, sys.stdout)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": dev.name, "comparisons": results, "bandwidth": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
