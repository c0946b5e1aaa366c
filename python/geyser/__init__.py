"""Geyser: zero-copy sharing of GPU textures and buffers between processes and graphics APIs.

``import geyser`` works on any machine; the first use of Vulkan raises
``VulkanUnavailableError`` saying what to install when there is no loader or driver.
"""

from .errors import (
    CudaError,
    GLError,
    DeviceMismatchError,
    GeyserError,
    GeyserOSError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidHandleError,
    PeerGoneError,
    ProtocolError,
    SubscriptionDroppedError,
    TimeoutError,
    UnsupportedFormatError,
    UnsupportedOperationError,
    VulkanError,
    VulkanUnavailableError,
)
from .formats import FORMATS, Aspect, FormatInfo, TextureFormat, TextureUsage, format_info
from .memory import Buffer, BufferHandle, BufferUsage, Texture, TextureDescriptor, TextureHandle
from .sync import Fence, FenceHandle, Semaphore, SemaphoreHandle
from .timeline import Timeline, TimelineHandle
from .device import Device, DeviceInfo, FormatSupport, devices
from .gpu_topology import GpuTopology, gpu_topology
from . import pickling  # noqa: F401 - registers the multiprocessing reducers
from .channel import Channel, Listener, receive_handle, runtime_dir, send_handle
from .tensors import TensorLayout
from .sender import Frame, Sender, SenderInfo, Subscriber, list_senders, query_sender
from .explain import Explanation, Reason, copy_to, explain, explain_cuda, explain_peer_copy
from . import _native
from . import cuda  # noqa: F401 - geyser.cuda: CUDA interop (works without CUDA; see cuda.available())

__version__ = "0.1.0"


def validation_messages() -> list[str]:
    """Validation-layer messages seen in this process (GEYSER_VALIDATION=1)."""
    return list(_native.validation_messages())


def clear_validation_messages() -> None:
    """Forgets the validation-layer messages collected so far in this process."""
    _native.clear_validation_messages()


__all__ = [
    "Aspect", "CudaError", "GLError", "Fence", "FenceHandle", "Semaphore", "SemaphoreHandle", "Timeline", "TimelineHandle", "Frame", "Sender",
    "SenderInfo", "Subscriber", "list_senders", "query_sender", "Channel", "Listener", "receive_handle",
    "runtime_dir", "send_handle", "Buffer", "BufferHandle", "BufferUsage", "Device", "DeviceInfo", "DeviceMismatchError",
    "FORMATS", "FormatInfo", "FormatSupport", "GeyserError", "GeyserOSError", "InvalidArgumentError", "InvalidArgumentTypeError",
    "InvalidHandleError", "PeerGoneError", "ProtocolError", "SubscriptionDroppedError", "Texture", "TextureDescriptor",
    "TextureFormat", "TextureHandle", "TextureUsage", "TimeoutError", "UnsupportedFormatError",
    "UnsupportedOperationError", "VulkanError", "VulkanUnavailableError", "clear_validation_messages",
    "devices", "format_info", "gpu_topology", "GpuTopology", "validation_messages", "TensorLayout", "Explanation",
    "Reason", "copy_to", "explain", "explain_cuda", "explain_peer_copy",
]
