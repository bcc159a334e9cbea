"""Same inputs, same bytes: one model's chain of the tiny preset (prepare-data, the classifier and Inception
weights, reference features, training, sampling, evaluation) run in two workspaces writes identical files.

The measured wall-clock timings live in timing files of their own (``results/timing/``, :mod:`diffrepro.timing`):
those differ between the runs and nothing else does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from diffrepro.timing import read_timing
from workflow_tools import make_workspace, sh, tool

pytestmark = pytest.mark.e2e

#: the targets: ddgm_a's metrics pull in the data, classifier, Inception weights, reference features, training
#: and sampling
TARGETS = ["results/metrics/ddgm/ddgm_a.json"]
#: not artifacts: logs, benchmarks, Snakemake's state, the training resume state (which records its wall time)
NOT_ARTIFACTS = ("logs/", "benchmarks/", ".snakemake/", "checkpoints/", "src/", "workflow/", "configs/")
TIMING = "results/timing/"


def _files(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(NOT_ARTIFACTS) and "__pycache__" not in rel:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    roots = []
    for name in ("one", "two"):
        ws = make_workspace(tmp_path_factory.mktemp(name) / "ws")
        sh([tool("snakemake"), "--cores", "2", *TARGETS], ws)
        roots.append(ws)
    return roots


def test_two_runs_write_the_same_bytes_except_timing_files(two_runs):
    a, b = two_runs
    fa, fb = _files(a), _files(b)
    assert set(fa) == set(fb)
    assert {
        "data/processed/digits.safetensors",
        "models/classifier/digits.safetensors",
        "models/ddgm_a/ema.safetensors",
        "results/reference/digits/inception.safetensors",
        "results/samples/ddgm_a.safetensors",
        "results/metrics/ddgm/ddgm_a.json",
        "results/train/ddgm_a/summary.json",
    } <= set(fa)
    timing = {f for f in fa if f.startswith(TIMING)}
    assert timing == {"results/timing/train/ddgm/ddgm_a.json", "results/timing/sample/ddgm/ddgm_a.json"}
    assert sorted(f for f in fa if fa[f] != fb[f] and f not in timing) == []
    assert read_timing(a / "results/timing/sample/ddgm/ddgm_a.json")["samples_per_second"] > 0
