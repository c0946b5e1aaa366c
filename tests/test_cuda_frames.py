"""geyser.cuda's stream helpers over the core's CudaSubscriber / CudaSender (geyser/cuda_frames.hpp):
what needs no CUDA runs here on lavapipe; the CUDA paths run on the GPU machine
(scripts/gpu/cudatensors.sh)."""

from __future__ import annotations

import gc
import os
import re

import numpy as np
import pytest

import geyser
import geyser.cuda


def _name(tag: str) -> str:
    return f"py-cuda-frames-{tag}-{os.getpid()}"


def test_without_cuda_the_helpers_say_why(device, fd_count):
    status = geyser.cuda.status()
    if status.available:
        pytest.skip("CUDA is available here: the refusal is for machines without it")
    base = fd_count()
    with geyser.Sender(device, _name("no-cuda"), tensor=("float32", (4,))) as sender:
        with geyser.Subscriber(device, sender.name, timeout=5) as sub:
            sender.publish(np.arange(4, dtype=np.float32))
            frame = sub.next_frame(timeout=5)
            with pytest.raises(geyser.UnsupportedOperationError, match=re.escape(status.reason[:40])):
                geyser.cuda.tensor_views(frame)
            with pytest.raises(geyser.UnsupportedOperationError):
                geyser.cuda.frame_texture(frame)
            assert geyser.cuda.wait_frame(frame) is None  # a host-waited frame needs no CUDA
            frame.release()
            # A released frame is refused before any CUDA is needed.
            with pytest.raises(geyser.InvalidHandleError, match="was released"):
                geyser.cuda.tensor_views(frame)
    del frame, sub, sender
    gc.collect()
    assert fd_count() == base


def test_release_refuses_another_subscribers_frame_and_a_released_one(device, fd_count):
    # No CUDA call is made before these refusals: this runs on lavapipe too.
    base = fd_count()
    with geyser.Sender(device, _name("release"), tensor=("float32", (4,))) as sender:
        with geyser.Subscriber(device, sender.name, timeout=5) as a, geyser.Subscriber(device, sender.name, timeout=5) as b:
            sender.wait_for_subscribers(2, timeout=5)
            sender.publish(np.arange(4, dtype=np.float32))
            fa, fb = a.next_frame(timeout=5), b.next_frame(timeout=5)
            with pytest.raises(geyser.InvalidArgumentError, match="release takes a frame"):
                geyser.cuda.release(a, fb)
            assert not fb.released, "a refused release must release nothing"
            fa.release()
            with pytest.raises(geyser.InvalidArgumentError, match="not held"):
                geyser.cuda.release(a, fa)
            fb.release()
    del fa, fb, a, b, sender
    gc.collect()
    assert fd_count() == base


def _gpu_or_skip(device):
    if not geyser.cuda.available():
        pytest.skip(f"no CUDA driver: {geyser.cuda.status().reason}")
    torch = pytest.importorskip("torch", reason="torch is not installed (scripts/gpu/cudatensors.sh runs this on the GPU machine)")
    try:
        geyser.cuda.CudaDevice(device)
    except geyser.GeyserError as e:
        pytest.skip(f"the Vulkan device has no CUDA counterpart: {e}")
    return torch


def _vulkan_sender(device, name, **kw):
    try:
        return geyser.Sender(device, name, sync="vulkan", **kw)
    except geyser.UnsupportedOperationError as e:
        pytest.skip(f"the device cannot share Vulkan timelines, which the GPU paths need: {e}")


def test_texture_stream_frames_through_cuda_arrays(device, fd_count):
    torch = _gpu_or_skip(device)
    torch.cuda.set_device(geyser.cuda.cuda_device(device).ordinal)
    stream = torch.cuda.Stream()
    base = fd_count()
    d = geyser.TextureDescriptor(32, 16)  # RGBA8
    with _vulkan_sender(device, _name("textures"), descriptor=d) as sender:
        with geyser.Subscriber(device, sender.name, timeout=5) as sub:
            out = torch.empty((16, 32, 4), dtype=torch.uint8, device="cuda")
            for n in range(1, 6):
                src = torch.full((16, 32, 4), n * 17 % 256, dtype=torch.uint8, device="cuda")
                frame = sender.begin_frame(timeout=5)
                with torch.cuda.stream(stream):
                    geyser.cuda.frame_texture(frame, stream).copy_from(src, stream)
                    geyser.cuda.end_frame(sender, frame, stream)
                got = sub.next_frame(timeout=5, wait="gpu")
                assert got.number == n
                tex = geyser.cuda.frame_texture(got, stream)  # the stream waits for the frame
                assert tex is geyser.cuda.frame_texture(got, stream), "one CudaTexture per slot"
                tex.copy_to(out, stream)
                geyser.cuda.release(sub, got, stream)  # synchronises the stream
                assert got.released
                assert bool((out == n * 17 % 256).all()), f"frame {n}"
            # The producer's stream signalled the subscriber's own timeline: nothing was relayed.
            assert sender.stats.ready_submissions == 0
            with pytest.raises(geyser.UnsupportedOperationError, match="texture"):
                geyser.cuda.tensor_views(got)
    del sender, sub, got, frame, tex
    gc.collect()
    assert fd_count() == base


def test_cuda_helpers_refuse_misuse_once_in_cuda(device, fd_count):
    torch = _gpu_or_skip(device)
    stream = torch.cuda.current_stream()
    base = fd_count()
    with _vulkan_sender(device, _name("misuse"), tensor=("float32", (8,))) as sender:
        with geyser.Subscriber(device, sender.name, timeout=5) as a, geyser.Subscriber(device, sender.name, timeout=5) as b:
            sender.wait_for_subscribers(2, timeout=5)
            frame = sender.begin_frame(timeout=5)
            torch.from_dlpack(geyser.cuda.tensor_views(frame)).fill_(3.0)
            geyser.cuda.end_frame(sender, frame, stream)
            with pytest.raises(geyser.InvalidArgumentError, match="begin_frame returned"):
                geyser.cuda.end_frame(sender, frame, stream)  # ended already: nothing is signalled
            fa, fb = a.next_frame(timeout=5, wait="gpu"), b.next_frame(timeout=5, wait="gpu")
            view = geyser.cuda.tensor_views(fa, stream)
            assert torch.from_dlpack(view).sum().item() == 24.0
            geyser.cuda.wait_frame(fb, stream)  # b's own subscription, imported on first use
            # a's CUDA import is asked about b's frame: the core says it is another subscriber's.
            with pytest.raises(geyser.InvalidArgumentError, match="another subscriber"):
                a._cuda_subscriber.wait(fb._native, 0)
            with pytest.raises(geyser.InvalidArgumentError, match="expected a CUDA stream"):
                geyser.cuda.wait_frame(fa, "a stream")
            geyser.cuda.release(a, fa, stream)
            geyser.cuda.release(b, fb, stream)
            with pytest.raises(geyser.InvalidHandleError, match="was released"):
                geyser.cuda.wait_frame(fa, stream)
            with pytest.raises(geyser.InvalidHandleError, match="was released"):
                geyser.cuda.tensor_views(fa, stream)
    del sender, a, b, fa, fb, frame, view
    gc.collect()
    assert fd_count() == base
