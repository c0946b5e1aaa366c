"""``python -m geyser info``: the devices, their external handle support and the format table."""

from __future__ import annotations

import argparse
from typing import Any

import geyser

from ._common import add_device_argument, add_subcommand, to_json

_KINDS = (
    ("image memory", "memory_export", "memory_import"),
    ("buffer memory", "buffer_export", "buffer_import"),
    ("binary semaphore", "binary_semaphore_export", "binary_semaphore_import"),
    ("timeline semaphore", "timeline_semaphore_export", "timeline_semaphore_import"),
    ("fence", "fence_export", "fence_import"),
)


def add_parser(sub: Any) -> None:
    p = add_subcommand(sub, "info", "list devices, their external handle support and the format table",
                       "Lists every Vulkan device with its driver, UUIDs, CUDA ordinal (under the current\n"
                       "CUDA_VISIBLE_DEVICES) and which external handle types it exports and imports; the CUDA\n"
                       "devices' peer access; then which of the 21 formats the chosen device can share.")
    add_device_argument(p)
    p.add_argument("--json", action="store_true", help="print the same as one JSON object")
    p.set_defaults(func=run)


def _format_rows(dev: geyser.Device) -> list[dict[str, Any]]:
    rows = []
    for f in geyser.TextureFormat:
        s = dev.format_support(f)
        rows.append({"format": f.name, "vk_format": s.vk_format, "shareable": s.shareable, "reason": s.reason,
                     "handle_types": s.handle_types})
    return rows


def _cuda_json(t: geyser.GpuTopology) -> dict[str, Any]:
    return {"available": t.cuda_available, "reason": t.cuda_reason, "driver_version": t.cuda_driver_version,
            "visible_devices": t.cuda_visible_devices, "devices": t.cuda_devices, "peer_access": t.peer_access,
            "gpus": [{"index": g.vulkan.index, "device_uuid": g.vulkan.device_uuid, "cuda_ordinal": g.cuda_ordinal,
                      "cuda_reason": g.cuda_reason} for g in t.gpus]}


def _print_peer_access(t: geyser.GpuTopology) -> None:
    visible = "not set" if t.cuda_visible_devices is None else repr(t.cuda_visible_devices)
    if not t.cuda_available:
        print(f"\nCUDA: none visible ({t.cuda_reason})")
        return
    print(f"\nCUDA devices (CUDA_VISIBLE_DEVICES {visible}), peer access (row can access column):")
    n = len(t.cuda_devices)
    print("            " + "".join(f"cuda:{j:<4}" for j in range(n)))
    for c in t.cuda_devices:
        cells = "".join(f"{'-' if i == c.ordinal else ('yes' if t.peer_access[c.ordinal][i] else 'no'):<9}"
                        for i in range(n))
        vk = "no Vulkan device" if c.vulkan_index is None else f"Vulkan [{c.vulkan_index}]"
        print(f"    cuda:{c.ordinal:<4}{cells}  {c.name} ({vk})")


def run(args: argparse.Namespace) -> int:
    infos = geyser.devices()
    topology = geyser.gpu_topology()
    with geyser.Device(args.device) as dev:
        formats = _format_rows(dev)
        chosen = dev.info.device_uuid
    if args.json:
        to_json({"devices": infos, "device": chosen, "cuda": _cuda_json(topology), "formats": formats})
        return 0
    cuda_of = {g.vulkan.device_uuid: g for g in topology.gpus}
    for d in infos:
        print(f"[{d.index}] {d.name} ({d.device_type})")
        g = cuda_of.get(d.device_uuid)
        if g is not None and g.cuda_ordinal is not None:
            print(f"    CUDA        cuda:{g.cuda_ordinal}")
        elif g is not None:
            why = "CUDA cannot be used here, see below" if not topology.cuda_available else g.cuda_reason
            print(f"    CUDA        none visible ({why})")
        print(f"    driver      {d.driver_name} {d.driver_info} (version {d.driver_version:#x}), Vulkan {d.api_version}")
        print(f"    device UUID {d.device_uuid}")
        print(f"    driver UUID {d.driver_uuid}")
        print(f"    timeline semaphores: {'yes' if d.timeline_semaphores else 'no'}")
        for label, exp, imp in _KINDS:
            e, i = getattr(d, exp), getattr(d, imp)
            print(f"    {label:<19} export: {', '.join(e) or '-':<18} import: {', '.join(i) or '-'}")
    _print_peer_access(topology)
    name = next(d.name for d in infos if d.device_uuid == chosen)
    print(f"\nFormats on the chosen device ({name}), usage COPY_SRC|COPY_DST|TEXTURE_BINDING:")
    print(f"  {'format':<24}{'VkFormat':>9}  {'handle':<10}{'exportable':>11}{'importable':>11}{'dedicated-only':>16}")

    def yn(b: bool) -> str:
        return "yes" if b else "no"

    for row in formats:
        if not row["handle_types"]:
            print(f"  {row['format']:<24}{'-':>9}  {'-':<10}{'no':>11}{'no':>11}{'-':>16}   {row['reason']}")
        for hname, h in row["handle_types"].items():
            print(f"  {row['format']:<24}{row['vk_format']:>9}  {hname:<10}{yn(h.exportable):>11}"
                  f"{yn(h.importable):>11}{yn(h.dedicated_only):>16}")
    return 0
