"""``python -m geyser bench --quick`` end to end, in a subprocess: it runs, and its JSON is complete.

Nothing here asserts anything about speed: the numbers depend on the machine. The test checks
that every comparison ran with positive medians and ratios, on real processes and the real driver.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from geyser import bench_gl, bench_peer_copy
from geyser.bench import BINDING_OVERHEAD_LINE

SIZES = ["1920x1080", "3840x2160"]
# scripts/test.sh builds it before pytest runs; elsewhere the binding rows are skipped, and said so.
CPP_BENCH = Path(__file__).resolve().parent.parent / "build" / "cpp" / "geyser_bench_core"


def test_bench_quick_writes_every_comparison(device, tmp_path):
    out_json = tmp_path / "bench.json"
    out_png = tmp_path / "bench.png"
    work = tmp_path / "cwd"
    work.mkdir()
    with_plot = importlib.util.find_spec("matplotlib") is not None
    cmd = [sys.executable, "-m", "geyser", "bench", "--quick", "--device", device.info.device_uuid,
           "--json", str(out_json)] + (["--png", str(out_png)] if with_plot else [])
    with_cpp = CPP_BENCH.exists()
    if with_cpp:
        cmd += ["--cpp-bench", str(CPP_BENCH)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(work.iterdir()) == []  # files only where told
    assert (BINDING_OVERHEAD_LINE in proc.stdout) != with_cpp

    result = json.loads(out_json.read_text())
    assert result["device"] == device.name
    keys = [c["key"] for c in result["comparisons"]]
    expected = [f"{kind}-{s}" for s in SIZES for kind in ("handoff", "imports")]
    expected += ["fallback-1920x1080", "fallback-neighbour-1920x1080", "fallback-3840x2160"]
    gl = bench_gl.available() is None
    if gl:
        expected += [f"gl-handoff-{s}" for s in SIZES]
    else:
        assert any("OpenGL consumer" in s for s in result["skipped"])
    expected += ["wake", "one-time-3840x2160", "read-3840x2160", "calls"]
    if with_cpp:
        expected += ["binding-export-import", "binding-signal-wait"]
    expected += [f"{kind}-{mode}-1920x1080" for mode in ("lossless", "latest") for kind in ("fanout", "fanout-cost")]
    expected += ["latest-slow-consumer", "tensor-stream-1.8MB"]
    peer = bench_peer_copy.unavailable_reason(device) is None
    if peer:
        expected += [f"{kind}-{s}" for s in SIZES for kind in ("peer-copy", "peer-latency")]
    else:
        assert any(s.startswith("peer copy: ") for s in result["skipped"])
        assert result["peer_copy_bandwidth"] == []
    assert keys == expected

    cases = {c["key"]: [r["case"] for r in c["rows"]] for c in result["comparisons"]}
    for s in SIZES:
        assert cases[f"handoff-{s}"] == ["zero-copy", "copy"]
        assert cases[f"imports-{s}"] == ["cached", "per-frame"]
        assert cases[f"fallback-{s}"] == ["hand-copy", "fallback", "zero-copy"]
        if gl:
            assert cases[f"gl-handoff-{s}"] == ["gl-zero-copy", "gl-copy"]
    wake = ["eventfd", "portable"]
    if "opaque_fd" in device.info.timeline_semaphore_export:
        wake.append("vulkan")
    else:
        assert any("Vulkan timeline" in s for s in result["skipped"])
    assert cases["wake"] == wake
    assert cases["one-time-3840x2160"] == ["local", "import"]
    assert cases["read-3840x2160"] == ["local", "imported"]
    assert cases["calls"] == ["getppid", "value", "width"]
    if with_cpp:
        assert cases["binding-export-import"] == cases["binding-signal-wait"] == ["cpp", "python"]
    for mode in ("lossless", "latest"):
        assert cases[f"fanout-{mode}-1920x1080"] == cases[f"fanout-cost-{mode}-1920x1080"] == ["1", "4"]
    assert cases["latest-slow-consumer"] == ["none", "slow"]
    assert cases["tensor-stream-1.8MB"] == ["handoff", "publish"]
    assert cases["fallback-neighbour-1920x1080"] == ["alone", "with-copy", "producer-alone", "producer-with-copy"]
    if peer:
        for s in SIZES:
            assert cases[f"peer-copy-{s}"] == ["cuMemcpyPeer", "engine", "engine-texture", "host-staging"]
            assert cases[f"peer-latency-{s}"] == ["cuMemcpyPeer", "engine", "host-staging"]
        assert {r["size"] for r in result["peer_copy_bandwidth"]} == set(SIZES)

    for c in result["comparisons"]:
        for r in c["rows"]:
            assert r["n"] > 0 and r["repeats"] > 0, (c["key"], r)
            assert r["p50"] > 0 and r["p99"] >= r["p50"], (c["key"], r)
            assert r["ratio_p50"] > 0 and r["ratio_p99"] > 0, (c["key"], r)
        assert c["rows"][0]["ratio_p50"] == 1.0

    assert result["validation_messages"] == []
    if with_plot:
        assert result["plot"] == str(out_png) and out_png.stat().st_size > 0
    else:
        assert result["plot"] is None and not out_png.exists()


def test_bench_png_without_matplotlib_says_why_before_running(tmp_path):
    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed here, so the plot can be drawn")
    proc = subprocess.run([sys.executable, "-m", "geyser", "bench", "--quick", "--png", str(tmp_path / "p.png")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "needs matplotlib" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
