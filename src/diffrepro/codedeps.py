"""The source files a DAG step runs: the import closure of its step module inside this package.

Snakemake rules and DVC stages depend on exactly these files, so a change to a module that a step never
imports (say, a new analysis module) reruns nothing, while a change to any module it does import reruns that
step. The closure is read from the source with :mod:`ast` (nothing is imported, so the workflow can compute it
before any job runs): every ``import``/``from ... import`` statement anywhere in a module, function bodies
included, that resolves to a module of this package, plus the ``__init__`` of every package on the way.

The closure starts at the step module ``diffrepro.steps.<step>``, not at the ``diffrepro`` command: the
dispatcher (``cli.py``), the step declaration it builds the argument parser from (``dag/``) and the workspace
helpers run the same for every step, and what they hand a step (its command line) is in the command that
Snakemake and DVC track anyway. A module imported only by name at run time is in no closure: the data-set
loaders of :data:`diffrepro.data.registry.DATASETS`, which a step that loads a data set by name lists as code
of its own (:meth:`diffrepro.dag.spec.Step.code`, with :func:`loader_code`).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

__all__ = ["closure", "dataset_loaders", "loader_code"]

PACKAGE = "diffrepro"
ROOT = Path(__file__).resolve().parent  # src/diffrepro
REGISTRY = ROOT / "data" / "registry.py"


def _module_file(module: str) -> Path | None:
    """The file of a module of this package (``a.b`` -> a/b.py or a/b/__init__.py), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


@cache
def _imports(module: str) -> frozenset[str]:
    """Modules of this package that ``module`` imports (absolute names); each module is read once."""
    path = _module_file(module)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(module, path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from pkg import name`: name may itself be a submodule
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if m.split(".")[0] == PACKAGE and _module_file(m) is not None)


@cache
def closure(*modules: str) -> tuple[str, ...]:
    """Repository-relative paths (``src/diffrepro/...``) of the given modules and every module they import,
    transitively, with the ``__init__`` of each package on the way; sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        todo.extend(_imports(module))
    files = {_module_file(m) for m in seen}
    src = ROOT.parent
    return tuple(sorted(f"src/{p.relative_to(src).as_posix()}" for p in files if p is not None))


@cache
def dataset_loaders() -> dict[str, str]:
    """Data-set name -> the module of its loader, read from the literal ``DATASETS`` table of
    :mod:`diffrepro.data.registry` (``"name": "module:function"``) without importing it."""
    tree = ast.parse(REGISTRY.read_text(encoding="utf-8"), filename=str(REGISTRY))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "DATASETS":
            table = ast.literal_eval(node.value)
            return {name: target.split(":")[0] for name, target in table.items()}
    raise RuntimeError(f"{REGISTRY}: no literal `DATASETS: dict[str, str] = {{...}}` table")


def loader_code(name: str) -> tuple[str, ...]:
    """The source files of the loader of data set ``name`` (its module's closure); KeyError naming the data
    sets when ``name`` is not registered."""
    loaders = dataset_loaders()
    if name not in loaders:
        raise KeyError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(loaders))}")
    return closure(loaders[name])
