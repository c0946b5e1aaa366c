"""Tensor layouts: the named tensors (each a dtype and a shape) one slot of a tensor stream holds.

A :class:`geyser.Sender` made with ``tensor=(dtype, shape)`` or ``tensors={name: (dtype, shape)}``
publishes a ring of shareable buffers instead of textures, each holding every tensor of the
layout at an aligned offset (the core's ``geyser::TensorLayout``, which checks it: names, dtypes,
ranks, sizes). Frames are read on the host as numpy arrays (``frame.read()``) or, with
``geyser.cuda``, viewed on the GPU through DLPack (``geyser.cuda.tensor_views``). docs/streams.md
describes both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from . import _native
from .errors import InvalidArgumentError, InvalidArgumentTypeError, UnsupportedOperationError

__all__ = ["TensorLayout", "TensorSpec"]

#: What one tensor is given as: ``(dtype, shape)``, the dtype a name ("float32") or a numpy dtype.
TensorSpec = tuple[Union[str, np.dtype, type], Sequence[int]]

#: The name a single ``tensor=`` gets in the layout.
SINGLE_NAME = "tensor"


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, str):
        return dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise InvalidArgumentTypeError(f"a dtype is a name such as 'float32' or a numpy dtype, got {dtype!r}") from None


def _shape(name: str, shape: Any) -> list[int]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, (str, bytes)):
        raise InvalidArgumentTypeError(f"tensor {name!r}: a shape is a sequence of ints, got {shape!r}")
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise InvalidArgumentTypeError(f"tensor {name!r}: shape {tuple(shape)!r} holds {d!r}, not an int")
        if d < 0:
            raise InvalidArgumentError(f"tensor {name!r}: shape {tuple(shape)!r} has a negative dimension")
        if d >= 1 << 64:
            raise InvalidArgumentError(f"tensor {name!r}: dimension {d} does not fit in 64 bits")
        dims.append(int(d))
    return dims


class TensorLayout:
    """The tensors of one slot, in order, each at ``offset(name)`` of the slot's buffer.

    ``TensorLayout({"obs": ("float32", (64, 84, 84)), "reward": ("float32", (64,))})``. The core
    places them (every offset a multiple of ``ALIGNMENT``, 256) and refuses, with
    InvalidArgumentError naming the tensor: no tensors, more than 64, an empty, badly spelled or
    repeated name, an unknown dtype, more than 8 dimensions, a 0 dimension, a size that
    overflows, or a slot over 16 GiB.
    """

    ALIGNMENT = _native.TensorLayout.ALIGNMENT

    def __init__(self, tensors: Mapping[str, TensorSpec]):
        if not isinstance(tensors, Mapping):
            raise InvalidArgumentTypeError(f"tensors is a mapping of name to (dtype, shape), got {type(tensors).__name__}")
        descs = []
        for name, spec in tensors.items():
            if not isinstance(name, str):
                raise InvalidArgumentTypeError(f"a tensor name is a str, got {name!r}")
            if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)) or len(spec) != 2:
                raise InvalidArgumentTypeError(f"tensor {name!r}: expected (dtype, shape), got {spec!r}")
            dtype = _native.dtype_from_string(_dtype_name(spec[0]))
            descs.append(_native.TensorDescriptor(name, dtype, _shape(name, spec[1])))
        self._native = _native.TensorLayout(descs)

    @classmethod
    def _wrap(cls, native) -> "TensorLayout":
        layout = cls.__new__(cls)
        layout._native = native
        return layout

    @classmethod
    def _of(cls, tensor: TensorSpec | None, tensors: Mapping[str, TensorSpec] | None) -> "TensorLayout":
        if tensor is not None and tensors is not None:
            raise InvalidArgumentError("give tensor= (one tensor) or tensors= (several by name), not both")
        return cls({SINGLE_NAME: tensor} if tensor is not None else tensors or {})

    native = property(lambda self: self._native, doc="The geyser._native.TensorLayout this wraps.")
    size = property(lambda self: self._native.size, doc="The slot's buffer size in bytes.")

    @property
    def names(self) -> list[str]:
        """The tensors' names, in order."""
        return [t.name for t in self._native.tensors]

    def dtype(self, name: str) -> str:
        """The dtype name of tensor ``name``."""
        return _native.dtype_name(self._native.tensors[self._native.index(name)].dtype)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name``."""
        return tuple(self._native.tensors[self._native.index(name)].shape)

    def offset(self, name: str) -> int:
        """Where tensor ``name`` starts in the slot's buffer."""
        return self._native.offset(self._native.index(name))

    def nbytes(self, name: str) -> int:
        """Tensor ``name``'s size in bytes."""
        return self._native.bytes(self._native.index(name))

    def _numpy_dtype(self, name: str) -> np.dtype:
        dtype = self.dtype(name)
        if dtype == "bfloat16":
            raise UnsupportedOperationError(
                f"tensor {name!r} is bfloat16, which numpy has no dtype for: view it on the GPU "
                "(geyser.cuda.tensor_views) instead of reading it on the host")
        return np.dtype(dtype)

    def pack(self, arrays: Any) -> np.ndarray:
        """The slot's bytes for ``arrays`` (one array for a layout of one tensor, else a mapping
        of every name to its array), each checked for its dtype and shape."""
        names = self.names
        if not isinstance(arrays, Mapping):
            if len(names) != 1:
                raise InvalidArgumentError(f"this layout has {len(names)} tensors: give a dict of {names}")
            arrays = {names[0]: arrays}
        if set(arrays) != set(names):
            raise InvalidArgumentError(f"expected arrays for exactly {names}, got {sorted(arrays)}")
        out = np.zeros(self.size, np.uint8)
        for name in names:
            a = np.asarray(arrays[name])
            want, shape = self._numpy_dtype(name), self.shape(name)
            if a.dtype != want or a.shape != shape:
                raise InvalidArgumentError(f"tensor {name!r}: expected dtype {want} and shape {shape}, got dtype "
                                           f"{a.dtype} and shape {a.shape}")
            off = self.offset(name)
            out[off:off + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        return out

    def unpack(self, raw: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Arrays viewing ``raw`` (a slot's bytes): one for a layout of one tensor, else a dict."""
        buf = np.frombuffer(raw, np.uint8)
        out = {}
        for name in self.names:
            off = self.offset(name)
            out[name] = buf[off:off + self.nbytes(name)].view(self._numpy_dtype(name)).reshape(self.shape(name))
        return out[self.names[0]] if len(out) == 1 else out

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every tensor by name: its ``dtype``, ``shape``, ``offset`` and ``nbytes`` (plain data, for JSON)."""
        return {n: {"dtype": self.dtype(n), "shape": list(self.shape(n)), "offset": self.offset(n),
                    "nbytes": self.nbytes(n)} for n in self.names}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorLayout) and self._native == other._native

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<geyser.TensorLayout {self._native.describe()}; {self.size} bytes>"
