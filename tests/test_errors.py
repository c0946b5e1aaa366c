"""One error class per kind of mistake, everywhere: a closed object raises InvalidHandleError on
every use, and an argument of the wrong type raises InvalidArgumentTypeError (a TypeError and an
InvalidArgumentError), whichever object or function it is given to."""

from __future__ import annotations

import os

import numpy as np
import pytest

import geyser

DESC = geyser.TextureDescriptor(16, 8)


def _closed_objects(device):
    texture = device.create_shareable_texture(DESC)
    buffer = device.create_shareable_buffer(256)
    timeline = device.create_shared_timeline()
    name = f"errors-{os.getpid()}"
    sender = geyser.Sender(device, name, DESC, ring_size=1)
    subscriber = geyser.Subscriber(device, name, timeout=5)
    other = geyser.Device()
    texture_pixels = np.zeros((DESC.height, DESC.width, 4), np.uint8)
    uses = {
        "Texture.download": (texture, lambda: texture.download()),
        "Texture.width": (texture, lambda: texture.width),
        "Buffer.read": (buffer, lambda: buffer.read()),
        "Timeline.value": (timeline, lambda: timeline.value),
        "Timeline.wait": (timeline, lambda: timeline.wait(1, timeout=0)),
        "Timeline.signal": (timeline, lambda: timeline.signal(1)),
        "Subscriber.next_frame": (subscriber, lambda: subscriber.next_frame(timeout=0)),
        "Sender.publish": (sender, lambda: sender.publish(texture_pixels)),
        "Sender.begin_frame": (sender, lambda: sender.begin_frame()),
        "Device.create_shareable_texture": (other, lambda: other.create_shareable_texture(DESC)),
    }
    return uses


def test_every_use_of_a_closed_object_is_invalid_handle(device):
    for what, (obj, use) in _closed_objects(device).items():
        obj.close()
        with pytest.raises(geyser.InvalidHandleError, match="closed"):
            use()
        assert what  # the name shows in the failure's traceback


@pytest.mark.parametrize("bad", [None, 3, "texture", object()])
def test_every_argument_of_the_wrong_type_is_one_class(device, bad):
    texture = device.create_shareable_texture(DESC)
    calls = {
        "create_shareable_texture": lambda: device.create_shareable_texture(bad),
        "export_texture": lambda: device.export_texture(bad),
        "import_texture": lambda: device.import_texture(bad),
        "export_buffer": lambda: device.export_buffer(bad),
        "import_buffer": lambda: device.import_buffer(bad),
        "import_semaphore": lambda: device.import_semaphore(bad),
        "import_fence": lambda: device.import_fence(bad),
        "import_timeline": lambda: device.import_timeline(bad),
        "export_timeline": lambda: device.export_timeline(bad),
        "copy_texture": lambda: device.copy_texture(texture, bad),
        "upload wait=": lambda: texture.upload(texture.download(), wait=[(bad, 1)]),
        "Sender": lambda: geyser.Sender(device, f"errors-type-{os.getpid()}", bad),
    }
    for what, call in calls.items():
        with pytest.raises(geyser.InvalidArgumentTypeError) as e:
            call()
        assert isinstance(e.value, TypeError) and isinstance(e.value, geyser.InvalidArgumentError), what
        assert type(bad).__name__ in str(e.value), what


def test_a_handle_of_another_kind_is_an_invalid_handle(device):
    texture = device.create_shareable_texture(DESC)
    with device.export_texture(texture) as handle:
        for call in (device.import_semaphore, device.import_fence, device.import_timeline):
            with pytest.raises(geyser.InvalidHandleError, match="another kind"):
                call(handle)
