"""One module per DAG step.  Each defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args)``; ``diffrepro <NAME>`` runs it with explicit input and output paths, so the Snakemake
rules and the DVC stages execute identical commands.

Step modules are found by name (command ``evaluate-snapshots`` is module ``evaluate_snapshots``)
and imported only when their command runs (:func:`load_step`): a DAG runs dozens of short jobs, and
importing every step's dependencies in each of them would cost seconds per job.  Adding a step is
adding a module: nothing here changes, so the code dependencies of the existing steps (their
import closures, ``diffrepro.codedeps``) stay the same and nothing already built reruns.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

#: modules of this package that are helpers, not steps
HELPERS = frozenset({"common", "metric_inputs"})


def step_commands() -> list[str]:
    """Every step command, from the modules in this package."""
    here = [str(Path(__file__).parent)]
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(here) if m.name not in HELPERS)


def load_step(command: str) -> ModuleType:
    """The module of step ``command``; ValueError naming the known commands if there is none."""
    if command not in step_commands():
        raise ValueError(f"unknown step {command!r}; steps: {', '.join(step_commands())}")
    return importlib.import_module(f"{__name__}.{command.replace('-', '_')}")
