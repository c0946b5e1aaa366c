"""Subscribes to a named sender and checks every frame it receives.

    python examples/consumer.py --name cam0

Each frame must be geyser.demo.pattern (computed here with numpy) for its number, and the numbers
must follow one another from the first one received. examples/producer.py uploads that pattern;
examples/cpp/producer.cpp draws it with a compute shader.
"""

import argparse

import numpy as np

import geyser
from geyser.demo import pattern


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="geyser-example")
    p.add_argument("--frames", type=int, default=0, help="stop after this many (0: until the producer leaves)")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()

    device = geyser.Device()
    with geyser.Subscriber(device, args.name, timeout=args.timeout) as sub:
        info = sub.info
        if info.descriptor is None:
            print(f"'{info.name}' shares VkFormat {info.vk_format}, which has no portable format to check")
            return 1
        fmt = info.descriptor.format
        print(f"subscribed to '{info.name}' (pid {info.producer_pid}): {info.width}x{info.height}, "
              f"ring {info.ring_size}, {info.sync_kind} timelines", flush=True)
        seen = bad = 0
        expected = None  # the number the next frame must have
        while not args.frames or seen < args.frames:
            try:
                frame = sub.next_frame(timeout=args.timeout)
            except geyser.PeerGoneError as e:
                print(f"producer gone: {e}")
                break
            with frame:
                ok = np.array_equal(frame.texture.download(), pattern(fmt, info.width, info.height, frame.number))
            if expected is not None and frame.number != expected:
                print(f"frame {frame.number} arrived where {expected} was due")
                ok = False
            expected = frame.number + 1
            seen += 1
            bad += not ok
        print(f"{seen - bad}/{seen} frames verified")
    return 0 if seen and not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
