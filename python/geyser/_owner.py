"""The one base for Python objects that own a native core object."""

from __future__ import annotations

from .errors import InvalidHandleError


class NativeOwner:
    """Holds a ``geyser._native`` object until ``close()``; then every use raises InvalidHandleError.

    Closing drops this object's references (its native object and, for a texture, buffer or
    sync object, its Device), so a closed wrapper keeps nothing alive. The core's objects are
    reference-counted: whatever else still holds them (an imported texture holding its
    device, say) keeps working.
    """

    _native = None
    _device = None

    @property
    def native(self):
        """The geyser._native object this wraps; InvalidHandleError once closed."""
        if self._native is None:
            raise InvalidHandleError(f"this {type(self).__name__} is closed")
        return self._native

    def close(self) -> None:
        """Releases what this object holds (idempotent); every later use raises InvalidHandleError."""
        self._native = None
        self._device = None

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
