"""The Python API's surface (issue 17): docstrings on every public object, names for enums,
reprs that say "closed", handles refusing use once closed, geyser.TimeoutError as a builtin
TimeoutError, the Channel and Listener wrappers, Texture.shape/dtype/nbytes/download(out=) and
Buffer.map()."""

from __future__ import annotations

import builtins
import enum
import inspect
import os
import re
from pathlib import Path

import numpy as np
import pytest

import geyser
import geyser.cuda
from geyser import cli

PUBLIC_MODULES = [geyser, geyser.cuda, cli]


def _public_objects():
    for mod in PUBLIC_MODULES:
        for name in mod.__all__:
            yield f"{mod.__name__}.{name}", getattr(mod, name)


def _members(cls):
    """The public members a class defines itself or inherits from Geyser's own bases."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("geyser") or issubclass(klass, enum.Enum):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            yield name, value


def test_every_public_object_has_a_docstring():
    missing = []
    for qual, obj in _public_objects():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants (FORMATS) and the like
        if not inspect.getdoc(obj):
            missing.append(qual)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for name, value in _members(obj):
            raw = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if isinstance(raw, property) or inspect.isfunction(raw):
                if not (raw.__doc__ or "").strip():
                    missing.append(f"{qual}.{name}")
    assert not missing, f"{len(missing)} public objects have no docstring:\n" + "\n".join(missing)


def test_timeout_error_is_a_builtin_timeout_error(device):
    assert issubclass(geyser.TimeoutError, builtins.TimeoutError)
    assert issubclass(geyser.TimeoutError, geyser.GeyserError)
    t = device.create_timeline("portable")
    with pytest.raises(builtins.TimeoutError) as e:
        t.wait(1, timeout=0.01)
    assert isinstance(e.value, geyser.TimeoutError) and str(e.value)


@pytest.mark.parametrize("member", [geyser.TextureFormat.RGBA8_UNORM, geyser.TextureUsage.COPY_SRC,
                                    geyser.Aspect.DEPTH, geyser.BufferUsage.STORAGE])
def test_enums_print_their_names(member):
    assert str(member) == member.name
    assert f"{member}" == member.name
    assert f"{member:d}" == str(int(member))


def test_combined_flags_print_their_names():
    assert str(geyser.TextureUsage.COPY_SRC | geyser.TextureUsage.COPY_DST) == "COPY_SRC|COPY_DST"
    assert str(geyser.BufferUsage(0)) == "0"


def test_closed_objects_say_closed(device):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
    buf = device.create_shareable_buffer(64)
    timeline = device.create_shared_timeline()
    fence = device.create_fence()
    handles = [device.export_texture(tex), device.export_buffer(buf), device.export_timeline(timeline)]
    objects = [tex, buf, timeline, fence, *handles]
    for obj in objects:
        assert "closed" not in repr(obj)
        assert not re.search(r"(^|[\s(,])_\w+=", repr(obj)), repr(obj)  # no private fields
    for obj in objects:
        obj.close()
        r = repr(obj)
        assert "closed" in r and "fd=" not in r, r


@pytest.mark.parametrize("kind", ["texture", "buffer", "timeline"])
def test_detach_and_duplicate_on_a_closed_handle_raise(device, kind, fd_count):
    if kind == "texture":
        h = device.export_texture(device.create_shareable_texture(geyser.TextureDescriptor(4, 4)))
    elif kind == "buffer":
        h = device.export_buffer(device.create_shareable_buffer(64))
    else:
        h = device.export_timeline(device.create_shared_timeline())
    fd = h.detach()
    assert fd >= 0 and h.closed
    os.close(fd)
    before = fd_count()
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        h.detach()
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        h.duplicate()
    h.close()
    assert fd_count() == before


def test_frame_repr_hides_its_owner(device):
    name = f"api-frame-{os.getpid()}"
    with geyser.Sender(device, name, geyser.TextureDescriptor(4, 4), ring_size=2) as sender:
        frame = sender.begin_frame()
        assert "_owner" not in repr(frame) and "Sender" not in repr(frame)
        sender.abandon_frame(frame)


def test_a_closed_subscriber_says_closed(device):
    name = f"api-sub-{os.getpid()}"
    with geyser.Sender(device, name, geyser.TextureDescriptor(4, 4), ring_size=2):
        sub = geyser.Subscriber(device, name, timeout=5)
        assert "closed" not in repr(sub) and not sub.closed
        sub.close()
        assert sub.closed and repr(sub) == f"<geyser.Subscriber {name!r} closed>"
        for call in (lambda: sub.next_frame(timeout=0.1), lambda: sub.release(1)):
            with pytest.raises(geyser.InvalidHandleError, match="closed"):
                call()


def test_channel_and_listener_wrappers_take_seconds_and_close(device, tmp_path):
    a, b = geyser.Channel.pair()
    with a, b:
        assert isinstance(a, geyser.Channel) and "fd=" in repr(a)
        assert a.peer_pid == os.getpid()
        with pytest.raises(geyser.TimeoutError):
            b.receive(timeout=0.05)
    assert a.closed and repr(a) == "<geyser.Channel closed>"
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        a.fileno()
    with pytest.raises(geyser.InvalidArgumentError):
        geyser.Channel.pair()[0].receive(timeout=-1)

    path = os.path.join(geyser.runtime_dir(), f"api-listener-{os.getpid()}.sock")
    with geyser.Listener.bind(path) as listener:
        assert path in repr(listener) and os.path.exists(path)
        with pytest.raises(geyser.TimeoutError):
            listener.accept(timeout=0.05)
        with geyser.Channel.connect(path, timeout=5) as client, listener.accept(timeout=5) as server:
            tex = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
            with device.export_texture(tex) as h:
                geyser.send_handle(client, h, timeout=5)
            with geyser.receive_handle(server, timeout=5) as got:
                assert isinstance(got, geyser.TextureHandle)
    assert listener.closed and "closed" in repr(listener)
    assert not os.path.exists(path)
    with pytest.raises(geyser.InvalidArgumentTypeError):
        geyser.send_handle("not a channel", h)


@pytest.mark.parametrize("fmt", [geyser.TextureFormat.RGBA8_UNORM, geyser.TextureFormat.R32_FLOAT,
                                 geyser.TextureFormat.RG16_FLOAT])
def test_texture_shape_dtype_nbytes_and_download_out(device, fmt):
    tex = device.create_shareable_texture(geyser.TextureDescriptor(6, 3, fmt))
    dtype, shape = tex.host_layout()
    assert tex.shape == shape and tex.dtype == dtype
    assert tex.nbytes == int(np.prod(shape)) * dtype.itemsize
    data = (np.arange(np.prod(shape)) % 200).astype(dtype).reshape(shape)
    tex.upload(data)
    out = np.zeros(shape, dtype)
    assert tex.download(out=out) is out
    assert np.array_equal(out, data)
    with pytest.raises(geyser.InvalidArgumentError, match="shape"):
        tex.download(out=np.zeros((1, 1), dtype))
    with pytest.raises(geyser.InvalidArgumentError, match="C-contiguous"):
        tex.download(out=np.zeros(shape[::-1], dtype).T)
    ro = np.zeros(shape, dtype)
    ro.flags.writeable = False
    with pytest.raises(geyser.InvalidArgumentError, match="read-only"):
        tex.download(out=ro)
    with pytest.raises(geyser.InvalidArgumentTypeError):
        tex.download(out=b"bytes")


def test_buffer_map_views_the_shared_memory(device):
    buf = device.create_shareable_buffer(1024)
    if not buf.host_mappable:
        with pytest.raises(geyser.UnsupportedOperationError, match="host-visible|host-coherent"):
            buf.map()
        pytest.skip(f"{device.name}: buffer memory is not host-mappable")
    view = buf.map()
    assert view.dtype == np.uint8 and view.shape == (1024,) and view.flags.writeable
    view[:] = np.arange(1024) % 251
    assert buf.read(8, offset=100) == bytes(range(100, 108))
    with device.export_buffer(buf) as h:
        imported = device.import_buffer(h)
    words = imported.map(np.uint32, (16, 16))
    assert words.shape == (16, 16) and words[0, 0] == int.from_bytes(bytes(range(4)), "little")
    imported.write(b"\xff" * 4)
    assert (view[:4] == 255).all()  # the same memory, no copy
    with pytest.raises(geyser.InvalidArgumentError, match="needs"):
        buf.map(np.float64, (1000,))
    buf.close()
    view[0] = 1  # the view keeps the mapping alive after close()
    assert view[0] == 1


def test_the_enums_type_checkers_see_are_the_core_tables():
    """formats.py declares the enums' members for type checkers (TYPE_CHECKING); the values come
    from the core's table at run time. The two lists of names must be the same."""
    import ast

    tree = ast.parse(Path(geyser.formats.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    declared = {c.name: [t.targets[0].id for t in c.body if isinstance(t, ast.Assign)]
                for c in block.body if isinstance(c, ast.ClassDef)}
    assert declared == {"TextureFormat": [f.name for f in geyser.TextureFormat],
                        "TextureUsage": [f.name for f in geyser.TextureUsage],
                        "Aspect": [a.name for a in geyser.Aspect]}


def _stub_names(tree) -> dict[str, set[str]]:
    import ast

    out: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | \
                             {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)} | \
                             {t.id for n in node.body if isinstance(n, ast.Assign) for t in n.targets}
            out[node.name] = {n for n in out[node.name] if not n.startswith("_")}
            out[""].add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AnnAssign)):
            out[""].add(node.name if isinstance(node, ast.FunctionDef) else node.target.id)
    out[""] = {n for n in out[""] if not n.startswith("_")}
    return out


def test_the_native_stubs_match_the_built_module():
    """The stubs of geyser._native are generated from the module at build time; here they must
    name exactly what the module has (a stub generated from another build would not)."""
    import ast

    stub = Path(geyser._native.__file__).with_name("_native") / "__init__.pyi"
    if not stub.exists():
        pytest.skip(f"no stubs beside {geyser._native.__file__}: built without pybind11-stubgen")
    declared = _stub_names(ast.parse(stub.read_text()))
    native = geyser._native
    assert declared[""] == {n for n in dir(native) if not n.startswith("_") and not inspect.ismodule(getattr(native, n))}
    for name, members in declared.items():
        if not name:
            continue
        cls = getattr(native, name)
        actual = {n for n in vars(cls) if not n.startswith("_")}
        assert members == actual, (name, members ^ actual)
