"""JSON with numpy arrays and bytes: the format conftest.py and _child.py talk in.

Arrays and bytes travel as JSON objects tagged "__array__" / "__bytes__" (base64).
"""

from __future__ import annotations

import base64

import numpy as np


def encode(v):
    if isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v)
        return {"__array__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": list(a.shape)}
    if isinstance(v, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(v).decode()}
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    return v


def decode(v):
    if isinstance(v, dict):
        if "__array__" in v:
            raw = base64.b64decode(v["__array__"])
            return np.frombuffer(raw, dtype=np.dtype(v["dtype"])).reshape(v["shape"]).copy()
        if "__bytes__" in v:
            return base64.b64decode(v["__bytes__"])
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v
