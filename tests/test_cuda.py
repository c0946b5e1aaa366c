"""CUDA interop (geyser.cuda) with real torch and cupy, across real processes.

A Vulkan producer (this process) writes a pattern into a shared buffer and a texture and signals
a Vulkan timeline; a consumer process (spawned) imports them into CUDA, waits for the timeline on
its torch or cupy stream, computes on the memory as tensors (no copy: their data pointers are
the mapping's), writes results into a second shared buffer and into the texture, and signals a
second timeline from its stream; the producer waits on the host and verifies through Vulkan.

Everything that needs CUDA skips, with geyser.cuda.status().reason, where the CUDA driver is
missing (lavapipe machines); torch and cupy tests skip where those packages are missing.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import geyser
import _handle_wire
from _forked import refusals, run_forked
import geyser.cuda

STATUS = geyser.cuda.status()
needs_cuda = pytest.mark.skipif(not STATUS.available, reason=f"CUDA unavailable: {STATUS.reason}")
N = 4096  # float32 elements of the input buffer
W, H = 64, 48
TIMEOUT = 60


def test_status_says_why(device):
    assert isinstance(STATUS.available, bool)
    if STATUS.available:
        assert STATUS.reason == "" and STATUS.driver_version > 0 and STATUS.device_count > 0
    else:
        assert "CUDA" in STATUS.reason
        with pytest.raises(geyser.UnsupportedOperationError, match="CUDA interop is unavailable"):
            geyser.cuda.CudaDevice(device)


@pytest.fixture(scope="module")
def gpu(device):
    if not STATUS.available:
        pytest.skip(f"CUDA unavailable: {STATUS.reason}")
    return geyser.cuda.CudaDevice(device)


def _timelines_or_skip(device):
    try:
        return device.create_shared_timeline("vulkan"), device.create_shared_timeline("vulkan")
    except geyser.UnsupportedOperationError as e:
        pytest.skip(f"{device.info.name} cannot export timeline semaphores: {e}")


def _consumer(library: str, uuid: str, handles, results) -> None:
    """The consumer process: CUDA views of the shared memory, ordered by the shared timelines."""
    try:
        a_handle, t_handle, b_handle, ready_handle, done_handle = handles
        device = geyser.Device(uuid)
        gpu = geyser.cuda.CudaDevice(device)
        a, b, tex = gpu.import_buffer(a_handle), gpu.import_buffer(b_handle), gpu.import_texture(t_handle)
        ready, done = device.import_timeline(ready_handle), device.import_timeline(done_handle)
        for h in handles:
            h.close()
        if library == "torch":
            import torch
            torch.cuda.set_device(gpu.ordinal)
            stream = torch.cuda.Stream()
            with torch.cuda.stream(stream):
                geyser.cuda.wait_on_stream(ready, 1, stream)
                x = torch.from_dlpack(a.view("float32", (N,)))
                out = torch.from_dlpack(b.view("float32", (N,)))
                pix = torch.from_dlpack(b.view("uint8", (H, W, 4), offset=N * 4))
                zero_copy = [x.data_ptr() == a.device_pointer, out.data_ptr() == b.device_pointer,
                             pix.data_ptr() == b.device_pointer + N * 4]
                out.copy_(x * 2 + 1)
                frame = torch.empty((H, W, 4), dtype=torch.uint8, device=f"cuda:{gpu.ordinal}")
                tex.copy_to(frame, stream)
                pix.copy_(frame + 1)
                tex.copy_from(255 - frame, stream)
                geyser.cuda.signal_on_stream(done, 1, stream)
            stream.synchronize()
        else:
            import cupy
            with cupy.cuda.Device(gpu.ordinal):
                stream = cupy.cuda.Stream(non_blocking=True)
                with stream:
                    geyser.cuda.wait_on_stream(ready, 1, stream)
                    x = cupy.asarray(a.view("float32", (N,)))
                    out = cupy.asarray(b.view("float32", (N,)))
                    pix = cupy.asarray(b.view("uint8", (H, W, 4), offset=N * 4))
                    zero_copy = [x.data.ptr == a.device_pointer, out.data.ptr == b.device_pointer,
                                 pix.data.ptr == b.device_pointer + N * 4]
                    out[...] = x * 2 + 1
                    frame = cupy.empty((H, W, 4), dtype=cupy.uint8)
                    tex.copy_to(frame, stream)
                    pix[...] = frame + 1
                    tex.copy_from(255 - frame, stream)
                    geyser.cuda.signal_on_stream(done, 1, stream)
                stream.synchronize()
        results.put(("ok", zero_copy))
    except BaseException as e:  # noqa: BLE001 - reported to the test
        import traceback
        results.put(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def _exchange(device, library, values, texels) -> None:
    """One producer/consumer round: new memory, timelines and consumer process, all verified."""
    ready, done = _timelines_or_skip(device)
    desc = geyser.TextureDescriptor(W, H, geyser.TextureFormat.RGBA8_UNORM,
                                    geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.COPY_DST |
                                    geyser.TextureUsage.TEXTURE_BINDING | geyser.TextureUsage.RENDER_ATTACHMENT)
    with device.create_shareable_buffer(N * 4) as a, device.create_shareable_buffer(N * 4 + H * W * 4) as b, \
            device.create_shareable_texture(desc) as tex, ready, done:
        a.write(values)
        tex.upload(texels)
        b.write(np.zeros(N * 4 + H * W * 4, np.uint8))
        handles = [device.export_buffer(a), device.export_texture(tex), device.export_buffer(b), device.export_timeline(ready),
                   device.export_timeline(done)]
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        child = ctx.Process(target=_consumer, args=(library, device.info.device_uuid, handles, results))
        child.start()
        for h in handles:
            h.close()
        try:
            ready.signal(1)  # the consumer's stream waits for this, not its host
            status, detail = results.get(timeout=TIMEOUT)
            assert status == "ok", detail
            assert detail == [True, True, True], "the tensors must be the mapping itself, not copies"
            done.wait(1, timeout=TIMEOUT)
            out = np.frombuffer(b.read(), np.uint8)
            np.testing.assert_array_equal(out[:N * 4].view(np.float32), values * 2 + 1)
            np.testing.assert_array_equal(out[N * 4:].reshape(H, W, 4), texels + 1)
            np.testing.assert_array_equal(tex.download(), 255 - texels)
        finally:
            child.join(TIMEOUT)
            if child.is_alive():
                child.kill()
                child.join()
        assert child.exitcode == 0
        child.close()
        results.close()
        results.join_thread()


@needs_cuda
@pytest.mark.parametrize("library", ["torch", "cupy"])
def test_vulkan_producer_cuda_consumer_across_processes(device, gpu, library, fd_count):
    pytest.importorskip(library)
    rng = np.random.default_rng(7)
    counts = []
    for _ in range(3):
        values = rng.standard_normal(N).astype(np.float32)
        texels = rng.integers(0, 255, (H, W, 4), dtype=np.uint8)  # below 255: +1 does not wrap
        _exchange(device, library, values, texels)
        counts.append(fd_count())
    # The first round starts multiprocessing's helpers (resource tracker, resource sharer), which
    # stay; after that a round must leave no fd behind.
    assert counts[1] == counts[2], f"fds after each round: {counts}"


@needs_cuda
def test_torch_view_of_a_local_buffer_is_the_same_memory(device, gpu):
    torch = pytest.importorskip("torch")
    with device.create_shareable_buffer(1024) as buf:
        buf.write(np.arange(256, dtype=np.float32))
        mapped = gpu.import_buffer(buf)
        t = torch.from_dlpack(mapped.view("float32", (16, 16)))
        assert t.data_ptr() == mapped.device_pointer and t.shape == (16, 16) and t.device.index == gpu.ordinal
        assert torch.equal(t.cpu().flatten(), torch.arange(256, dtype=torch.float32))
        t.mul_(3)
        torch.cuda.synchronize()
        np.testing.assert_array_equal(np.frombuffer(buf.read(), np.float32), np.arange(256, dtype=np.float32) * 3)
        # __cuda_array_interface__ gives the same memory to torch.as_tensor
        u = torch.as_tensor(mapped.view("int32", 256), device=f"cuda:{gpu.ordinal}")
        assert u.data_ptr() == mapped.device_pointer
        # Strided views: every other column.
        s = torch.from_dlpack(mapped.view("float32", (16, 8), strides=(64, 8)))
        assert torch.equal(s.cpu(), (torch.arange(256, dtype=torch.float32) * 3).reshape(16, 16)[:, ::2])


@needs_cuda
def test_closing_early_is_safe(device, gpu):
    torch = pytest.importorskip("torch")
    with device.create_shareable_buffer(4096) as buf:
        buf.write(np.full(1024, 7, np.float32))
        mapped = gpu.import_buffer(buf)
        by_dlpack = torch.from_dlpack(mapped.view("float32"))
        by_cai = torch.as_tensor(mapped, device=f"cuda:{gpu.ordinal}")
        mapped.close()
        with pytest.raises(geyser.GeyserError, match="closed"):
            mapped.view("float32")
        with pytest.raises(geyser.GeyserError, match="closed"):
            torch.from_dlpack(mapped)
        # Tensors made before close() keep the mapping: still the shared memory, still readable.
        assert float(by_dlpack.sum()) == 7 * 1024
        assert int(by_cai.sum()) == sum(np.full(1024, 7, np.float32).tobytes())
        by_dlpack.fill_(1)
        torch.cuda.synchronize()
        np.testing.assert_array_equal(np.frombuffer(buf.read(), np.float32), np.ones(1024, np.float32))


@needs_cuda
def test_bad_inputs(device, gpu, fd_count):
    before = fd_count()
    with device.create_shareable_buffer(4096) as buf, device.export_buffer(buf) as handle:
        # Another device's handle: refused before CUDA sees it.
        foreign = _handle_wire.changed(handle.to_bytes(), device_uuid=b"\xff" * 16)
        with geyser.BufferHandle.from_bytes(foreign, os.dup(handle.fd)) as foreign:
            with pytest.raises(geyser.DeviceMismatchError):
                gpu.import_buffer(foreign)
        # A buffer larger than its allocation: the wire format itself refuses it, so CUDA never
        # sees it (the fd given to from_bytes is closed; the fd count below checks it).
        wrong = _handle_wire.changed(handle.to_bytes(), buffer_size=handle.size + 1)
        with pytest.raises(geyser.ProtocolError, match="allocation"):
            geyser.BufferHandle.from_bytes(wrong, os.dup(handle.fd))
        mapped = gpu.import_buffer(handle)
        with pytest.raises(geyser.InvalidArgumentError, match="needs 8192 bytes"):
            mapped.view("float32", (2048,))
        with pytest.raises(geyser.InvalidArgumentError):
            mapped.view("float32", (4,), offset=2)
        with pytest.raises(BufferError):
            mapped.__dlpack__(copy=True)
        with pytest.raises(geyser.InvalidHandleError):
            gpu.import_texture(handle)
        mapped.close()
    with device.create_shareable_texture(geyser.TextureDescriptor(W, H)) as tex:
        # A texture described with an extent its allocation is not sized for.
        with device.export_texture(tex) as th:
            wider = _handle_wire.changed(th.to_bytes(), width=W * 4)
            with geyser.TextureHandle.from_bytes(wider, os.dup(th.fd)) as wrong:
                with pytest.raises(geyser.InvalidHandleError):
                    gpu.import_texture(wrong)
        ct = gpu.import_texture(tex)
        assert ct.shape == (H, W, 4) and ct.dtype == np.uint8
        with pytest.raises(geyser.InvalidArgumentError, match="CUDA tensor"):
            ct.copy_to(np.zeros((H, W, 4), np.uint8))  # host memory is not a CUDA tensor
        torch = pytest.importorskip("torch")
        with pytest.raises(geyser.InvalidArgumentError, match="shape"):
            ct.copy_to(torch.zeros((H, W + 1, 4), dtype=torch.uint8, device=f"cuda:{gpu.ordinal}"))
        with pytest.raises(geyser.InvalidArgumentError, match="float32|uint8"):
            ct.copy_to(torch.zeros((H, W, 4), dtype=torch.float32, device=f"cuda:{gpu.ordinal}"))
        with pytest.raises(geyser.InvalidArgumentError, match="contiguous rows"):
            ct.copy_to(torch.zeros((H, W, 8), dtype=torch.uint8, device=f"cuda:{gpu.ordinal}")[:, :, :4])
        ct.close()
        with pytest.raises(geyser.GeyserError, match="closed"):
            ct.copy_to(torch.zeros((H, W, 4), dtype=torch.uint8, device=f"cuda:{gpu.ordinal}"))
    if device.info.timeline_semaphores:
        with device.create_shared_timeline("portable") as portable:
            with pytest.raises(geyser.UnsupportedOperationError, match="host memory"):
                gpu.import_semaphore(portable)
    assert fd_count() == before


def _forked_cuda_report(device, gpu, buf, mapped) -> list[str]:
    # In a fork() child of a process that initialised CUDA: what was NOT refused as it should be.
    wrong = []
    st = geyser.cuda.status()
    if st.available or "fork()" not in st.reason:
        wrong.append(f"status: {st.available} {st.reason!r}")
    wrong += refusals({
        "import_buffer": lambda: gpu.import_buffer(buf),
        "CudaDevice": lambda: geyser.cuda.CudaDevice(device),
    })[1]
    mapped.close()  # frees nothing of the parent's
    return wrong


@needs_cuda
# JAX, when an earlier test of this process imported it (tests/test_tensor_streams.py), warns at
# every fork that it is multithreaded; this test's child runs no JAX.
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_forked_child_gets_no_cuda(device, gpu):
    with device.create_shareable_buffer(4096) as buf:
        buf.write(np.full(1024, 5, np.float32))
        mapped = gpu.import_buffer(buf)
        report = run_forked(lambda: _forked_cuda_report(device, gpu, buf, mapped), TIMEOUT)
        assert report == [], report
        # The parent's mapping is intact, and CUDA still works here.
        assert geyser.cuda.status().available
        again = gpu.import_buffer(buf)
        try:
            torch = pytest.importorskip("torch")
            for m in (mapped, again):
                assert float(torch.from_dlpack(m.view("float32")).sum()) == 5 * 1024
        finally:
            again.close()
            mapped.close()
