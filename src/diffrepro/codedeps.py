"""The source files a DAG step runs: the import closure of its step module inside this package.

Snakemake rules and DVC stages depend on exactly these files, so a change to a module that a step
never imports (say, a new analysis module) reruns nothing, while a change to any module it does
import reruns that step. The closure is read from the source with :mod:`ast` (nothing is imported,
so the workflow can compute it before any job runs): every ``import``/``from ... import``
statement anywhere in a module, function bodies included, that resolves to a module of this
package, plus the ``__init__`` of every package on the way. ``diffrepro <step>`` imports the CLI and
then its step module (``steps.load_step``), so a step's closure starts from both.

``python -m diffrepro.codedeps STEP...`` prints the files (for dvc.yaml; a test checks that the
Snakemake rules and dvc.yaml list the same ones).
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = "diffrepro"
ROOT = Path(__file__).resolve().parent  # src/diffrepro


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


def _imports(module: str) -> set[str]:
    """Modules of this package that ``module`` imports (absolute names)."""
    path = _module_file(module)
    if path is None:
        return set()
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
    return {m for m in found if m.split(".")[0] == PACKAGE and _module_file(m) is not None}


@lru_cache(maxsize=None)
def closure(*modules: str) -> tuple[str, ...]:
    """Repository-relative paths (``src/diffrepro/...``) of every module the given modules import,
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


def step_code(step_module: str) -> list[str]:
    """Source files of ``diffrepro <step>``: the CLI and the step module ``steps.<step_module>``."""
    return list(closure(f"{PACKAGE}.cli", f"{PACKAGE}.steps.{step_module}"))


def update_dvc_yaml(path: str) -> int:
    """Rewrite the source-file dependencies of every stage of a dvc.yaml in place: the block of
    ``- src/diffrepro/...`` lines under each stage's ``deps:`` becomes that stage's :func:`step_code`
    (its command ``diffrepro <step>`` names the step); everything else is kept as written.
    Returns the number of stages updated."""
    import re

    text = open(path, encoding="utf-8").read()
    stage_re = re.compile(r"(cmd:\s*>?-?\s*diffrepro ([a-z-]+).*?deps:\n)((?:[ ]+- src/diffrepro/\S+\n)+)", re.S)
    count = 0

    def repl(m: "re.Match[str]") -> str:
        nonlocal count
        count += 1
        indent = re.match(r"[ ]+", m.group(3)).group(0)
        files = step_code(m.group(2).replace("-", "_"))
        return m.group(1) + "".join(f"{indent}- {f}\n" for f in files)

    new = stage_re.sub(repl, text)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--update-dvc"]:
        print(f"updated the code dependencies of {update_dvc_yaml(args[1] if len(args) > 1 else 'dvc.yaml')} stages")
        return 0
    for step in args:
        print(f"# {step}")
        for path in step_code(step):
            print(f"- {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
