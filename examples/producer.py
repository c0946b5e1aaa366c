"""Publishes a named sender and writes a moving pattern into it, frame after frame.

    python examples/producer.py --name cam0 --frames 600
    python examples/consumer.py --name cam0          # in another terminal (or the C++ consumer)
"""

import argparse
import time

import geyser
from geyser.demo import pattern


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="geyser-example")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--frames", type=int, default=600)
    p.add_argument("--ring", type=int, default=3)
    p.add_argument("--wait-subscribers", type=int, default=1, help="subscribers to wait for before frame 1")
    p.add_argument("--fps", type=float, default=0, help="pace frames (0: as fast as subscribers release them)")
    args = p.parse_args()

    device = geyser.Device()
    desc = geyser.TextureDescriptor(args.width, args.height, geyser.TextureFormat.RGBA8_UNORM)
    with geyser.Sender(device, args.name, desc, ring_size=args.ring) as sender:
        print(f"publishing '{args.name}' on {device.name}: {args.width}x{args.height} RGBA8, ring {args.ring}, "
              f"{sender.ready.kind} timelines", flush=True)
        deadline = time.monotonic() + 60
        while sender.subscribers < args.wait_subscribers and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(1, args.frames + 1):
            sender.publish(pattern(desc.format, args.width, args.height, n))
            if args.fps:
                time.sleep(1.0 / args.fps)
        print(f"published {args.frames} frames", flush=True)
        # Give the last subscribers a moment to read the final frames before the ring goes.
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
