"""Tensor streams (issue 16, item 5) with real processes and sockets: a Sender publishing a ring
of buffers laid out by a TensorLayout, consumers reading them through ``frame.read()`` in both
delivery modes, a late joiner, several named tensors, every error with its exception and no fd
leaked, bad layouts; and the GPU paths (torch, CuPy, JAX through DLPack with GPU waits), which
skip where there is no CUDA device, saying why."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import geyser
import geyser.cuda

sys.path.insert(0, os.path.dirname(__file__))
from _tensor_peer import expected  # noqa: E402

PEER = os.path.join(os.path.dirname(__file__), "_tensor_peer.py")
TENSORS = {"obs": ("float32", (4, 12, 12)), "reward": ("float32", (4,)), "done": ("bool", (4,)),
           "action": ("int64", (4, 2))}


def _name(tag: str) -> str:
    return f"t-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _peer(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, PEER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _answer(proc: subprocess.Popen, timeout: float = 60) -> dict:
    # Read through the text wrapper: a readline() before may have buffered the answer already,
    # which communicate() (reading the pipe itself) would miss.
    with proc:
        out = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


# ---- layouts ----------------------------------------------------------------------------------

def test_layout_places_named_tensors_at_aligned_offsets():
    layout = geyser.TensorLayout(TENSORS)
    assert layout.names == ["obs", "reward", "done", "action"]
    assert layout.shape("obs") == (4, 12, 12) and layout.dtype("done") == "bool"
    offsets = [layout.offset(n) for n in layout.names]
    assert offsets == sorted(offsets) and all(o % geyser.TensorLayout.ALIGNMENT == 0 for o in offsets)
    assert layout.size == layout.offset("action") + 4 * 2 * 8
    assert layout == geyser.TensorLayout(TENSORS)
    assert geyser.TensorLayout({"x": (np.float16, 3)}).dtype("x") == "float16"
    arrays = expected(layout, 3)
    back = layout.unpack(layout.pack(arrays).tobytes())
    assert all(np.array_equal(back[k], arrays[k]) for k in arrays)


@pytest.mark.parametrize("tensors, error, match", [
    ({}, geyser.InvalidArgumentError, "at least one tensor"),
    ({"": ("uint8", (1,))}, geyser.InvalidArgumentError, "must be 1-64 characters"),
    ({"a/b": ("uint8", (1,))}, geyser.InvalidArgumentError, "must be 1-64 characters"),
    ({"a": ("complex64", (1,))}, geyser.InvalidArgumentError, "unknown dtype 'complex64'"),
    ({"a": ("float32", (2, 0))}, geyser.InvalidArgumentError, "dimension of 0"),
    ({"a": ("float32", (1,) * 9)}, geyser.InvalidArgumentError, "9 dimensions"),
    ({"a": ("float64", (1 << 62, 4))}, geyser.InvalidArgumentError, "overflows 64 bits"),
    ({"a": ("uint8", (1 << 40,))}, geyser.InvalidArgumentError, "largest slot"),
    ({"a": ("uint8", (-1,))}, geyser.InvalidArgumentError, "negative"),
    ({"a": ("uint8", (1 << 64,))}, geyser.InvalidArgumentError, "does not fit in 64 bits"),
    ({"a": ("uint8", (1.5,))}, geyser.InvalidArgumentTypeError, "not an int"),
    ({"a": ("uint8",)}, geyser.InvalidArgumentTypeError, r"expected \(dtype, shape\)"),
    ({1: ("uint8", (1,))}, geyser.InvalidArgumentTypeError, "a tensor name is a str"),
    ([("a", "uint8")], geyser.InvalidArgumentTypeError, "mapping"),
])
def test_bad_layouts_are_refused_naming_why(tensors, error, match):
    with pytest.raises(error, match=match):
        geyser.TensorLayout(tensors)


def test_a_layout_of_65_tensors_and_duplicate_names_are_refused(device):
    with pytest.raises(geyser.InvalidArgumentError, match="at most 64 tensors"):
        geyser.TensorLayout({f"t{i}": ("uint8", (1,)) for i in range(65)})
    # A dict cannot repeat a key; the core's check is reached through the native layout.
    d = geyser._native.TensorDescriptor("a", geyser._native.DType.UINT8, [1])
    with pytest.raises(geyser.InvalidArgumentError, match="used twice"):
        geyser._native.TensorLayout([d, d])


def test_sender_refuses_bad_arguments_without_leaking(device):
    gc.collect()
    base = _fds()
    name = _name("bad")
    with pytest.raises(geyser.InvalidArgumentError, match="not both"):
        geyser.Sender(device, name, geyser.TextureDescriptor(4, 4), tensor=("uint8", (4,)))
    with pytest.raises(geyser.InvalidArgumentError, match="not both"):
        geyser.Sender(device, name, tensor=("uint8", (4,)), tensors={"a": ("uint8", (4,))})
    with pytest.raises(geyser.InvalidArgumentError, match="unknown dtype"):
        geyser.Sender(device, name, tensor=("uint7", (4,)))
    with pytest.raises(geyser.InvalidArgumentError, match="latest-mode ring needs at least 3"):
        geyser.Sender(device, name, tensor=("uint8", (4,)), ring_size=2, mode="latest")
    with geyser.Sender(device, name, tensors=TENSORS) as sender:
        good = expected(sender.layout, 1)
        with pytest.raises(geyser.InvalidArgumentError, match="expected arrays for exactly"):
            sender.publish({"obs": good["obs"]})
        with pytest.raises(geyser.InvalidArgumentError, match="tensor 'reward': expected dtype float32"):
            sender.publish(dict(good, reward=good["reward"].astype(np.float64)))
        with pytest.raises(geyser.InvalidArgumentError, match="give a dict"):
            sender.publish(good["obs"])
        with pytest.raises(geyser.InvalidArgumentError, match="no aspect"):
            sender.publish(good, aspect=geyser.Aspect.COLOR)
        with pytest.raises(geyser.InvalidArgumentError, match="4 bytes for a slot"):
            sender._native.publish(b"1234", sender._timeout_ns(None))
        assert sender.frame == 0
        frame = sender.begin_frame()
        with pytest.raises(geyser.UnsupportedOperationError, match="is a tensor stream.s"):
            frame.texture
        assert frame.buffer.size == sender.layout.size
        sender.abandon_frame(frame)
    sender = frame = None
    gc.collect()
    assert _fds() == base


# ---- frames through read() --------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["lossless", "latest"])
def test_several_named_tensors_reach_another_process_in_both_modes(device, mode):
    name = _name("modes-" + mode)
    frames = 12
    with geyser.Sender(device, name, tensors=TENSORS, mode=mode) as sender:
        assert sender.info().layout == sender.layout and sender.info().descriptor is None
        peer = _peer("consume", name, str(frames if mode == "lossless" else 4), "0.01")
        first = json.loads(peer.stdout.readline())
        assert first["mode"] == mode and first["layout"] == list(TENSORS)
        sender.wait_for_subscribers(1, timeout=10)
        n = 0
        while peer.poll() is None and (mode == "latest" or n < frames):
            n += 1
            sender.publish(expected(sender.layout, n), timeout=10)
            time.sleep(0.002 if mode == "latest" else 0)
            assert n < 20000, "the consumer never finished"
        answer = _answer(peer)
    assert answer["bad"] == 0 and answer["error"] is None, answer
    if mode == "lossless":
        assert answer["numbers"] == list(range(1, frames + 1)) and answer["dropped"] == 0
    else:
        assert answer["numbers"] == sorted(set(answer["numbers"]))


def test_one_tensor_reads_as_one_array_and_a_late_joiner_gets_the_current_frame(device):
    name = _name("single")
    with geyser.Sender(device, name, tensor=("uint16", (3, 5))) as sender:
        assert sender.layout.names == ["tensor"]
        for n in range(1, 4):
            sender.publish(expected(sender.layout, n)["tensor"])
        late = _peer("consume", name, "1", "0")
        assert json.loads(late.stdout.readline())["subscribed"] == 3
        assert _answer(late) == {"numbers": [3], "bad": 0, "dropped": 0, "error": None}
        with geyser.Subscriber(device, name, timeout=5) as sub:
            with sub.next_frame(timeout=5) as f:
                got = f.read()
                assert isinstance(got, np.ndarray) and got.dtype == np.uint16 and got.shape == (3, 5)
                assert np.array_equal(got, expected(sub.layout, 3)["tensor"])
            with pytest.raises(geyser.InvalidHandleError, match="released"):
                f.read()


def test_frame_errors_and_a_texture_frame_has_no_tensors(device):
    gc.collect()
    base = _fds()
    name = _name("frame-errors")
    with geyser.Sender(device, name, tensors={"x": ("bfloat16", (2,)), "y": ("int8", (2,))}, ring_size=1) as sender:
        sub = geyser.Subscriber(device, name, timeout=5)
        sender._native.publish(bytes(sender.layout.size), sender._timeout_ns(None))
        f = sub.next_frame(timeout=5)
        with pytest.raises(geyser.UnsupportedOperationError, match="bfloat16"):
            f.read()
        with pytest.raises(geyser.UnsupportedOperationError, match="is a tensor stream.s"):
            f.texture
        with pytest.raises(geyser.UnsupportedOperationError, match="full|release one"):
            sub.next_frame(timeout=5)
        f.release()
        with pytest.raises(geyser.InvalidHandleError):
            f.buffer
        sub.close()
    tname = _name("texture")
    with geyser.Sender(device, tname, geyser.TextureDescriptor(4, 4)) as tsender:
        tsender.publish(np.zeros((4, 4, 4), np.uint8))
        with geyser.Subscriber(device, tname, timeout=5) as tsub:
            assert tsub.layout is None and tsub.buffers == []
            with tsub.next_frame(timeout=5) as tf:
                with pytest.raises(geyser.UnsupportedOperationError, match="no tensor layout"):
                    tf.read()
                with pytest.raises(geyser.UnsupportedOperationError, match="is a texture"):
                    tf.buffer
    sender = sub = f = tsender = tsub = tf = None
    gc.collect()
    assert _fds() == base


def test_a_subscriber_that_leaves_and_the_producer_going_away(device):
    gc.collect()
    base = _fds()
    name = _name("gone")
    sender = geyser.Sender(device, name, tensor=("float32", (8,)))
    sub = geyser.Subscriber(device, name, timeout=5)
    sender.publish(np.arange(8, dtype=np.float32))
    held = sub.next_frame(timeout=5)
    sender.close()
    assert np.array_equal(held.read(), np.arange(8, dtype=np.float32))  # announced before the Goodbye
    held.release()
    with pytest.raises(geyser.PeerGoneError):
        sub.next_frame(timeout=5)
    sub.close()
    sender = sub = held = None
    gc.collect()
    assert _fds() == base


# ---- the GPU paths (torch, CuPy, JAX through DLPack) ------------------------------------------

def _gpu_or_skip(device, lib: str):
    if not geyser.cuda.available():
        pytest.skip(f"no CUDA driver: {geyser.cuda.status().reason}")
    mod = pytest.importorskip(lib, reason=f"{lib} is not installed (scripts/gpu/tensors.sh runs this on the GPU machine)")
    if lib == "jax":
        try:
            mod.devices("gpu")
        except RuntimeError as e:
            pytest.skip(f"this JAX has no GPU backend: {e}")
    try:
        gpu = geyser.cuda.CudaDevice(device)
    except geyser.GeyserError as e:
        pytest.skip(f"the Vulkan device has no CUDA counterpart: {e}")
    return gpu


@pytest.mark.parametrize("lib", ["torch", "cupy", "jax"])
def test_gpu_producer_writes_in_place_and_gpu_consumers_read_through_dlpack(device, lib):
    _gpu_or_skip(device, lib)
    torch = pytest.importorskip("torch", reason="the producer side of this test writes with torch")
    name = _name("gpu-" + lib)
    frames = 8
    try:
        sender = geyser.Sender(device, name, tensors=TENSORS, sync="vulkan")
    except geyser.UnsupportedOperationError as e:
        pytest.skip(f"the device cannot share Vulkan timelines, which the GPU paths need: {e}")
    with sender:
        peer = _peer("gpu-consume", name, str(frames), lib)
        assert json.loads(peer.stdout.readline())["mode"] == "lossless"
        sender.wait_for_subscribers(1, timeout=20)
        stream = torch.cuda.current_stream()
        for n in range(1, frames + 1):
            frame = sender.begin_frame(timeout=20)
            views = geyser.cuda.tensor_views(frame)
            for k, arr in expected(sender.layout, n).items():
                torch.from_dlpack(views[k]).copy_(torch.from_numpy(arr).cuda())  # written on the GPU, in place
            geyser.cuda.end_frame(sender, frame, stream)
        answer = _answer(peer, timeout=120)
    assert answer == {"numbers": list(range(1, frames + 1)), "bad": 0, "dropped": 0, "error": None}


def test_wait_frame_refuses_what_has_nothing_to_wait_for(device, fd_count):
    # No CUDA call is made on these paths: this runs on lavapipe too (where CUDA would raise).
    base = fd_count()
    with geyser.Sender(device, _name("wait-frame"), tensor=("float32", (4,))) as sender:
        frame = sender.begin_frame()
        with pytest.raises(geyser.InvalidArgumentError, match="producer's frame"):
            geyser.cuda.wait_frame(frame)
        sender.abandon_frame(frame)
        with geyser.Subscriber(device, sender.name, timeout=5) as sub:
            sender.publish(np.arange(4, dtype=np.float32))
            got = sub.next_frame(timeout=5)  # wait="host": ready already, nothing to enqueue
            assert geyser.cuda.wait_frame(got) is None
            got.release()
            with pytest.raises(geyser.InvalidHandleError):
                geyser.cuda.wait_frame(got)
    del frame, got, sub, sender
    gc.collect()
    assert fd_count() == base


def test_gpu_paths_refuse_portable_timelines(device):
    # No CUDA call is made before the refusal: this runs on lavapipe too.
    with geyser.Sender(device, _name("gpu-portable"), tensor=("float32", (4,)), sync="portable") as sender:
        frame = sender.begin_frame()
        with pytest.raises(geyser.UnsupportedOperationError, match="portable ready timeline"):
            geyser.cuda.end_frame(sender, frame)
        sender.abandon_frame(frame)
        with geyser.Subscriber(device, sender.name, timeout=5) as sub:
            with pytest.raises(geyser.UnsupportedOperationError, match="portable"):
                sub.next_frame(timeout=1, wait="gpu")


# ---- a producer that contradicts its own description ------------------------------------------

def _fake_tensor_producer(device, name: str, info: bytes, ring_handle):
    """Serves one subscription of `name` with SenderInfo `info` and one ring handle (a
    BufferHandle or TextureHandle, or None for none), then waits for the subscriber to hang up."""
    import threading

    from geyser import _native

    listener = _native.Listener.bind(_native.sender_socket_path(name))

    def serve():
        try:
            ch = listener.accept(20 * 10**9)
            ch.receive(10 * 10**9)
            ch.send(_native.MESSAGE_SENDER_INFO, info, [])
            if ring_handle is not None:
                ch.send(_native.MESSAGE_MEMORY_HANDLE, ring_handle.to_bytes(), [ring_handle.fd])
            ch.receive(20 * 10**9)  # until the subscriber hangs up
        except geyser.GeyserError:
            pass  # the subscriber hung up on what it was sent

    t = threading.Thread(target=serve)
    t.start()
    return t, listener


@pytest.mark.parametrize("case", ["buffer-too-small", "texture-in-a-buffer-ring", "texture-fields-set",
                                  "unknown-dtype", "duplicate-names"])
def test_a_sender_that_contradicts_its_layout_is_a_protocol_error(device, case):
    import _sender_wire as wire

    gc.collect()
    base = _fds()
    layout = geyser.TensorLayout({"obs": ("float32", (4, 4)), "reward": ("float32", (4,))})
    tensors = [("obs", 12, (4, 4)), ("reward", 12, (4,))]
    width = 0
    if case == "unknown-dtype":
        tensors = [("obs", 99, (4, 4))]
    if case == "duplicate-names":
        tensors = [("obs", 12, (4,)), ("obs", 12, (4,))]
    if case == "texture-fields-set":
        width = 4
    name = _name("fake-" + case)
    info = wire.sender_info(name, os.getpid(), 1, width, 0, 0, 0, 0, wire.PORTABLE, 0, 0,
                            bytes.fromhex(device.info.device_uuid), bytes.fromhex(device.info.driver_uuid),
                            payload=wire.BUFFER, tensors=tensors)
    if case == "texture-in-a-buffer-ring":
        resource = device.create_shareable_texture(geyser.TextureDescriptor(4, 4))
        handle = device.export_texture(resource)
    else:
        resource = device.create_shareable_buffer(layout.size - (4 if case == "buffer-too-small" else 0))
        handle = device.export_buffer(resource)
    thread, listener = _fake_tensor_producer(device, name, info, handle)
    want = {"buffer-too-small": "does not match the sender's description",
            "texture-in-a-buffer-ring": "does not match the sender's description",
            "texture-fields-set": "a buffer ring with texture fields",
            "unknown-dtype": "unknown dtype 99", "duplicate-names": "used twice"}[case]
    try:
        with pytest.raises(geyser.ProtocolError, match=want):
            geyser.Subscriber(device, name, timeout=5)
    finally:
        thread.join(30)
        handle.close()
    del listener, resource, handle
    gc.collect()
    assert _fds() == base


def test_a_tensor_stream_has_no_textures_for_gl(device):
    moderngl = pytest.importorskip("moderngl", reason="moderngl makes the GL context this test imports into")
    import geyser.gl

    try:
        mgl = moderngl.create_standalone_context(backend="egl")
    except Exception as e:  # moderngl raises plain Exception when EGL has no context to give
        pytest.skip(f"no EGL OpenGL context: {e}")
    try:
        mgl.__enter__()
        try:
            gl = geyser.gl.GlContext(device)
        except geyser.UnsupportedOperationError as e:
            pytest.skip(f"this GL context cannot import Geyser memory: {e}")
        name = _name("gl")
        with geyser.Sender(device, name, tensor=("float32", (4,))) as sender:
            with pytest.raises(geyser.UnsupportedOperationError, match="tensor stream: it has no textures for GL"):
                geyser.gl.GlSender(sender, gl)
            with geyser.Subscriber(device, name, timeout=5) as sub:
                with pytest.raises(geyser.UnsupportedOperationError, match="tensor stream: it has no textures"):
                    geyser.gl.GlSubscriber(sub, gl)
    finally:
        mgl.release()


def test_geyser_list_shows_a_tensor_stream(device):
    name = _name("list")
    with geyser.Sender(device, name, tensors=TENSORS):
        env = dict(os.environ)
        text = subprocess.run([sys.executable, "-m", "geyser", "list"], capture_output=True, text=True, timeout=60,
                              env=env)
        listed = subprocess.run([sys.executable, "-m", "geyser", "list", "--json"], capture_output=True, text=True,
                                timeout=60, env=env)
    assert text.returncode == 0 and listed.returncode == 0, text.stderr + listed.stderr
    row = next(line for line in text.stdout.splitlines() if line.startswith(name))
    assert f"{geyser.TensorLayout(TENSORS).size} B" in row and "4 tensors" in row
    mine = next(s for s in json.loads(listed.stdout) if s["name"] == name)
    assert mine["descriptor"] is None and list(mine["layout"]) == list(TENSORS)
    assert mine["layout"]["obs"] == {"dtype": "float32", "shape": [4, 12, 12], "offset": 0, "nbytes": 4 * 12 * 12 * 4}
