"""One module per DAG step.  Each defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args)``; ``diffrepro <NAME>`` runs it with explicit input and output paths, so the Snakemake
rules and the DVC stages execute identical commands.

Step modules are imported only when their command runs (:func:`load_step`): a DAG runs dozens of
short jobs, and importing every step's dependencies (torch-fidelity, torchvision, ...) in each of
them would cost seconds per job.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: command name -> (module in this package, one-line help); the module's NAME and HELP agree (tested).
STEP_MODULES: dict[str, tuple[str, str]] = {
    "prepare-data": ("prepare_data", "resolve, verify and write the processed data set (uint8 train/test, optional resize)"),
    "train-classifier": ("train_classifier", "train the feature-extractor classifier on the processed data set"),
    "train-ddgm": ("train_ddgm", "train one DDGM of params.models (resumes from --checkpoint-dir)"),
    "sample": ("sample", "sample a trained DDGM (uint8 samples + a PNG grid)"),
    "evaluate": ("evaluate", "compute sample-quality metrics of one model against the reference split"),
    "evaluate-snapshots": ("evaluate_snapshots", "sample and evaluate a model's intermediate EMA snapshots (training-steps study)"),
    "nll": ("nll", "bits/dim (exact VLB over all T steps) on the test split, and the per-step NLL terms"),
    "table": ("table", "assemble one table (Markdown + CSV) from the per-model metrics"),
}


def load_step(command: str) -> ModuleType:
    module, _ = STEP_MODULES[command]
    return importlib.import_module(f"{__name__}.{module}")
