"""The package is layered: no import cycles, no library module imports a step, no step imports another step.

Read from the source with :mod:`ast` (nothing is imported): every ``import`` and ``from ... import`` anywhere in a
module, function bodies included, that names a module of ``diffrepro`` is an edge (``from a import b`` names the
module ``a.b`` when there is one, else ``a``), as :mod:`diffrepro.codedeps` reads them. Steps (``diffrepro.steps``)
are the top layer: they parse arguments, call the library and write outputs. Only the command line starts them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "diffrepro"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE
STEPS = f"{PACKAGE}.steps"
#: the modules that may import steps: the command line that runs them
STEP_IMPORTERS = frozenset({f"{PACKAGE}.cli", f"{PACKAGE}.__main__"})


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__.py``)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports() -> dict[str, set[str]]:
    """module -> the modules of the package it imports (relative imports made absolute; one that climbs above
    the package is kept as written, ``..x``, and names no module)."""
    mods = modules()
    found: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = (name if path.name == "__init__.py" else name.rsplit(".", 1)[0]).split(".")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
            elif isinstance(node, ast.ImportFrom):
                if node.level > len(package):
                    targets.add("." * node.level + (node.module or ""))
                    continue
                if node.level:
                    base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == PACKAGE:
                    base = node.module
                else:
                    continue
                for alias in node.names:  # ``from a import b``: the module a.b, or a name of the module a
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base)
        found[name] = targets
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of the package it imports (itself left out)."""
    return {m: {t for t in targets if t != m} for m, targets in imports().items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def is_step_package(name: str) -> bool:
    return name == STEPS or name.startswith(STEPS + ".")


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert f"{PACKAGE}.models.layers" in graph[f"{PACKAGE}.models.unet"]
    assert f"{PACKAGE}.models.mbconv" in graph[f"{PACKAGE}.models.unet"]  # imported at the top, no cycle
    assert f"{PACKAGE}.artifacts.ddgm" in graph[f"{STEPS}.evaluate_snapshots"]


def test_every_import_of_the_package_names_one_of_its_modules():
    """Function bodies too, whose imports fail only when they run: a relative import climbing above the package, a
    module that was moved or removed."""
    mods = modules()
    assert sorted(f"{m} imports {t}" for m, targets in imports().items() for t in targets if t not in mods) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_cycles_are_detected():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_nothing_below_the_steps_imports_them():
    offenders = sorted(
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if not is_step_package(m) and m not in STEP_IMPORTERS
        for t in targets
        if is_step_package(t)
    )
    assert offenders == []


def test_no_step_imports_another_step():
    offenders = sorted(
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if is_step_package(m) and m != STEPS
        for t in targets
        if is_step_package(t) and t != m
    )
    assert offenders == []
