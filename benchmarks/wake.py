"""Cross-process wake latency: Geyser's timelines against a raw eventfd ping-pong.

One parent and one child process take turns: the parent signals, the child wakes and signals
back, the parent wakes. A round trip is two wake-ups, so the one-way wake latency is half of it.
The same two processes' eventfd ping-pong is the baseline.

Run ``python benchmarks/wake.py`` for the table (p50, p99, ratios to eventfd), or
``python -m pytest benchmarks`` for pytest-benchmark's statistics.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import geyser

_PEER = r"""
import json, os, sys
req = json.loads(sys.argv[1])
n = req["rounds"]
if req["mode"] == "eventfd":
    ping, pong = req["fds"]
    for _ in range(n):
        os.eventfd_read(ping)
        os.eventfd_write(pong, 1)
else:
    import geyser
    dev = geyser.Device(req["uuid"])
    t = dev.import_timeline(geyser.TimelineHandle.from_dict(req["timeline"], req["fds"][0]))
    for i in range(n):
        t.wait(2 * i + 1, timeout=30)
        t.signal(2 * i + 2)
print("done", flush=True)
"""


class PingPong:
    """A child process and one round-trip function; ``round_trip()`` exactly ``rounds`` times."""

    def __init__(self, mode: str, rounds: int, device: geyser.Device | None = None):
        self.mode = mode
        self.rounds = rounds
        self.i = 0
        if mode == "eventfd":
            self.ping = os.eventfd(0, os.EFD_CLOEXEC)
            self.pong = os.eventfd(0, os.EFD_CLOEXEC)
            fds = [self.ping, self.pong]
            req = {"mode": mode, "rounds": rounds, "fds": fds}
        else:
            self.timeline = device.create_shared_timeline(mode)
            handle = self.timeline.export()
            fds = [handle.fd]
            req = {"mode": mode, "rounds": rounds, "fds": fds, "uuid": device.info.device_uuid,
                   "timeline": handle.to_dict()}
        self.proc = subprocess.Popen([sys.executable, "-c", _PEER, json.dumps(req)], pass_fds=fds,
                                     stdout=subprocess.PIPE, text=True)
        if mode != "eventfd":
            handle.close()

    def round_trip(self) -> None:
        if self.mode == "eventfd":
            os.eventfd_write(self.ping, 1)
            os.eventfd_read(self.pong)
        else:
            self.timeline.signal(2 * self.i + 1)
            self.timeline.wait(2 * self.i + 2, timeout=30)
        self.i += 1

    def close(self) -> None:
        while self.i < self.rounds:  # let the child finish its loop
            self.round_trip()
        out, _ = self.proc.communicate(timeout=60)
        assert out.strip() == "done", out
        if self.mode == "eventfd":
            os.close(self.ping)
            os.close(self.pong)


def sample(mode: str, rounds: int, device: geyser.Device | None) -> list[float]:
    """One-way wake latencies (half round trips) in microseconds."""
    pp = PingPong(mode, rounds, device)
    out = []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter_ns()
            pp.round_trip()
            out.append((time.perf_counter_ns() - t0) / 2000.0)
    finally:
        pp.close()
    return out


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; medians are reported")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    dev = geyser.Device(args.device)
    modes = ["eventfd", "portable"]
    if "opaque_fd" in dev.info.timeline_semaphore_export:
        modes.append("vulkan")
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
