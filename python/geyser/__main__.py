"""Command line: ``python -m geyser info``, ``list``, ``demo``, ``bench`` and ``view``."""

from __future__ import annotations

import argparse
import sys

from . import Device, TextureFormat, bench, demo, devices, list_senders, view


def _cmd_info(args) -> int:
    infos = devices()
    for d in infos:
        print(f"[{d.index}] {d.name} ({d.device_type})")
        print(f"    driver      {d.driver_name} {d.driver_info} (version {d.driver_version:#x}), Vulkan {d.api_version}")
        print(f"    device UUID {d.device_uuid}")
        print(f"    driver UUID {d.driver_uuid}")
        print(f"    timeline semaphores: {'yes' if d.timeline_semaphores else 'no'}")
        for label, exp, imp in (
            ("image memory", d.memory_export, d.memory_import),
            ("buffer memory", d.buffer_export, d.buffer_import),
            ("binary semaphore", d.binary_semaphore_export, d.binary_semaphore_import),
            ("timeline semaphore", d.timeline_semaphore_export, d.timeline_semaphore_import),
            ("fence", d.fence_export, d.fence_import),
        ):
            print(f"    {label:<19} export: {', '.join(exp) or '-':<18} import: {', '.join(imp) or '-'}")
    dev = Device(args.device)
    print(f"\nFormats on the default device ({dev.name}), usage COPY_SRC|COPY_DST|TEXTURE_BINDING:")
    print(f"  {'format':<24}{'VkFormat':>9}  {'handle':<10}{'exportable':>11}{'importable':>11}{'dedicated-only':>16}")
    for f in TextureFormat:
        s = dev.format_support(f)
        if not s.handle_types:
            print(f"  {f.name:<24}{'-':>9}  {'-':<10}{'no':>11}{'no':>11}{'-':>16}   {s.reason}")
        for name, h in s.handle_types.items():
            yn = lambda b: "yes" if b else "no"  # noqa: E731
            print(f"  {f.name:<24}{s.vk_format:>9}  {name:<10}{yn(h.exportable):>11}{yn(h.importable):>11}"
                  f"{yn(h.dedicated_only):>16}")
    return 0


def _cmd_list(args) -> int:
    senders = list_senders(timeout=args.timeout)
    if not senders:
        print("no senders published")
        return 0
    print(f"{'name':<28}{'size':>12}  {'format':<16}{'ring':>5}{'pid':>8}  {'sync':<9}{'frame':>8}{'subs':>6}")
    for s in senders:
        fmt = s.descriptor.format.name if s.descriptor else f"VkFormat {s.vk_format}"
        print(f"{s.name:<28}{f'{s.width}x{s.height}':>12}  {fmt:<16}{s.ring_size:>5}{s.producer_pid:>8}  "
              f"{s.sync_kind:<9}{s.current_frame:>8}{s.subscribers:>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geyser", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="list devices, their external handle support and the format table")
    p.add_argument("--device", default=None, help="device index, UUID or name substring")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("list", help="list the named senders published on this machine")
    p.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for each sender's answer")
    p.set_defaults(func=_cmd_list)
    demo.add_parser(sub)
    bench.add_parser(sub)
    view.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
