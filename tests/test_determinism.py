"""Same inputs, same bytes: one model's chain of the tiny preset (prepare-data, the classifier and Inception
weights, reference features, training, sampling, evaluation) run in two workspaces writes identical files.

The only fields allowed to differ are the measured timings (:data:`TIMING_KEYS`); the files that still carry
them are listed exactly (:data:`CARRY_TIMINGS`), so that moving a timing out of an artifact, or a new
nondeterminism, shows up here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from diffrepro.tensorfile import read as read_tensors
from workflow_tools import make_workspace, sh, tool

pytestmark = pytest.mark.e2e

#: the targets: ddgm_a's metrics pull in the data, classifier, Inception weights, reference features, training
#: and sampling
TARGETS = ["results/metrics/ddgm/ddgm_a.json"]
#: wall-clock measurements (seconds, rates), which no two runs share
TIMING_KEYS = {
    "seconds",
    "samples_per_second",
    "seconds_per_sample",
    "images_per_second",
    "seconds_per_step",
    "train_seconds_this_run",
    "train_seconds_total",
}
#: the artifacts whose bytes still hold a timing field (beside it, everything in them is identical)
CARRY_TIMINGS = {
    "results/samples/ddgm_a.safetensors",
    "results/reference/digits/inception.safetensors",
    "results/reference/digits/classifier.safetensors",
    "results/metrics/ddgm/ddgm_a.json",
    "results/metrics/inception.json",
    "results/metrics/classifier/digits.json",
    "results/train/ddgm_a/summary.json",
}
#: not artifacts: logs, benchmarks, Snakemake's state, the training resume state (which records its wall time)
NOT_ARTIFACTS = ("logs/", "benchmarks/", ".snakemake/", "checkpoints/", "src/", "workflow/", "configs/")


def _files(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(NOT_ARTIFACTS) and "__pycache__" not in rel:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    roots = []
    for name in ("one", "two"):
        ws = make_workspace(tmp_path_factory.mktemp(name) / "ws")
        sh([tool("snakemake"), "--cores", "2", *TARGETS], ws)
        roots.append(ws)
    return roots


def test_two_runs_write_the_same_bytes_except_timing_fields(two_runs):
    a, b = two_runs
    fa, fb = _files(a), _files(b)
    assert set(fa) == set(fb)
    assert {"data/processed/digits.safetensors", "models/ddgm_a/ema.safetensors"} <= set(fa)
    differ = {f for f in fa if fa[f] != fb[f] and f not in ("params.yaml",)}
    assert differ == CARRY_TIMINGS, sorted(differ ^ CARRY_TIMINGS)
    for rel in sorted(differ):
        if rel.endswith(".safetensors"):
            (ta, ma), (tb, mb) = read_tensors(a / rel), read_tensors(b / rel)
            assert ta.keys() == tb.keys() and all(ta[k].equal(tb[k]) for k in ta), rel
            assert _without_timings(ma) == _without_timings(mb), rel
            assert ma != mb and set(ma) == set(mb)
        else:
            ja, jb = json.loads((a / rel).read_text()), json.loads((b / rel).read_text())
            assert _without_timings(ja) == _without_timings(jb), rel
