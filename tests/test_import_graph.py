"""No import circles among avprep's, models' and pipelines' modules (issue 20).

A circle hidden behind a function-level or ``TYPE_CHECKING`` import still ties two modules
into one unit (neither can be read, tested or moved alone) and turns into an ImportError as
soon as someone hoists the import, so the static check counts every ``import`` statement
wherever it stands. The fresh-interpreter imports check the pairs that once formed circles
load alone, in either order.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("avprep", "models", "pipelines")


def module_files(packages=PACKAGES) -> dict[str, Path]:
    mods = {}
    for pkg in packages:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules its import statements name (``from pkg import mod``
    names ``pkg.mod`` when that is a module, else ``pkg``)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        edges: set[str | None] = set()
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(resolve(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package
                    for _ in range(node.level - 1):
                        up = up.rpartition(".")[0]
                    base = f"{up}.{base}" if base else up
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    edges.add(sub if sub in mods else resolve(base))
        graph[mod] = {e for e in edges if e is not None and e != mod}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_finder_sees_a_circle_behind_lazy_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (pkg / "c.py").write_text("from . import a\n")
    mods = {"pkg": pkg / "__init__.py", **{f"pkg.{n}": pkg / f"{n}.py" for n in "abc"}}
    graph = import_graph(mods)
    assert graph["pkg.c"] == {"pkg.a"}
    assert circles(graph) == [["pkg.a", "pkg.b"]]


def test_no_import_circles():
    found = circles(import_graph(module_files()))
    assert found == [], f"import circles: {found}"


ONCE_CIRCULAR = [
    ("avprep.phonetics.aligner", "avprep.phonetics.pocketsphinx_aligner"),
    ("avprep.phonetics.aligner", "avprep.phonetics.mfa_aligner"),
    ("avprep.phonetics.aligner", "avprep.phonetics.aligner_backends"),
    ("avprep.selection", "avprep.selection_plot"),
    ("avprep.datasets.base", "avprep.datasets"),
]


@pytest.mark.parametrize("first,second", [*ONCE_CIRCULAR, *((b, a) for a, b in ONCE_CIRCULAR)])
def test_each_module_imports_alone_in_a_fresh_interpreter(first, second):
    code = f"import {first}\nimport {second}\n"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
