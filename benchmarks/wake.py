"""Cross-process wake latency: Geyser's timelines against a raw eventfd ping-pong.

One parent and one child process take turns: the parent signals, the child wakes and signals
back, the parent wakes. A round trip is two wake-ups, so the one-way wake latency is half of it.
The same two processes' eventfd ping-pong is the baseline.

Run ``python benchmarks/wake.py`` for the table (p50, p99, ratios to eventfd), or
``python -m pytest benchmarks`` for pytest-benchmark's statistics. The measuring code lives in
``geyser.bench`` (``python -m geyser bench`` runs this comparison next to the others).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import geyser
from geyser.bench import percentile, sample, wake_modes

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; medians are reported")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    dev = geyser.Device(args.device)
    modes = wake_modes(dev)
    results = {m: {"p50": [], "p99": []} for m in modes}
    for _ in range(args.repeats):
        for m in modes:  # interleaved, so drifting machine load hits every mode alike
            xs = sample(m, args.rounds, dev)
            results[m]["p50"].append(percentile(xs, 0.50))
            results[m]["p99"].append(percentile(xs, 0.99))
    table = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in results.items()}
    base = table["eventfd"]
    print(f"device: {dev.name} ({dev.info.driver_name}); {args.rounds} round trips x {args.repeats} repeats; "
          "one-way wake latency = half a round trip")
    print(f"{'mechanism':<22}{'p50 us':>10}{'p99 us':>10}{'p50 / eventfd':>16}{'p99 / eventfd':>16}")
    names = {"eventfd": "eventfd (baseline)", "portable": "portable timeline", "vulkan": "Vulkan timeline"}
    for m in modes:
        r = table[m]
        print(f"{names[m]:<22}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['p50'] / base['p50']:>16.2f}"
              f"{r['p99'] / base['p99']:>16.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": dev.name, "driver": dev.info.driver_info, "rounds": args.rounds,
                       "repeats": args.repeats, "results": table}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
