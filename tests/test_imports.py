"""The package's modules import one another as a DAG (issue 13): no cycle, no import of a sibling
module tucked inside a function to dodge one, and each module imports alone, with only what it
names, in a fresh interpreter."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import geyser

PACKAGE = pathlib.Path(geyser.__file__).resolve().parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def _targets(node: ast.AST, module: str) -> list[str]:
    """The package modules an import statement reads ("__init__" for the package's own names)."""
    if isinstance(node, ast.Import):
        return ["__init__" for a in node.names if a.name == "geyser"] + \
               [a.name.split(".")[1] for a in node.names if a.name.startswith("geyser.")]
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            if node.module == "geyser":
                return [a.name if (PACKAGE / f"{a.name}.py").exists() else "__init__" for a in node.names]
            return [node.module.split(".")[1]] if node.module and node.module.startswith("geyser.") else []
        if node.module:
            return [node.module.split(".")[0]]
        # "from . import x": a module of the package, the extension, or a name __init__ defines.
        return [a.name if (PACKAGE / f"{a.name}.py").exists() else
                ("_native" if a.name == "_native" else "__init__") for a in node.names]
    return []


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the package modules it imports at module level; and every import of a package
    module made anywhere else (inside a function or class), as "module:line"."""
    edges: dict[str, set[str]] = {}
    nested: list[str] = []
    for name in MODULES:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        top = set(tree.body)
        edges[name] = set()
        for node in ast.walk(tree):
            targets = [t for t in _targets(node, name) if t != "_native"]
            if not targets:
                continue
            if node in top:
                edges[name].update(targets)
            else:
                nested.append(f"{name}.py:{node.lineno} imports {', '.join(targets)}")
    return edges, nested


def test_no_import_of_the_package_inside_a_function():
    _, nested = _graph()
    assert nested == [], "imports of geyser modules belong at module level:\n" + "\n".join(nested)


def test_module_imports_form_a_dag():
    edges, _ = _graph()
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(path + [m])
        state[m] = "open"
        for dep in sorted(edges.get(m, ())):
            visit(dep, path + [m])
        state[m] = "done"
        order.append(m)

    for m in MODULES:
        visit(m, [])
    # The core of the package never reaches back to the package's own __init__.
    library = {"errors", "_owner", "formats", "sync", "timeline", "memory", "device", "pickling", "channel",
               "sender", "cuda"}
    assert not any("__init__" in edges[m] for m in library), {m: edges[m] for m in library}


@pytest.mark.parametrize("name", [m for m in MODULES if m not in ("__init__", "__main__")])
def test_each_module_imports_alone(name):
    # The package object without running its __init__, so that only what `name` imports loads,
    # in the order it asks for it: a cycle among those shows as an ImportError.
    code = (
        "import importlib, sys, types\n"
        f"pkg = types.ModuleType('geyser'); pkg.__path__ = [{str(PACKAGE)!r}]; sys.modules['geyser'] = pkg\n"
        f"importlib.import_module('geyser.{name}')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
