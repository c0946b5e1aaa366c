"""Every Python block of README.md, docs/guide.md and docs/fallback.md runs as written, each as a script of its
own in a fresh interpreter (so a block that spawns processes works as it would for a reader).
Blocks that use torch run where torch and a CUDA driver are present and are skipped, saying so,
elsewhere."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import geyser.cuda

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", "docs/guide.md", "docs/fallback.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def _blocks():
    for doc in DOCUMENTS:
        text = (ROOT / doc).read_text()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(m.group(1), id=f"{doc}:{line}")


BLOCKS = list(_blocks())


def test_the_documents_have_python_blocks():
    assert {p.id.split(":")[0] for p in BLOCKS} == set(DOCUMENTS)


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs_as_written(code, tmp_path, device):
    if re.search(r"^import torch|^from torch", code, re.M):
        if importlib.util.find_spec("torch") is None:
            pytest.skip("torch is not installed")
        if not geyser.cuda.available():
            pytest.skip(f"no CUDA driver: {geyser.cuda.status().reason}")
    script = tmp_path / "snippet.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
