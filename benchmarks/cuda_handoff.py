"""Vulkan -> PyTorch across processes: Geyser's zero-copy handoff against what one would write instead.

    python benchmarks/cuda_handoff.py [--frames 300] [--copy-frames 60] [--opens 20] [--json PATH]
                                      [--tensors-only] [--breakdown]

Needs CUDA, torch and a device that exports timeline semaphores (the H100 machine). Three
comparisons, each in one run, between this process (the Vulkan producer) and a spawned torch
consumer:

1. Per-frame handoff of a 3840x2160 RGBA8 frame (33 MB), one frame in flight, timed from the
   producer's start of the handoff to the consumer holding a CUDA tensor of the frame that a
   kernel has read (one CLOCK_MONOTONIC for both processes):
   - zero-copy: the buffer was imported once; per frame the producer signals "frame N ready" on a
     Vulkan timeline, the consumer's torch stream waits for it on the GPU and reads the tensor;
   - copy path: the producer downloads the frame to numpy, puts it in shared memory and says so
     over a pipe; the consumer does ``torch.from_numpy(shm).cuda()``.
2. One-time open of a 4K frame in the consumer: Geyser (receive the handle through a
   multiprocessing Queue, or over Geyser's own Channel; import into CUDA; ``torch.from_dlpack``)
   against torch's own CUDA IPC (receive a CUDA tensor through a ``torch.multiprocessing``
   Queue: cudaIpcOpenMemHandle).
3. Per-frame handoff of a tensor stream to torch in another process, lock-step (one frame in
   flight), timed from the producer's end of writing (its writes enqueued on its stream) to the
   consumer holding a torch tensor of the frame that a kernel has read:
   - geyser: a ``Sender(tensors=...)`` with a ring of one; the producer writes the slot in place
     through its DLPack view and publishes with ``geyser.cuda.end_frame`` (the frame is announced,
     then its stream signals the subscriber's own ready timeline and the sender's); the consumer makes its torch tensor of the slot once
     (``geyser.cuda.tensor_views``), then per frame ``next_frame(wait="gpu")`` and
     ``geyser.cuda.wait_frame`` make its stream wait on the GPU, and ``geyser.cuda.release``
     gives the slot back;
   - geyser, host-signalled: the same, but the producer synchronises its stream and ends the frame
     with ``sender.end_frame(frame)`` (the message goes out flagged ready, then the host signals
     the ready timelines): what a host wait costs against the stream's own signals;
   - torch: a CUDA tensor shared once through ``torch.multiprocessing``, then per frame an IPC
     ``torch.cuda.Event(interprocess=True)`` recorded by the producer, a notification over a
     Pipe, ``stream.wait_event`` in the consumer, and an acknowledgement back.

   ``--breakdown`` adds the median time of each stage of a frame, for geyser and torch alike:
   the producer's publish call (``geyser.cuda.end_frame`` / ``event.record`` + ``Pipe.send``), the
   delivery from its return to the consumer's ``next_frame`` / ``recv`` returning, the consumer's
   GPU wait call (``geyser.cuda.wait_frame`` / ``stream.wait_event``), and the reading kernel with
   the stream's synchronisation. ``--tensors-only`` runs section 3 alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from multiprocessing import shared_memory

import numpy as np

import geyser
import geyser.cuda

W, H = 3840, 2160
FRAME = W * H * 4
TIMEOUT = 60.0


def _consumer(uuid, handles, conn, frames, copy_frames, shm_name, out):
    import torch
    device = geyser.Device(uuid)
    gpu = geyser.cuda.CudaDevice(device)
    buf_handle, ready_handle, consumed_handle = handles
    mapped = gpu.import_buffer(buf_handle)
    ready, consumed = device.import_timeline(ready_handle), device.import_timeline(consumed_handle)
    torch.cuda.set_device(gpu.ordinal)
    stream = torch.cuda.Stream()
    frame = torch.from_dlpack(mapped.view("uint8", (H, W, 4)))
    probe = torch.empty(1, dtype=torch.uint8, device=frame.device)
    t1 = []
    with torch.cuda.stream(stream):
        for i in range(1, frames + 1):
            geyser.cuda.wait_on_stream(ready, i, stream)
            probe.copy_(frame[H - 1, W - 1, :1])  # a kernel that reads the frame, after the wait
            stream.synchronize()
            t1.append(time.perf_counter())
            if int(probe) != i % 256:
                raise AssertionError(f"frame {i}: saw {int(probe)}")
            consumed.signal(i)
    # The copy path.
    shm = shared_memory.SharedMemory(name=shm_name)
    host = np.ndarray((H, W, 4), np.uint8, buffer=shm.buf)
    c1 = []
    for i in range(copy_frames):
        conn.recv()
        t = torch.from_numpy(host).cuda()
        torch.cuda.synchronize()
        c1.append(time.perf_counter())
        if int(t[H - 1, W - 1, 0]) != i % 256:
            raise AssertionError(f"copy frame {i}: wrong content")
        conn.send(i)
    del host, t
    shm.close()
    out.put({"zero_copy_t1": t1, "copy_t1": c1})


def _opener(uuid, kind, q, n, out):
    """Times n one-time opens of a 4K frame in this (consumer) process; ``q`` is the Queue the
    producer puts into, or for ``geyser_channel`` the path of its Listener."""
    import select

    import torch
    times, parts, keep = [], [], []
    if kind == "torch_ipc":
        torch.zeros(1, device="cuda")
        for _ in range(n):
            while q.empty():
                time.sleep(0.001)
            t0 = time.perf_counter()
            tensor = q.get()
            torch.cuda.current_stream().synchronize()
            times.append(time.perf_counter() - t0)
            keep.append(tensor)
        out.put((times, parts))
        return
    device = geyser.Device(uuid)
    gpu = geyser.cuda.CudaDevice(device)
    torch.cuda.set_device(gpu.ordinal)
    torch.zeros(1, device=f"cuda:{gpu.ordinal}")  # CUDA initialised before timing, as for torch
    if kind == "geyser_channel":  # the handle arrives over Geyser's own channel (SCM_RIGHTS)
        channel = geyser.Channel.connect(q, timeout=10)

        def ready():
            select.select([channel.fileno()], [], [], TIMEOUT)

        def receive():
            return geyser.receive_handle(channel, timeout=TIMEOUT)
    else:  # through the multiprocessing Queue (multiprocessing's resource sharer passes the fd)
        def ready():
            while q.empty():
                time.sleep(0.001)

        def receive():
            return q.get()
    for _ in range(n):
        ready()
        t0 = time.perf_counter()
        handle = receive()
        t1 = time.perf_counter()
        mapped = gpu.import_buffer(handle)
        t2 = time.perf_counter()
        tensor = torch.from_dlpack(mapped.view("uint8", (H, W, 4)))
        times.append(time.perf_counter() - t0)
        parts.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
        handle.close()
        keep.append((mapped, tensor))
    out.put((times, parts))


TENSORS = {"obs": ("float32", (64, 84, 84)), "reward": ("float32", (64,))}


def _tensor_consumer_geyser(name, frames, out, breakdown=False):
    """Section 3, geyser: subscribes to the tensor stream `name` and takes `frames` frames on the GPU.
    Puts the times the frames were read, and with `breakdown` (next_frame returned, wait_frame
    returned) for each."""
    import torch
    device = geyser.Device()
    sub = geyser.Subscriber(device, name, timeout=TIMEOUT)
    torch.cuda.set_device(geyser.cuda.cuda_device(device).ordinal)
    stream = torch.cuda.Stream()
    probe = torch.empty(1, dtype=torch.float32, device="cuda")
    t1, stages = [], []
    clock = time.perf_counter
    tensors = {}  # slot -> the torch tensor of its "obs", made once (as torch's way shares one once)
    with torch.cuda.stream(stream):
        for _ in range(frames):
            f = sub.next_frame(timeout=TIMEOUT, wait="gpu")
            if breakdown:
                a = clock()
            obs = tensors.get(f.slot)
            if obs is None:
                obs = tensors[f.slot] = torch.from_dlpack(geyser.cuda.tensor_views(f, stream)["obs"])
            else:
                geyser.cuda.wait_frame(f, stream)  # the GPU wait on the ready timeline, nothing else
            if breakdown:
                stages.append((a, clock()))
            probe.copy_(obs[-1, -1, -1:])  # a kernel reading the frame, after the GPU wait
            stream.synchronize()
            t1.append(clock())
            if int(probe) != f.number % 4096:
                raise AssertionError(f"tensor frame {f.number}: saw {float(probe)}")
            geyser.cuda.release(sub, f, stream)
    sub.close()
    out.put((t1, stages))


def _tensor_consumer_torch(obs, ev_handle, conn, frames, out, breakdown=False):
    """Section 3, torch: a CUDA tensor shared once, an IPC event and a Pipe per frame."""
    import torch
    event = torch.cuda.Event.from_ipc_handle(obs.device, ev_handle)
    stream = torch.cuda.Stream(obs.device)
    probe = torch.empty(1, dtype=torch.float32, device=obs.device)
    t1, stages = [], []
    clock = time.perf_counter
    with torch.cuda.stream(stream):
        for _ in range(frames):
            i = conn.recv()
            if breakdown:
                a = clock()
            stream.wait_event(event)
            if breakdown:
                stages.append((a, clock()))
            probe.copy_(obs[-1, -1, -1:])
            stream.synchronize()
            t1.append(clock())
            if int(probe) != i % 4096:
                raise AssertionError(f"torch frame {i}: saw {float(probe)}")
            conn.send(i)  # the producer may write the tensor again
    out.put((t1, stages))


def _median_ms(xs) -> float:
    return float(np.median(np.asarray(xs)) * 1e3) if len(xs) else float("nan")


def _breakdown(t0, t_sent, stages, t1, warm):
    """Median ms of each stage of a frame: the producer's publish call, the delivery to the
    consumer's receive returning, its GPU wait call, the reading kernel + synchronisation."""
    rows = list(zip(t0, t_sent, stages, t1))[warm:]
    return {"publish": _median_ms([s - a for a, s, _, _ in rows]),
            "delivery": _median_ms([r - s for _, s, (r, _), _ in rows]),
            "gpu_wait_call": _median_ms([w - r for _, _, (r, w), _ in rows]),
            "kernel_and_sync": _median_ms([b - w for _, _, (_, w), b in rows])}


def _tensor_handoff(frames, breakdown=False):
    """Section 3: both ways in one run; returns their stats in ms."""
    import torch
    import torch.multiprocessing as tmp
    import os
    ctx = tmp.get_context("spawn")
    device = geyser.Device()
    torch.cuda.set_device(geyser.cuda.cuda_device(device).ordinal)
    stream = torch.cuda.Stream()
    def geyser_pass(ready: str):
        name = f"cuda-bench-tensors-{ready}-{os.getpid()}"
        sender = geyser.Sender(device, name, tensors=TENSORS, ring_size=1, sync="vulkan")
        out = ctx.Queue()
        child = ctx.Process(target=_tensor_consumer_geyser, args=(name, frames, out, breakdown))
        child.start()
        sender.wait_for_subscribers(1, timeout=TIMEOUT)
        g0, sent = [], []
        with torch.cuda.stream(stream):
            for i in range(1, frames + 1):
                frame = sender.begin_frame(timeout=TIMEOUT)  # a ring of one: after the consumer's release
                obs = torch.from_dlpack(geyser.cuda.tensor_views(frame)["obs"])
                obs[-1, -1, -1] = float(i % 4096)  # the producer's "rendering", in place on the GPU
                g0.append(time.perf_counter())
                if ready == "gpu":
                    geyser.cuda.end_frame(sender, frame, stream)
                else:
                    stream.synchronize()
                    sender.end_frame(frame)
                sent.append(time.perf_counter())
        g1, stages = out.get(timeout=TIMEOUT)
        child.join(TIMEOUT)
        sender.close()
        return g0, sent, g1, stages

    g0, g_sent, g1, g_stages = geyser_pass("gpu")
    h0, h_sent, h1, h_stages = geyser_pass("host")
    # torch
    obs = torch.zeros(TENSORS["obs"][1], dtype=torch.float32, device="cuda")
    event = torch.cuda.Event(interprocess=True)
    event.record(stream)
    mine, theirs = ctx.Pipe()
    out = ctx.Queue()
    child = ctx.Process(target=_tensor_consumer_torch, args=(obs, event.ipc_handle(), theirs, frames, out, breakdown))
    child.start()
    p0, p_sent = [], []
    with torch.cuda.stream(stream):
        for i in range(1, frames + 1):
            if i > 1:
                mine.recv()  # the consumer is done with frame i - 1
            obs[-1, -1, -1] = float(i % 4096)
            p0.append(time.perf_counter())
            event.record(stream)
            mine.send(i)
            p_sent.append(time.perf_counter())
    mine.recv()
    p1, p_stages = out.get(timeout=TIMEOUT)
    child.join(TIMEOUT)
    # The first frames map the slot into CUDA and warm both paths up: left out of both.
    warm = min(5, frames // 10)
    g = _stats([(b - a) * 1e3 for a, b in zip(g0, g1)][warm:])
    h = _stats([(b - a) * 1e3 for a, b in zip(h0, h1)][warm:])
    t = _stats([(b - a) * 1e3 for a, b in zip(p0, p1)][warm:])
    result = {"geyser": g, "geyser_host_signalled": h, "torch_ipc_event": t, "ratio_p50": g["p50"] / t["p50"],
              "ratio_p99": g["p99"] / t["p99"], "host_ratio_p50": h["p50"] / t["p50"], "host_ratio_p99": h["p99"] / t["p99"],
              "tensors": {k: f"{d}{list(s)}" for k, (d, s) in TENSORS.items()}}
    if breakdown:
        result["breakdown_median_ms"] = {
            "geyser": _breakdown(g0, g_sent, g_stages, g1, warm),
            "geyser_host_signalled": _breakdown(h0, h_sent, h_stages, h1, warm),
            "torch_ipc_event": _breakdown(p0, p_sent, p_stages, p1, warm)}
    return result


def _stats(xs_ms):
    a = np.asarray(xs_ms)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": len(a)}


def _sections_1_and_2(args, device, ctx, results):
    """Sections 1 and 2; returns their stats (and fills `results`)."""
    import torch
    import torch.multiprocessing as tmp
    # 1. per-frame handoff
    buf = device.create_shareable_buffer(FRAME)
    ready, consumed = device.create_shared_timeline("vulkan"), device.create_shared_timeline("vulkan")
    shm = shared_memory.SharedMemory(create=True, size=FRAME)
    mine, theirs = ctx.Pipe()
    out = ctx.Queue()
    handles = [device.export_buffer(buf), device.export_timeline(ready), device.export_timeline(consumed)]
    child = ctx.Process(target=_consumer, args=(device.info.device_uuid, handles, theirs, args.frames,
                                                args.copy_frames, shm.name, out))
    child.start()
    for h in handles:
        h.close()
    frame = np.zeros((H, W, 4), np.uint8)
    t0 = []
    for i in range(1, args.frames + 1):
        if i > 1:
            consumed.wait(i - 1, timeout=TIMEOUT)  # the slot is free again
        frame[H - 1, W - 1, 0] = i % 256
        buf.write(frame[H - 1, W - 1].tobytes(), offset=FRAME - 4)  # the producer's "rendering"
        time.sleep(0.0005)  # the consumer is parked in its stream wait
        t0.append(time.perf_counter())
        ready.signal(i)
    consumed.wait(args.frames, timeout=TIMEOUT)
    host = np.ndarray((H, W, 4), np.uint8, buffer=shm.buf)
    c0 = []
    for i in range(args.copy_frames):
        frame[H - 1, W - 1, 0] = i % 256
        buf.write(frame[H - 1, W - 1].tobytes(), offset=FRAME - 4)
        time.sleep(0.0005)
        c0.append(time.perf_counter())
        np.copyto(host, np.frombuffer(buf.read(), np.uint8).reshape(H, W, 4))  # download to host + shm
        mine.send(i)
        mine.recv()
    got = out.get(timeout=TIMEOUT)
    child.join(TIMEOUT)
    del host
    shm.close()
    shm.unlink()
    zc = _stats([(b - a) * 1e3 for a, b in zip(t0, got["zero_copy_t1"])])
    cp = _stats([(b - a) * 1e3 for a, b in zip(c0, got["copy_t1"])])
    results["handoff_ms"] = {"zero_copy": zc, "copy_path": cp, "ratio_p50": cp["p50"] / zc["p50"]}

    # 2. one-time open: Geyser import vs torch CUDA IPC
    opens = {}
    import os
    for kind in ("geyser", "geyser_channel", "torch_ipc"):
        c = tmp.get_context("spawn")
        q, o = c.Queue(), c.Queue()
        listener = channel = None
        if kind == "geyser_channel":
            path = os.path.join(geyser.runtime_dir(), f"cuda-bench-{os.getpid()}.sock")
            listener = geyser.Listener.bind(path)
            q = path
        proc = c.Process(target=_opener, args=(device.info.device_uuid, kind, q, args.opens, o))
        proc.start()
        if listener is not None:
            channel = listener.accept(timeout=30)
        keep = []
        for _ in range(args.opens):
            if kind == "geyser_channel":
                b = device.create_shareable_buffer(FRAME)
                keep.append(b)
                with device.export_buffer(b) as h:
                    geyser.send_handle(channel, h, timeout=TIMEOUT)
            elif kind == "geyser":
                b = device.create_shareable_buffer(FRAME)
                keep.append(b)
                q.put(device.export_buffer(b))
            else:
                t = torch.empty((H, W, 4), dtype=torch.uint8, device="cuda")
                keep.append(t)
                q.put(t)
            time.sleep(0.05)
        times, parts = o.get(timeout=TIMEOUT)
        proc.join(TIMEOUT)
        if channel is not None:
            channel.close()
            del listener  # unlinks the socket
        opens[kind] = _stats([x * 1e3 for x in times])
        if parts:
            opens[kind]["median_parts_ms"] = {k: float(np.median([p[i] for p in parts]) * 1e3)
                                              for i, k in enumerate(("receive", "cuda_import", "from_dlpack"))}
        del keep
    opens["ratio_p50"] = opens["geyser"]["p50"] / opens["torch_ipc"]["p50"]
    opens["channel_ratio_p50"] = opens["geyser_channel"]["p50"] / opens["torch_ipc"]["p50"]
    results["open_ms"] = opens
    return zc, cp, opens


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--copy-frames", type=int, default=60)
    p.add_argument("--opens", type=int, default=20)
    p.add_argument("--tensor-frames", type=int, default=300)
    p.add_argument("--tensors-only", action="store_true", help="run section 3 alone")
    p.add_argument("--breakdown", action="store_true", help="section 3: the median time of each stage of a frame")
    p.add_argument("--json")
    args = p.parse_args(argv)
    st = geyser.cuda.status()
    if not st.available:
        print(f"CUDA unavailable: {st.reason}", file=sys.stderr)
        return 2
    import torch

    device = geyser.Device()
    ctx = mp.get_context("spawn")
    results = {"device": device.info.name, "driver": device.info.driver_info, "cuda_driver": st.driver_version,
               "torch": torch.__version__, "frame": f"{W}x{H} RGBA8"}

    if not args.tensors_only:
        zc, cp, opens = _sections_1_and_2(args, device, ctx, results)

    # 3. per-frame tensor-stream handoff: geyser against torch's IPC event + Pipe
    tensors = results["tensor_handoff_ms"] = _tensor_handoff(args.tensor_frames, args.breakdown)

    print(f"device: {results['device']} ({results['driver']}), CUDA driver {st.driver_version}, torch {torch.__version__}")
    print(f"{'comparison':34} {'case':40} {'p50 ms':>9} {'p99 ms':>9} {'n':>5}")
    rows = []
    if not args.tensors_only:
        rows += [("handoff 3840x2160 -> torch", "zero-copy (imported once, stream wait)", zc),
                 ("", "copy: download + shm + .cuda()", cp),
                 ("one-time open of a 4K frame", "geyser: receive + import + from_dlpack", opens["geyser"]),
                 ("", "geyser over its Channel (SCM_RIGHTS)", opens["geyser_channel"]),
                 ("", "torch CUDA IPC: receive (cudaIpcOpen)", opens["torch_ipc"])]
    rows += [("tensor stream -> torch (1 in flight)", "geyser Sender(tensors=), GPU waits", tensors["geyser"]),
             ("", "geyser, stream synced + end_frame (host)", tensors["geyser_host_signalled"]),
             ("", "torch: shared tensor + IPC event + Pipe", tensors["torch_ipc_event"])]
    for a, b, s in rows:
        print(f"{a:34} {b:40} {s['p50']:9.3f} {s['p99']:9.3f} {s['n']:5}")
    if not args.tensors_only:
        print(f"copy / zero-copy handoff (p50): {results['handoff_ms']['ratio_p50']:.0f}x")
        print(f"geyser open / torch IPC open (p50): {opens['ratio_p50']:.2f}x")
        print(f"geyser over its Channel / torch IPC open (p50): {opens['channel_ratio_p50']:.2f}x")
    print(f"tensor stream, geyser / torch IPC event: p50 {tensors['ratio_p50']:.2f}x, p99 {tensors['ratio_p99']:.2f}x")
    print(f"tensor stream, geyser host-signalled / torch IPC event: p50 {tensors['host_ratio_p50']:.2f}x, "
          f"p99 {tensors['host_ratio_p99']:.2f}x")
    if args.breakdown:
        print(f"tensor stream, median by stage (ms): {'publish':>9} {'delivery':>9} {'wait call':>9} {'kernel+sync':>11}")
        for kind, b in tensors["breakdown_median_ms"].items():
            print(f"  {kind:35} {b['publish']:9.4f} {b['delivery']:9.4f} {b['gpu_wait_call']:9.4f} "
                  f"{b['kernel_and_sync']:11.4f}")
    if not args.tensors_only:
        for kind in ("geyser", "geyser_channel"):
            print(f"{kind} open, median by stage (ms):", {k: round(v, 3) for k, v in opens[kind]["median_parts_ms"].items()})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
