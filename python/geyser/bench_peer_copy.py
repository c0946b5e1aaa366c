"""Peer-copy benchmarks for ``python -m geyser bench`` (run only where CUDA is present) and
benchmarks/peer_copy.py: geyser.cuda.PeerCopy against a plain cuMemcpyPeerAsync of the same
bytes, measured in the same run, at each size (1080p and 4K RGBA8 by default); and peer-copy
delivery through real Sender/Subscriber processes (``delivery_comparisons``): the handoff latency
and wall time per frame of a consumer on another GPU (on one GPU: the same GPU with the test-only
GEYSER_TEST_PEER_COPY_SAME_DEVICE switch, PeerCopy's same_device path) against same-GPU zero-copy
and the host copy path, in one run.

The destination is another GPU where this process has one with a Vulkan device (the copy then
goes over NVLink or PCIe, or through host staging where peer access is not possible), else the
same GPU opened as a second Vulkan device (a device-to-device copy through the same code).

- Throughput: a batch of copies is enqueued behind a gate (each waits on the source GPU for a
  timeline value not yet signalled), then the host signals the gate and waits for the last
  copy's destination timeline value. Per copy: elapsed / batch. The baseline enqueues the same
  number of cuMemcpyPeerAsync calls on one stream behind the same kind of gate and signals a
  timeline after the last. Both are thus the GPUs' time, without Python's enqueue time; the
  engine's extra cost is its per-copy timeline wait, event and signal on both GPUs. The
  achieved bandwidth as a fraction of the baseline's is reported (target: at least 0.8).
- Latency: one copy at a time, enqueued waiting; timed from the host's "frame ready" signal on
  the source timeline to the destination timeline reaching the frame (a host wait).
"""

from __future__ import annotations

import time

import geyser
import geyser.cuda

from . import bench_fallback

TIMEOUT = 60.0


def unavailable_reason(device) -> str | None:
    """Why the peer-copy benchmark cannot run with ``device``, or None when it can."""
    status = geyser.cuda.status()
    if not status.available:
        return f"CUDA unavailable: {status.reason}"
    if "opaque_fd" not in device.info.timeline_semaphore_export:
        return f"{device.name} cannot export timeline semaphores"
    try:
        geyser.cuda.cuda_device(device)
    except geyser.GeyserError as e:
        return f"{device.name} has no CUDA device: {e}"
    return None


def destination_selector(device) -> str:
    """The selector of the GPU the benchmark copies to: another GPU with a Vulkan device, else this one."""
    topo = geyser.gpu_topology()
    own = next((g.cuda_ordinal for g in topo.gpus if g.vulkan.device_uuid == device.info.device_uuid), None)
    for c in topo.cuda_devices:
        if c.ordinal != own and c.vulkan_index is not None:
            return f"cuda:{c.ordinal}"
    return device.info.device_uuid


class _Rig:
    """Source slot on ``device``, destination slot on the destination GPU, their timelines and engines."""

    def __init__(self, device, width: int, height: int):
        self.bytes = width * height * 4
        self.src_dev, self.dst_dev = device, geyser.Device(destination_selector(device))
        self.a, self.b = geyser.cuda.cuda_device(self.src_dev), geyser.cuda.cuda_device(self.dst_dev)
        self.gate = self.src_dev.create_shared_timeline("vulkan")
        self.done_a = self.src_dev.create_shared_timeline("vulkan")
        self.done_b = self.dst_dev.create_shared_timeline("vulkan")
        self.gate_value = self.done_a_value = self.done_b_value = 0
        self.buf_a = self.src_dev.create_shareable_buffer(self.bytes)
        self.buf_b = self.dst_dev.create_shareable_buffer(self.bytes)
        self.cbuf_a, self.cbuf_b = self.a.import_buffer(self.buf_a), self.b.import_buffer(self.buf_b)
        desc = geyser.TextureDescriptor(width, height)
        self.tex_a, self.tex_b = self.src_dev.create_shareable_texture(desc), self.dst_dev.create_shareable_texture(desc)
        self.ctex_a, self.ctex_b = self.a.import_texture(self.tex_a), self.b.import_texture(self.tex_b)
        self.engine = geyser.cuda.PeerCopy(self.a, self.b)
        self.staged = geyser.cuda.PeerCopy(self.a, self.b, host_staging=True)

    def label(self) -> str:
        return f"cuda:{self.a.ordinal} -> cuda:{self.b.ordinal}, {self.engine.path}"

    def _open_gate(self) -> float:
        t0 = time.perf_counter()
        self.gate.signal(self.gate_value)
        return t0

    def baseline(self, batch: int) -> float:
        """Seconds for ``batch`` gated cuMemcpyPeerAsync copies on one stream of the source GPU."""
        self.gate_value += 1
        self.done_a_value += 1
        stream = self.engine.source_stream
        geyser.cuda.wait_on_stream(self.gate, self.gate_value, stream)
        for _ in range(batch):
            geyser.cuda.copy_peer(self.cbuf_a, self.cbuf_b, stream)
        geyser.cuda.signal_on_stream(self.done_a, self.done_a_value, stream)
        t0 = self._open_gate()
        self.done_a.wait(self.done_a_value, TIMEOUT)
        return time.perf_counter() - t0

    def engine_copies(self, engine, batch: int, texture: bool) -> float:
        """Seconds for ``batch`` gated copies through ``engine``, to the last destination signal."""
        self.gate_value += 1
        src, dst = (self.ctex_a, self.ctex_b) if texture else (self.cbuf_a, self.cbuf_b)
        copy = engine.copy_texture if texture else engine.copy_buffer
        for _ in range(batch):
            self.done_b_value += 1
            copy(src, dst, wait=(self.gate, self.gate_value), signal=(self.done_b, self.done_b_value))
        t0 = self._open_gate()
        self.done_b.wait(self.done_b_value, TIMEOUT)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.engine.wait_idle(TIMEOUT)
        self.staged.wait_idle(TIMEOUT)
        self.a.synchronize(self.engine.source_stream)


THROUGHPUT_CASES = [("cuMemcpyPeer", "plain cuMemcpyPeerAsync"), ("engine", "PeerCopy buffer"),
                    ("engine-texture", "PeerCopy texture (arrays)"), ("host-staging", "PeerCopy host staging")]
LATENCY_CASES = [("cuMemcpyPeer", "plain cuMemcpyPeerAsync"), ("engine", "PeerCopy, timeline to timeline"),
                 ("host-staging", "PeerCopy host staging")]


def measure(device, width: int, height: int, batches: int, batch: int, latency_samples: int, step=None):
    """Per-copy milliseconds: {case: [samples]} for throughput and for latency, and the rig's label."""
    rig = _Rig(device, width, height)
    try:
        thr = {k: [] for k, _ in THROUGHPUT_CASES}
        lat = {k: [] for k, _ in LATENCY_CASES}
        rig.baseline(2)  # warm up every path once (staging buffers, peer mappings)
        rig.engine_copies(rig.engine, 2, False)
        rig.engine_copies(rig.engine, 2, True)
        rig.engine_copies(rig.staged, 2, False)
        for _ in range(batches):  # interleaved, so that clocks and other load hit every case alike
            thr["cuMemcpyPeer"].append(rig.baseline(batch) * 1e3 / batch)
            thr["engine"].append(rig.engine_copies(rig.engine, batch, False) * 1e3 / batch)
            thr["engine-texture"].append(rig.engine_copies(rig.engine, batch, True) * 1e3 / batch)
            thr["host-staging"].append(rig.engine_copies(rig.staged, batch, False) * 1e3 / batch)
        if step:
            step(f"peer copy latency {width}x{height}")
        for _ in range(latency_samples):
            lat["cuMemcpyPeer"].append(rig.baseline(1) * 1e3)
            lat["engine"].append(rig.engine_copies(rig.engine, 1, False) * 1e3)
            lat["host-staging"].append(rig.engine_copies(rig.staged, 1, False) * 1e3)
        return thr, lat, rig.label()
    finally:
        rig.close()


def comparisons(device, sizes, cfg: dict, step, skipped: list, comparison) -> list:
    """The peer-copy comparisons, with bench.py's ``comparison`` class; none (and a line in
    ``skipped``) without CUDA."""
    why = unavailable_reason(device)
    if why is not None:
        skipped.append(f"peer copy: {why}")
        return []
    batches, batch, lat_n = (5, 10, 20) if cfg["quick"] else (10, 20, 50)
    groups = []
    for w, h in sizes:
        size = f"{w}x{h}"
        step(f"peer copy {size}")
        thr, lat, label = measure(device, w, h, batches, batch, lat_n, step)
        t = comparison(f"peer-copy-{size}", f"peer copy {size} per copy ({label})", "ms", THROUGHPUT_CASES)
        lt = comparison(f"peer-latency-{size}", f"peer copy latency {size} ({label})", "ms", LATENCY_CASES)
        for k, _ in THROUGHPUT_CASES:
            t.add(k, thr[k])
        for k, _ in LATENCY_CASES:
            lt.add(k, lat[k])
        groups += [t, lt]
    return groups


def bandwidth(comparisons: list[dict]) -> list[dict]:
    """From the peer-copy throughput comparisons: GB/s of each case (p50) and its fraction of the
    plain cuMemcpyPeerAsync's bandwidth measured in the same run."""
    out = []
    for c in comparisons:
        if not c["key"].startswith("peer-copy-"):
            continue
        w, h = (int(x) for x in c["key"][len("peer-copy-"):].split("x"))
        nbytes = w * h * 4
        rows = {r["case"]: r for r in c["rows"]}
        base = rows["cuMemcpyPeer"]["p50"]
        for r in c["rows"]:
            out.append({"size": f"{w}x{h}", "case": r["case"], "label": r["label"],
                        "gb_per_s": nbytes / (r["p50"] * 1e-3) / 1e9, "fraction_of_cuMemcpyPeer": base / r["p50"]})
    return out


def print_bandwidth(rows: list[dict], out) -> None:
    if not rows:
        return
    print("peer copy bandwidth (p50; fraction of plain cuMemcpyPeerAsync in the same run; target >= 0.8 for "
          "PeerCopy buffer):", file=out)
    for r in rows:
        print(f"  {r['size']:>10}  {r['label']:<28} {r['gb_per_s']:8.1f} GB/s  {r['fraction_of_cuMemcpyPeer']:.2f}",
              file=out)


# ---- delivery through real Sender/Subscriber processes ------------------------------------------

DELIVERY_CASES = [("zero-copy", "same-GPU zero-copy"), ("peer-copy", "peer-copy delivery (CUDA, GPU to GPU)"),
                  ("peer-copy-staging", "peer-copy delivery, host staging (peer_copy_host_staging)"),
                  ("copy", "host copy path (zero_copy=never)")]


def _peer_consumer_device(device):
    """Another GPU for the peer-copy consumer, or None (one GPU: the same GPU with the test-only
    GEYSER_TEST_PEER_COPY_SAME_DEVICE switch, so that PeerCopy takes same_device)."""
    for d in geyser.devices():
        if d.device_uuid != device.info.device_uuid and "NVIDIA" in d.name:
            return d
    return None


def delivery(device, width: int, height: int, frames: int, case: str) -> tuple[list[float], float]:
    """One run of ``frames`` frames to one consumer process taking ``case``'s path: the handoff
    latencies (ms, from just before end_frame until the consumer holds the frame) and the
    publishing loop's wall time per frame (ms, one frame in flight; its inverse is the
    throughput)."""
    req = {"device": device.info.device_uuid, "zero_copy": "require", "path": "zero-copy", "timed": True}
    if case == "copy":
        req.update(zero_copy="never", path="copy")
    elif case in ("peer-copy", "peer-copy-staging"):
        other = _peer_consumer_device(device)
        req.update(zero_copy="auto", path="peer-copy")
        if other is not None:
            req["device"] = other.device_uuid
        else:
            req["env"] = {"GEYSER_TEST_PEER_COPY_SAME_DEVICE": "1"}
    wall: list[float] = []
    options = {"peer_copy_host_staging": True} if case == "peer-copy-staging" else {}
    handoff, _ = bench_fallback._run(device, width, height, frames, req, None, wall, options)
    return handoff, wall[0]


def delivery_comparisons(device, sizes, cfg: dict, step, skipped: list, comparison) -> list:
    """Handoff latency and wall time per frame at each size: peer-copy delivery against same-GPU
    zero-copy and the host copy path, every case in the same run, interleaved. None (and a line in
    ``skipped``) without CUDA."""
    why = unavailable_reason(device)
    if why is not None:
        skipped.append(f"peer-copy delivery: {why}")
        return []
    other = _peer_consumer_device(device)
    where = f"consumer on {other.name} ({other.device_uuid[:8]})" if other else "one GPU: same_device"
    frames = 20 if cfg["quick"] else 60
    repeats = 2 if cfg["quick"] else 3
    groups = []
    for w, h in sizes:
        size = f"{w}x{h}"
        lat = comparison(f"delivery-latency-{size}", f"frame handoff {size} ({where})", "ms", DELIVERY_CASES)
        per = comparison(f"delivery-per-frame-{size}", f"wall time per frame {size}, one in flight ({where})", "ms",
                         DELIVERY_CASES)
        for _ in range(repeats):
            for case, _label in DELIVERY_CASES:
                step(f"delivery {case} {size}")
                handoff, per_frame = delivery(device, w, h, frames, case)
                lat.add(case, handoff)
                per.add(case, [per_frame])
        groups += [lat, per]
    return groups
