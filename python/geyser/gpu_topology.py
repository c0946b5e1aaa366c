"""The GPUs this process can use, as Vulkan and CUDA each number them (geyser/gpu_topology.hpp).

Vulkan lists GPUs in the loader's order; CUDA numbers them its own way, filtered and permuted by
``CUDA_VISIBLE_DEVICES``. Both report the same device UUID, so :func:`gpu_topology` matches them by
UUID: each Vulkan device with its CUDA ordinal (torch's ``cuda:N``) or the reason it has none, and
which CUDA devices can reach each other's memory directly (peer access)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _native
from .device import DeviceInfo

__all__ = ["CudaDeviceEntry", "GpuEntry", "GpuTopology", "gpu_topology"]


@dataclass(frozen=True)
class CudaDeviceEntry:
    """One CUDA device: its ordinal, name, UUID (hex) and the index of the Vulkan device with that
    UUID (None when no Vulkan device has it)."""

    ordinal: int
    name: str
    uuid: str
    vulkan_index: int | None


@dataclass(frozen=True)
class GpuEntry:
    """One Vulkan device and its CUDA ordinal under this process's ``CUDA_VISIBLE_DEVICES``
    (None, with ``cuda_reason`` saying why, when CUDA does not see it)."""

    vulkan: DeviceInfo
    cuda_ordinal: int | None
    cuda_reason: str


@dataclass(frozen=True)
class GpuTopology:
    """What :func:`gpu_topology` reports. ``peer_access[i][j]``: CUDA device ``i`` can access
    device ``j``'s memory directly (``cuDeviceCanAccessPeer``); the diagonal is False."""

    gpus: list[GpuEntry]
    cuda_available: bool
    cuda_reason: str
    cuda_driver_version: int
    cuda_visible_devices: str | None
    cuda_devices: list[CudaDeviceEntry] = field(default_factory=list)
    peer_access: list[list[bool]] = field(default_factory=list)


def gpu_topology() -> GpuTopology:
    """Lists this process's GPUs. Raises VulkanUnavailableError without a Vulkan driver; without
    CUDA every GPU is listed with ``cuda_ordinal`` None and the reason."""
    t = _native.gpu_topology()
    return GpuTopology(
        gpus=[GpuEntry(DeviceInfo._from_native(g.vulkan), None if g.cuda_ordinal < 0 else g.cuda_ordinal, g.cuda_reason)
              for g in t.gpus],
        cuda_available=t.cuda_available,
        cuda_reason=t.cuda_reason,
        cuda_driver_version=t.cuda_driver_version,
        cuda_visible_devices=t.cuda_visible_devices if t.cuda_visible_devices_set else None,
        cuda_devices=[CudaDeviceEntry(c.ordinal, c.name, c.uuid.hex(), None if c.vulkan_index < 0 else c.vulkan_index)
                      for c in t.cuda_devices],
        peer_access=[list(row) for row in t.peer_access],
    )
