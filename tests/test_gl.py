"""OpenGL interop (geyser.gl) with real drivers: lavapipe + llvmpipe through EGL on CI, NVIDIA's
EGL on the GPU machine. Every format round-trips (glGetTexImage reads the bytes Vulkan uploaded),
GL draws and Vulkan downloads, buffers go both ways, frames cross processes in both directions,
and bad input gets its specific error with no fd and no GL object leaked."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import geyser
from geyser import TextureDescriptor, TextureFormat, TextureUsage, format_info

moderngl = pytest.importorskip("moderngl", reason="moderngl (PyPI) makes the tests' GL contexts")
import geyser.gl  # noqa: E402
from geyser.demo import pattern  # noqa: E402
from geyser.gl_pattern import PatternRenderer  # noqa: E402

from test_textures import aspects_of, make_texture, require_shareable  # noqa: E402

HERE = os.path.dirname(__file__)
PEER = os.path.join(HERE, "_gl_peer.py")
RENDER = TextureUsage.COPY_SRC | TextureUsage.COPY_DST | TextureUsage.TEXTURE_BINDING | TextureUsage.RENDER_ATTACHMENT
NO_GL_EQUIVALENT = {TextureFormat.BGRA8_UNORM, TextureFormat.BGRA8_SRGB}


@pytest.fixture(scope="module")
def mgl():
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as e:  # moderngl raises plain Exception when EGL has no context to give
        pytest.skip(f"no EGL OpenGL context: {e}")
    yield ctx
    ctx.release()


@pytest.fixture
def gl(device, mgl):
    mgl.__enter__()  # current on this thread
    try:
        return geyser.gl.GlContext(device)
    except geyser.UnsupportedOperationError as e:
        pytest.skip(f"this GL context cannot import Geyser memory: {e}")


@pytest.fixture
def _gl():
    import _gl as helpers
    return helpers


def test_context_is_the_vulkan_device(device, gl):
    info = gl.info
    assert info.memory_object_fd
    assert info.driver_uuid.hex() == device.info.driver_uuid
    assert device.info.device_uuid in [u.hex() for u in info.device_uuids]
    assert gl.sync_path == (geyser.gl.SyncPath.GL_SEMAPHORE if info.semaphore_fd else geyser.gl.SyncPath.HOST)
    assert gl.is_current


@pytest.mark.parametrize("fmt", list(TextureFormat), ids=lambda f: f.name)
def test_every_format_round_trips(device, gl, _gl, fd_count, fmt):
    """Vulkan uploads; glGetTexImage of the imported texture reads the same bytes."""
    require_shareable(device, fmt)
    before = fd_count()
    tex, data = make_texture(device, fmt, 17, 9)
    if fmt in NO_GL_EQUIVALENT:
        with pytest.raises(geyser.UnsupportedFormatError, match=fmt.name):
            gl.import_texture(tex)
        tex.close()
        assert fd_count() == before
        return
    g = gl.import_texture(tex)
    assert g.internal_format == format_info(fmt).gl_internal_formats[format_info(fmt).vk_formats.index(tex.vk_format)]
    got = _gl.get_tex_image(g)
    aspects = aspects_of(fmt)
    if len(aspects) == 2:  # depth + stencil, read together as GL packs them
        depth, stencil = data[aspects[0]].ravel(), data[aspects[1]].ravel()
        if g.internal_format == 0x88F0:  # DEPTH24_STENCIL8 as UNSIGNED_INT_24_8: depth << 8 | stencil
            words = got.view(np.uint32)
            assert np.array_equal(words >> 8, depth & 0xFFFFFF)
            assert np.array_equal((words & 0xFF).astype(np.uint8), stencil)
        else:  # DEPTH32F_STENCIL8 as FLOAT_32_UNSIGNED_INT_24_8_REV: float, then stencil in the low byte
            pairs = got.view(np.uint32).reshape(-1, 2)
            assert np.array_equal(pairs[:, 0], depth.view(np.uint32))
            assert np.array_equal((pairs[:, 1] & 0xFF).astype(np.uint8), stencil)
    elif g.internal_format == 0x81A6:  # DEPTH_COMPONENT24 reads back normalised to 32 bits
        top = got.view(np.uint32) >> 8
        assert np.max(np.abs(top.astype(np.int64) - (data[aspects[0]].ravel() & 0xFFFFFF))) <= 1
    else:
        assert np.array_equal(got, np.ascontiguousarray(data[aspects[0]]).view(np.uint8).ravel())
    g.close()
    tex.close()
    assert fd_count() == before


RENDERABLE = [f for f in TextureFormat if not format_info(f).is_depth and not format_info(f).packed
              and f not in NO_GL_EQUIVALENT]


@pytest.mark.parametrize("fmt", RENDERABLE, ids=lambda f: f.name)
def test_gl_draws_vulkan_downloads(device, gl, mgl, fmt):
    require_shareable(device, fmt, RENDER)
    tex = device.create_shareable_texture(TextureDescriptor(40, 24, fmt, RENDER))
    g = gl.import_texture(tex)
    renderer = PatternRenderer(mgl, fmt, 40, 24)
    renderer.draw(g, 7)
    gl.finish()
    assert np.array_equal(tex.download(), pattern(fmt, 40, 24, 7))
    renderer.release()
    g.close()


# Mesa's llvmpipe (22.3) wants 16 bytes of the allocation after a GL buffer's end (docs/gl.md).
SLACK = 64


def test_buffers_both_ways(device, gl, mgl, _gl, fd_count):
    before = fd_count()
    buf = device.create_shareable_buffer((1 << 16) + SLACK)
    data = np.random.default_rng(1).integers(0, 256, 1 << 16, dtype=np.uint8)
    buf.write(data)
    g = gl.import_buffer(buf, size=1 << 16)
    assert g.size == 1 << 16
    assert np.array_equal(_gl.buffer_read(g, 1 << 16), data)
    back = data[::-1].copy()
    _gl.buffer_write(g, back)
    gl.finish()
    assert np.array_equal(np.frombuffer(buf.read(), np.uint8)[: 1 << 16], back)
    # moderngl wraps the name (for vertex and storage use; it cannot map immutable imported storage).
    assert g.to_moderngl(mgl).glo == g.name
    g.close()
    buf.close()
    assert fd_count() == before


def test_moderngl_wraps_the_texture(device, gl, mgl):
    tex = device.create_shareable_texture(TextureDescriptor(8, 4))
    data = pattern(TextureFormat.RGBA8_UNORM, 8, 4, 3)
    tex.upload(data)
    g = geyser.gl.import_texture(tex)
    assert mgl.external_texture(g.name, g.size, 4, 0, "f1").read() == data.tobytes()
    assert g.to_moderngl(mgl).read() == data.tobytes()
    g.close()


def test_sender_frames_written_in_gl(device, gl, mgl):
    name = f"gl-sender-{os.getpid()}"
    with geyser.Sender(device, name, TextureDescriptor(32, 16, usage=RENDER)) as sender, \
            geyser.Subscriber(device, name) as sub:
        renderer = PatternRenderer(mgl, TextureFormat.RGBA8_UNORM, 32, 16)
        for _ in range(5):
            with geyser.gl.write_frame(sender) as frame:
                renderer.draw(frame.texture, frame.number)
            with sub.next_frame() as got:
                assert np.array_equal(got.texture.download(), pattern(TextureFormat.RGBA8_UNORM, 32, 16, got.number))
        assert len(sender._gl_ring.ring) == 3  # imported once, reused
        geyser.gl.release_ring(sender)
        assert "_gl_ring" not in sender.__dict__
        renderer.release()


def test_subscriber_frames_read_in_gl(device, gl, _gl):
    name = f"gl-subscriber-{os.getpid()}"
    with geyser.Sender(device, name, TextureDescriptor(32, 16)) as sender, geyser.Subscriber(device, name) as sub:
        for n in range(1, 6):
            sender.publish(pattern(TextureFormat.RGBA8_UNORM, 32, 16, n))
            with geyser.gl.read_frame(sub) as frame:
                assert frame.number == n
                # Published from the host, so sent complete (protocol 4's ready flag): GL has nothing
                # to wait for, on either sync path. GPU-signalled frames are
                # test_gl_consumer_waits_on_the_gpu_for_a_vulkan_producer_process's.
                assert sub.__dict__["_gl_ring"].sync_path in (geyser.gl.SyncPath.GL_SEMAPHORE, geyser.gl.SyncPath.HOST)
                assert frame.ready_wait == "host"
                assert np.array_equal(_gl.get_tex_image(frame.texture),
                                      pattern(TextureFormat.RGBA8_UNORM, 32, 16, n).view(np.uint8).ravel())
        geyser.gl.release_ring(sub)


@contextlib.contextmanager
def _peer(*args, stdin=subprocess.PIPE):
    """The peer process (tests/_gl_peer.py); killed if still running when the block ends."""
    p = subprocess.Popen([sys.executable, PEER, *map(str, args)], stdin=stdin, stdout=subprocess.PIPE, text=True)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        for stream in (p.stdin, p.stdout):
            if stream is not None:
                stream.close()


def _done(p):
    p.stdin.write("done\n")
    p.stdin.flush()
    return p.wait(timeout=30)


def test_gl_producer_process_feeds_vulkan_consumer(device):
    name = f"gl-producer-{os.getpid()}"
    with _peer("produce", name, 8, 48, 32, "RGBA8_UNORM") as p:
        ready = json.loads(p.stdout.readline())
        assert ready["event"] == "ready", ready
        with geyser.Subscriber(device, name, timeout=10) as sub:
            for n in range(1, 9):
                with sub.next_frame(timeout=30) as frame:
                    assert frame.number == n
                    assert np.array_equal(frame.texture.download(), pattern(TextureFormat.RGBA8_UNORM, 48, 32, n))
        assert _done(p) == 0


def test_vulkan_producer_feeds_gl_consumer_process(device):
    name = f"gl-consumer-{os.getpid()}"
    with geyser.Sender(device, name, TextureDescriptor(48, 32)) as sender:
        with _peer("consume", name, 8, stdin=None) as p:
            subscribed = json.loads(p.stdout.readline())
            assert subscribed["event"] == "subscribed", subscribed
            for n in range(1, 9):
                sender.publish(pattern(TextureFormat.RGBA8_UNORM, 48, 32, n), timeout=30)
            frames = [json.loads(line) for line in p.stdout]
            assert p.wait(timeout=30) == 0, frames
            assert [f["frame"] for f in frames] == list(range(1, 9)) and all(f["ok"] for f in frames)


# -- semaphores ----------------------------------------------------------------------------------

def test_semaphores_need_gl_ext_semaphore(device, gl):
    if gl.info.semaphore_fd:
        pytest.skip("this context has GL_EXT_semaphore_fd; the GPU tests below cover it")
    timeline = device.create_shared_timeline()
    with pytest.raises(geyser.UnsupportedOperationError, match="GL_EXT_semaphore_fd|portable timeline"):
        gl.import_timeline(timeline)


@pytest.mark.gpu
def test_gl_timeline_orders_gl_and_vulkan(device, gl, mgl):
    """GL waits for a Vulkan timeline value and signals the next one, with no host wait between."""
    if not gl.info.timeline_semaphore:
        pytest.skip(f"{gl.info.renderer} has no GL_EXT_semaphore_fd + GL_NV_timeline_semaphore")
    timeline = device.create_shared_timeline(kind="vulkan")
    tex = device.create_shareable_texture(TextureDescriptor(32, 16, usage=RENDER))
    g = gl.import_texture(tex)
    sem = gl.import_timeline(timeline)
    assert sem.timeline
    renderer = PatternRenderer(mgl, TextureFormat.RGBA8_UNORM, 32, 16)
    tex.upload(pattern(TextureFormat.RGBA8_UNORM, 32, 16, 1), signal=[(timeline, 1)])
    sem.wait(1, [g])
    renderer.draw(g, 2)
    sem.signal(2, [g])
    assert np.array_equal(tex.download(wait=[(timeline, 2)]), pattern(TextureFormat.RGBA8_UNORM, 32, 16, 2))
    renderer.release()
    sem.close()
    g.close()


@pytest.mark.gpu
def test_gl_semaphore_path_across_processes(device):
    """On a context with GL timelines, the GL producer signals the ready timeline on the GPU."""
    name = f"gl-gpu-producer-{os.getpid()}"
    with _peer("produce", name, 4, 32, 16, "RGBA8_UNORM") as p:
        ready = json.loads(p.stdout.readline())
        if ready.get("sync") != "GL_SEMAPHORE":
            pytest.skip(f"the peer's context orders frames from the host ({ready})")
        with geyser.Subscriber(device, name, timeout=10) as sub:
            for n in range(1, 5):
                with sub.next_frame(timeout=30) as frame:
                    assert np.array_equal(frame.texture.download(), pattern(TextureFormat.RGBA8_UNORM, 32, 16, n))
        assert _done(p) == 0


@pytest.mark.gpu
def test_gl_consumer_waits_on_the_gpu_for_a_vulkan_producer_process(device, gl, mgl, _gl):
    """GL timelines: GL's reads of each frame wait for the producer's ready signal with
    glWaitSemaphoreEXT, not on the host. The producer (another process) writes each frame on its GPU,
    which signals the ready timeline; the producer forwards the signal to this subscriber's own
    timeline (docs/reliability.md), and GL waits on that one. GL copies each frame into a texture of its own
    (the readback target), read back after the frame was released."""
    if gl.sync_path != geyser.gl.SyncPath.GL_SEMAPHORE:
        pytest.skip(f"{gl.info.renderer} orders frames from the host ({gl.sync_path.name})")
    name = f"gl-gpu-wait-{os.getpid()}"
    frames, w, h = 6, 48, 32
    with _peer("vkproduce", name, frames, w, h) as p:
        ready = json.loads(p.stdout.readline())
        if ready.get("sync") != "vulkan":
            pytest.skip(f"the producer's ready timeline is {ready.get('sync')}: no GPU wait")
        target = mgl.texture((w, h), 4)
        with geyser.Subscriber(device, name, timeout=10) as sub:
            gl_sub = geyser.gl.GlSubscriber(sub, gl)
            assert gl_sub.sync_path == geyser.gl.SyncPath.GL_SEMAPHORE
            for n in range(1, frames + 1):
                with gl_sub.frame(timeout=30) as frame:
                    assert (frame.number, frame.ready_wait) == (n, "gpu")
                    _gl.copy_texture(frame.texture, target)
                got = np.frombuffer(target.read(), np.uint8)
                assert np.array_equal(got, pattern(TextureFormat.RGBA8_UNORM, w, h, n).view(np.uint8).ravel()), n
            gl_sub.close()
        target.release()
        assert _done(p) == 0


# -- bad input -----------------------------------------------------------------------------------

def test_no_current_context(device):
    """A thread with no current context (GL contexts are per thread)."""
    caught = []

    def run():
        try:
            geyser.gl.GlContext(device)
        except BaseException as e:  # noqa: BLE001 - handed back to the test thread
            caught.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert len(caught) == 1 and isinstance(caught[0], geyser.UnsupportedOperationError), caught
    assert "no OpenGL context is current" in str(caught[0])


def test_context_without_the_extension(device, gl):
    """Mesa hides GL_EXT_memory_object_fd on request: such a context is refused, saying so."""
    code = ("import moderngl, geyser, geyser.gl\n"
            "ctx = moderngl.create_standalone_context(backend='egl')\n"
            "try:\n    geyser.gl.GlContext(geyser.Device())\n"
            "except geyser.UnsupportedOperationError as e:\n    print('refused:', e)\n")
    env = dict(os.environ, MESA_EXTENSION_OVERRIDE="-GL_EXT_memory_object_fd")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    if "Mesa" not in gl.info.version and "llvmpipe" not in gl.info.renderer:
        pytest.skip("only Mesa drivers hide extensions on request")
    assert "refused:" in out.stdout and "GL_EXT_memory_object_fd" in out.stdout, out.stdout + out.stderr


def _flip_uuid(handle, uuid_hex: str):
    """The same handle with one byte of a UUID changed, through the wire encoding (own fd)."""
    payload = handle.to_bytes()
    at = payload.find(bytes.fromhex(uuid_hex))
    assert at >= 0
    changed = payload[:at] + bytes([payload[at] ^ 0xFF]) + payload[at + 1:]
    return type(handle).from_bytes(changed, os.dup(handle.fd))


@pytest.mark.parametrize("which", ["device_uuid", "driver_uuid"])
def test_handle_of_another_device(device, gl, fd_count, which):
    tex = device.create_shareable_texture(TextureDescriptor(8, 8))
    with device.export_texture(tex) as h:
        before = fd_count()
        with _flip_uuid(h, getattr(h, which)) as other:
            with pytest.raises(geyser.DeviceMismatchError):
                gl.import_texture(other)
        assert fd_count() == before


def test_closed_handle(device, gl, fd_count):
    tex = device.create_shareable_texture(TextureDescriptor(8, 8))
    buf = device.create_shareable_buffer(256)
    h = device.export_texture(tex)
    h.close()
    before = fd_count()
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        gl.import_texture(h)
    hb = device.export_buffer(buf)
    with device.export_texture(tex) as texture_handle, \
            pytest.raises(geyser.InvalidHandleError, match="texture handle cannot be imported as a GL buffer"):
        geyser._native.gl.GlBuffer.import_handle(gl.native, texture_handle.native)
    with pytest.raises(geyser.InvalidArgumentError, match="does not fit"):
        gl.import_buffer(hb, size=257)
    hb.close()
    with pytest.raises(geyser.InvalidHandleError, match="closed"):
        gl.import_buffer(hb)
    assert fd_count() == before
    with pytest.raises(geyser.errors.InvalidArgumentTypeError):
        gl.import_texture("not a texture")


def test_closing_in_the_wrong_context(device, _gl, fd_count):
    before = fd_count()
    first = geyser.gl.HeadlessContext(device)
    gl_first = geyser.gl.GlContext(device)
    tex = device.create_shareable_texture(TextureDescriptor(8, 8))
    g = gl_first.import_texture(tex)
    name = g.name
    second = geyser.gl.HeadlessContext(device)  # current now
    with pytest.raises(geyser.UnsupportedOperationError, match="make its own context current"):
        g.close()
    assert not g.closed
    first.make_current()
    assert _gl.is_texture(name)
    g.close()
    assert g.closed and not _gl.is_texture(name)
    second.close()
    first.close()
    tex.close()
    assert fd_count() == before


def test_no_gl_objects_or_fds_leak(device, gl, _gl, fd_count):
    tex = device.create_shareable_texture(TextureDescriptor(16, 16))
    buf = device.create_shareable_buffer(1024 + SLACK)
    before = fd_count()
    names = []
    for _ in range(20):
        g, b = gl.import_texture(tex), gl.import_buffer(buf, size=1024)
        names.append((g.name, g.native.memory_object, b.name, b.native.memory_object))
        g.close()
        b.close()
    assert fd_count() == before
    for t, tm, bn, bm in names:
        assert not _gl.is_texture(t) and not _gl.is_buffer(bn)
        assert not _gl.is_memory_object(tm) and not _gl.is_memory_object(bm)


def test_gl_errors_name_the_call(device, gl, _gl, fd_count):
    """A GL error becomes a GLError naming the call; nothing is left behind. llvmpipe refuses a GL
    buffer that ends exactly at its allocation's end (GL_OUT_OF_MEMORY); other drivers take it."""
    buf = device.create_shareable_buffer(4096)
    before = fd_count()
    try:
        g = gl.import_buffer(buf)
    except geyser.GLError as e:
        assert e.call == "glBufferStorageMemEXT" and e.error_name == "GL_OUT_OF_MEMORY" and e.error == 0x0505
        assert "glBufferStorageMemEXT raised GL_OUT_OF_MEMORY" in str(e)
        assert isinstance(e, geyser.GeyserError)
    else:
        assert g.size == 4096
        g.close()
    assert fd_count() == before
    assert _gl.get_error() == 0  # the error queue was drained


def test_headless_context(device):
    with geyser.gl.HeadlessContext(device) as h:
        assert h.platform in ("device", "surfaceless")
        assert geyser.gl.GlContext(device).is_current
