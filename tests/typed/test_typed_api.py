"""A typed use of the public API: CI runs ``mypy --strict`` over this module (and examples/),
so what the package declares (py.typed, the generated stubs of geyser._native, the Python
wrappers' annotations) must be enough for a strictly typed caller. It also runs under pytest."""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

import geyser
import geyser.tensors


def roundtrip(device: geyser.Device, width: int, height: int) -> npt.NDArray[np.uint8]:
    desc = geyser.TextureDescriptor(width, height, geyser.TextureFormat.RGBA8_UNORM)
    tex: geyser.Texture = device.create_shareable_texture(desc)
    pixels = np.full((height, width, 4), 9, np.uint8)
    tex.upload(pixels)
    with device.export_texture(tex) as handle:
        shared = device.import_texture(handle)
    out = np.empty(tex.shape, np.uint8)
    shared.download(out=out)
    return out


def share_through_a_sender(device: geyser.Device, name: str) -> int:
    desc = geyser.TextureDescriptor(8, 4)
    with geyser.Sender(device, name, desc, ring_size=2) as sender:
        with geyser.Subscriber(device, name, timeout=5.0) as sub:
            number: int = sender.publish(np.full((4, 8, 4), 3, np.uint8))
            with sub.next_frame(timeout=5.0) as frame:
                assert frame.number == number
                return int(frame.texture.download()[0, 0, 0])


def timeline_value(device: geyser.Device) -> int:
    timeline: geyser.Timeline = device.create_shared_timeline("portable")
    timeline.signal(3)
    try:
        timeline.wait(4, timeout=0.01)
    except TimeoutError:  # geyser.TimeoutError is a builtin TimeoutError
        pass
    return timeline.value


def test_typed_roundtrip(device: geyser.Device) -> None:
    assert (roundtrip(device, 5, 3) == 9).all()


def test_typed_sender(device: geyser.Device) -> None:
    assert share_through_a_sender(device, f"typed-{os.getpid()}") == 3


def test_typed_timeline(device: geyser.Device) -> None:
    assert timeline_value(device) == 3
    assert str(geyser.TextureFormat.BGRA8_UNORM) == "BGRA8_UNORM"


def share_tensors(device: geyser.Device, name: str) -> float:
    tensors: dict[str, geyser.tensors.TensorSpec] = {"obs": ("float32", (2, 3)), "done": ("bool", (2,))}
    with geyser.Sender(device, name, tensors=tensors) as sender:
        layout: geyser.TensorLayout | None = sender.layout
        assert layout is not None and layout.offset("done") % geyser.TensorLayout.ALIGNMENT == 0
        with geyser.Subscriber(device, name, timeout=5.0) as sub:
            sender.publish({"obs": np.full((2, 3), 1.5, np.float32), "done": np.ones(2, np.bool_)})
            with sub.next_frame(timeout=5.0) as frame:
                arrays = frame.read()
                assert isinstance(arrays, dict)
                return float(arrays["obs"][1, 2])


def test_typed_tensor_stream(device: geyser.Device) -> None:
    assert share_tensors(device, f"typed-tensors-{os.getpid()}") == 1.5
