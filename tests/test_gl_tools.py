"""The OpenGL tools and examples, run as a person runs them: ``geyser view`` in a real window
under Xvfb (its screenshot compared to the frame sent), ``geyser demo --producer gl``, the GL
benchmark in quick form, the examples (moderngl producer, GL viewer, MuJoCo -> torch) and the
README's moderngl example. Each is small, so the whole file takes seconds on CI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib

import numpy as np
import pytest

import geyser
from geyser import TextureDescriptor, TextureFormat
from geyser.demo import pattern

pytest.importorskip("moderngl", reason="moderngl (PyPI) makes the GL contexts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _egl_or_skip():
    import moderngl
    try:
        moderngl.create_standalone_context(backend="egl").release()
    except Exception as e:  # moderngl raises plain Exception without EGL
        pytest.skip(f"no EGL OpenGL context: {e}")


@pytest.fixture(scope="module")
def display():
    """A private X server (Xvfb) for the windowed tools."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian: xvfb)")
    pytest.importorskip("glfw", reason="glfw (PyPI) opens the windows")
    r, w = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                              pass_fds=[w], stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        server.kill()
        server.wait()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def read_png(path: str) -> np.ndarray:
    """The RGBA8 PNG demo.write_png writes (filter 0 rows), as an array."""
    with open(path, "rb") as f:
        data = f.read()
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    idat, at = b"", 8
    while at < len(data):
        n = int.from_bytes(data[at:at + 4], "big")
        if data[at + 4:at + 8] == b"IDAT":
            idat += data[at + 8:at + 8 + n]
        at += 12 + n
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 4)
    return rows[:, 1:].reshape(h, w, 4)


def _run(args, env=None, timeout=120):
    return subprocess.run(args, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def _view(device, display, tmp_path, fmt, w=64, h=48, frames=3):
    """Runs ``geyser view`` on a sender of ``fmt``; returns its output and its last image."""
    import time
    name = f"gl-view-{os.getpid()}-{fmt.name}"
    shot = tmp_path / f"{fmt.name}.png"
    with geyser.Sender(device, name, TextureDescriptor(w, h, fmt)) as sender:
        viewer = subprocess.Popen([sys.executable, "-m", "geyser", "view", name, "--frames", str(frames),
                                   "--screenshot", str(shot), "--timeout", "30"],
                                  env={**os.environ, "DISPLAY": display}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while sender.subscribers == 0 and viewer.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            for n in range(1, frames + 1):
                sender.publish(pattern(fmt, w, h, n), timeout=30)
            out, err = viewer.communicate(timeout=60)
        finally:
            if viewer.poll() is None:
                viewer.kill()
                viewer.communicate()
    assert viewer.returncode == 0, out + err
    assert f"showed {frames} frames" in out
    return out, read_png(str(shot))


def test_view_window_shows_the_frame_sent(device, display, tmp_path):
    """``geyser view`` under Xvfb: its window's last image is the frame the sender sent."""
    _, image = _view(device, display, tmp_path, TextureFormat.RGBA8_UNORM)
    expected = pattern(TextureFormat.RGBA8_UNORM, 64, 48, 3)
    assert image.shape == expected.shape
    assert np.array_equal(image[..., :3], expected[..., :3])  # the window has no alpha to show


def test_view_shows_bgra8_through_a_copy(device, display, tmp_path):
    """BGRA8 has no GL format: view downloads and uploads it, and the picture is still right."""
    if not device.format_support(TextureFormat.BGRA8_UNORM).shareable:
        pytest.skip("BGRA8_UNORM is not shareable here")
    _, image = _view(device, display, tmp_path, TextureFormat.BGRA8_UNORM)
    bgra = pattern(TextureFormat.BGRA8_UNORM, 64, 48, 3)
    assert np.array_equal(image[..., :3], bgra[..., [2, 1, 0]])


@pytest.mark.parametrize("fmt", [TextureFormat.R8_UNORM, TextureFormat.RG16_FLOAT, TextureFormat.RGBA32_FLOAT,
                                 TextureFormat.R16_UINT, TextureFormat.R32_SINT, TextureFormat.RGB10A2_UNORM,
                                 TextureFormat.RG11B10_FLOAT], ids=lambda f: f.name)
def test_view_draws_other_colour_formats(device, display, tmp_path, fmt):
    """Every colour format is drawn zero-copy (floats clamped by the window, integers by their low
    8 bits)."""
    if not device.format_support(fmt).shareable:
        pytest.skip(f"{fmt.name} is not shareable here")
    _, image = _view(device, display, tmp_path, fmt, frames=2)
    assert image.shape == (48, 64, 4)
    assert image[..., :3].std() > 0  # the moving pattern, not a blank window


def test_demo_with_a_gl_producer(tmp_path):
    _egl_or_skip()
    r = _run([sys.executable, "-m", "geyser", "demo", "--producer", "gl", "--frames", "20", "--width", "96",
              "--height", "64", "--png", str(tmp_path / "demo.png"), "--timeout", "30"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"20/20 frames (verified|ok)|all 20 frames", r.stdout) or "20 frames" in r.stdout, r.stdout
    assert "mismatch" not in r.stdout.lower()


def test_gl_benchmark_runs(device):
    _egl_or_skip()
    from geyser import bench, bench_gl
    skipped = []
    groups = bench_gl.comparisons(device, [(64, 48)], 1, 5, lambda w, h: 3, lambda msg: None, skipped,
                                  zero_copy=bench.zero_copy, copy_path=bench.copy_path, comparison=bench._Comparison)
    assert not skipped and len(groups) == 1
    result = groups[0].result()
    rows = {r["case"]: r for r in result["rows"]}
    assert set(rows) == {"gl-zero-copy", "gl-copy"}
    assert rows["gl-zero-copy"]["n"] == 5 and rows["gl-copy"]["n"] == 3
    assert rows["gl-copy"]["ratio_p50"] > 0


def test_example_gl_producer_and_viewer(display):
    _egl_or_skip()
    name = f"gl-example-{os.getpid()}"
    producer = subprocess.Popen([sys.executable, "examples/gl_producer.py", "--name", name, "--frames", "8",
                                 "--width", "64", "--height", "48"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "publishing" in producer.stdout.readline()
        viewer = _run([sys.executable, "examples/gl_viewer.py", name, "--frames", "8"], env={"DISPLAY": display})
        assert viewer.returncode == 0, viewer.stdout + viewer.stderr
        assert "showed 8 frames" in viewer.stdout
        assert producer.wait(timeout=60) == 0
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
        producer.stdout.close()


def test_example_mujoco_to_torch():
    pytest.importorskip("mujoco", reason="MuJoCo (PyPI) renders the scene")
    pytest.importorskip("torch", reason="torch (PyPI) is the consumer")
    _egl_or_skip()
    r = _run([sys.executable, "examples/mujoco_torch.py", "--frames", "5", "--width", "64", "--height", "48"],
             env={"MUJOCO_GL": "egl"}, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    frames = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [f["frame"] for f in frames] == [1, 2, 3, 4, 5] and all(f["rendered"] for f in frames), r.stdout


def test_readme_moderngl_example():
    """The README's moderngl example runs as written."""
    _egl_or_skip()
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    block = re.search(r"<!-- gl-example -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README.md has no moderngl example marked <!-- gl-example -->"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 12
    r = _run([sys.executable, "-c", code], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
