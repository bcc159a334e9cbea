import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]

# Tests are small; two threads keep them fast without oversubscribing a 2-core machine.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def tiny_config() -> dict:
    with open(REPO / "configs" / "tiny.yaml") as fh:
        return yaml.safe_load(fh)


def copy_workflow(dest: Path) -> Path:
    """A copy of the repository's workflow files (no results, no caches) for DAG tests."""
    for name in ("Snakefile", "dvc.yaml", "params.yaml", ".dvcignore", "pyproject.toml"):
        shutil.copy2(REPO / name, dest / name)
    for folder in ("workflow", "configs", "src"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest
