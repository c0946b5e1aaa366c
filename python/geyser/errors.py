"""Geyser's exception hierarchy.

Every error raised by Geyser derives from :class:`GeyserError` (a ``RuntimeError``). The C++ core
throws the mirrored ``geyser::Error`` classes and the binding maps each onto the class here, so a
caller can catch exactly what they mean.
"""

from __future__ import annotations

import builtins

__all__ = [
    "GeyserError",
    "VulkanUnavailableError",
    "VulkanError",
    "CudaError",
    "GLError",
    "UnsupportedFormatError",
    "UnsupportedOperationError",
    "InvalidHandleError",
    "DeviceMismatchError",
    "TimeoutError",
    "PeerGoneError",
    "SubscriptionDroppedError",
    "ProtocolError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "GeyserOSError",
]


class GeyserError(RuntimeError):
    """Root of every error Geyser raises."""


class VulkanUnavailableError(GeyserError):
    """No Vulkan loader, driver or matching device; the message says what to install."""


class VulkanError(GeyserError):
    """A Vulkan call failed.

    Attributes: ``result`` (the VkResult value), ``result_name`` (e.g.
    ``"VK_ERROR_OUT_OF_DEVICE_MEMORY"``) and ``call`` (the failing entry point).
    """

    result: int = 0
    result_name: str = ""
    call: str = ""


class CudaError(GeyserError):
    """A CUDA driver API call failed (geyser.cuda).

    Attributes: ``result`` (the CUresult value), ``result_name`` (e.g.
    ``"CUDA_ERROR_INVALID_VALUE"``) and ``call`` (the failing entry point).
    """

    result: int = 0
    result_name: str = ""
    call: str = ""


class GLError(GeyserError):
    """An OpenGL call raised a GL error (geyser.gl).

    Attributes: ``error`` (the GL error code), ``error_name`` (e.g. ``"GL_INVALID_OPERATION"``)
    and ``call`` (the GL entry point that raised it).
    """

    error: int = 0
    error_name: str = ""
    call: str = ""


class UnsupportedFormatError(GeyserError):
    """The format, usage or extent cannot be created or shared on this device."""


class UnsupportedOperationError(GeyserError):
    """The device or driver lacks the feature an operation needs."""


class InvalidHandleError(GeyserError):
    """A handle cannot be imported: bad fd, wrong kind, or a description that does not match."""


class DeviceMismatchError(GeyserError):
    """A handle or object belongs to another physical device or driver."""


class TimeoutError(GeyserError, builtins.TimeoutError):  # noqa: A001 - deliberately mirrors the core's name
    """A bounded wait ran out of time.

    Also a builtin ``TimeoutError`` (so an ``OSError``): ``except TimeoutError`` catches it
    whether or not the caller means Geyser's. ``errno`` is None."""


class PeerGoneError(GeyserError):
    """The process on the other end of a channel or timeline has gone away."""


class SubscriptionDroppedError(GeyserError):
    """The producer of a named sender, still alive, ended this subscription (it held a frame past
    the producer's release timeout, say); the message gives the producer's reason."""


class ProtocolError(GeyserError):
    """A message broke the wire format (size, version, field or fd count)."""


class InvalidArgumentError(GeyserError, ValueError):
    """An argument is out of range or inconsistent."""


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument is of the wrong type (a string where a Texture belongs, say).

    Every such refusal in Geyser raises this one class; it is a ``TypeError`` (as Python code
    expects) and an ``InvalidArgumentError`` (as the rest of Geyser's argument checks)."""



class GeyserOSError(GeyserError):
    """A system call failed. Attributes: ``errno`` and ``call``."""

    errno: int = 0
    call: str = ""
