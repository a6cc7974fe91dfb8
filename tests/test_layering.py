"""The import graph of ``src/metalab``: no cycle, and no import from a lower layer to a
higher one (docs/architecture.md, "Layers").

Every ``import`` and ``from ... import`` of every module is read with ``ast``, including those
inside functions (a late import that dodges a cycle is still a cycle). ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[set[str]] = [
    {"version", "errors", "atomic", "registry", "stats"},
    {"tasks", "models"},
    {"learners"},
    {"estimators"},
    {"training", "evaluation", "analysis", "effort", "vsml"},
    {"runs"},
    {"experiments"},
    {"bench", "sweep", "cli", "load", "__init__"},
]
"""top-level packages and modules of ``metalab``, lowest first; a module may import from its
own layer and the layers below it"""


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module under ``src/metalab``."""
    out = {}
    for path in sorted((SRC / "metalab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The ``metalab`` modules ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    """Index in ``LAYERS`` of the top-level part of ``module`` (``metalab`` itself is 0)."""
    top = module.split(".")[1] if "." in module else "__init__"
    found = [i for i, layer in enumerate(LAYERS) if top in layer]
    assert found, f"metalab.{top} is in no layer: add it to LAYERS here and in the docs"
    return found[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    """No set of modules imports itself round, at module or function level."""
    assert _cycles(GRAPH) == []


def test_no_upward_import():
    """Every import goes to the module's own layer or a lower one."""
    upward = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
                    if _layer(b) > _layer(a))
    assert upward == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, []),
])
def test_cycle_finder(graph, expected):
    """The cycle finder on graphs whose cycles are known."""
    assert _cycles(graph) == expected


def test_function_level_imports_are_read():
    """An import inside a function is an edge (the CLI imports the run machinery late)."""
    assert "metalab.runs.seeds" in GRAPH["metalab.cli"]
