"""The committed results are what the committed code produces.

The tiny preset's artifacts are committed like the other presets' (presets/tiny/: dvc.lock, the git-tracked
metrics and tables; the cached ones in the DVC remote).  A fresh workspace with the committed code and the
committed dvc.lock runs the tiny preset with Snakemake (``--configfile configs/tiny.yaml``: its own folder, as a
newcomer would) and DVC then finds every output as the lock records it: nothing changed but the timing files
(``results/timing/``, wall-clock numbers, :mod:`diffrepro.timing`) and the dependencies on them of the report
steps.  A change of code that moves any number without re-running and re-committing the preset fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from workflow_tools import REPO, make_workspace, sh, tool

PRESET = "presets/tiny"
TIMING = f"{PRESET}/results/timing/"


def _changed_paths(status: dict) -> dict[str, dict[str, str]]:
    """Stage -> {path: what changed} from ``dvc status --json`` (outs and deps alike)."""
    out: dict[str, dict[str, str]] = {}
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, dict):
                for changes in entry.values():
                    if isinstance(changes, dict):  # "not in cache": this fresh workspace has no DVC cache
                        moved = {str(k): str(v) for k, v in changes.items() if v != "not in cache"}
                        if moved:
                            out.setdefault(stage, {}).update(moved)
            else:  # "always changed" and the like
                out.setdefault(stage, {})[str(entry)] = "stage"
    return out


def _moved(status: dict) -> dict[str, dict[str, str]]:
    """What changed beyond the timing files: every changed path of a stage but those under the timing folder, and
    none of a stage that reports timings: one that reads a changed timing file (a table or the claims: they report
    the timings, their other inputs are checked in the stages that write them), or a changed output of such a stage
    (a figure drawn from a table's samples/s column)."""
    changed = _changed_paths(status)
    reporting: set[str] = set()
    timed: set[str] = set()  # the changed outputs of the stages that report timings
    grew = True
    while grew:
        grew = False
        for stage, paths in changed.items():
            outs = _outs_of(status, stage)
            if stage not in reporting and any(
                (p.startswith(TIMING) or p in timed) and changes == "modified" and p not in outs
                for p, changes in paths.items()
            ):
                reporting.add(stage)
                timed |= outs
                grew = True
    moved = {}
    for stage, paths in changed.items():
        rest = {p: w for p, w in paths.items() if not p.startswith(TIMING)}
        if rest and stage not in reporting:
            moved[stage] = rest
    return moved


def _outs_of(status: dict, stage: str) -> set[str]:
    return {
        str(p) for entry in status.get(stage, []) if isinstance(entry, dict) for p in (entry.get("changed outs") or {})
    }


@pytest.mark.e2e
def test_a_fresh_run_of_the_tiny_preset_matches_its_committed_lock(tmp_path):
    ws = make_workspace(tmp_path / "ws", preset="params.yaml", dvc=True)
    (ws / PRESET).mkdir(parents=True)
    for name in ("dvc.yaml", "dvc.lock"):
        shutil.copy2(REPO / PRESET / name, ws / PRESET / name)
    # what a fresh clone holds of the preset besides its pipeline: the DVC gate's record and the .gitignore files DVC
    # wrote beside the outputs (a folder's DVC hash counts them)
    tracked = subprocess.run(
        ["git", "ls-files", PRESET], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in [f"{PRESET}/results/checks/params.json", *(t for t in tracked if t.endswith(".gitignore"))]:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, ws / rel)
    sh([tool("snakemake"), "--cores", "2", "--configfile", "configs/tiny.yaml"], ws)
    status = json.loads(sh([tool("dvc"), "status", "--json", f"{PRESET}/dvc.yaml"], ws).stdout or "{}")
    changed = _changed_paths(status)
    moved = _moved(status)
    assert moved == {}, json.dumps(moved, indent=1)[:4000]
    # the timing files did change (they are wall-clock numbers): the check above did compare something
    assert any(p.startswith(TIMING) for paths in changed.values() for p in paths)


def test_only_stages_that_report_timings_are_let_off():
    """The filter on a made-up ``dvc status``: a table reading a changed timing file and a figure reading that
    table's changed CSV report timings; an evaluation whose metrics moved does not, nor does a figure whose input
    moved without any timing behind it."""
    t = f"{TIMING}sample/ddgm/a.json"
    status = {
        "sample@a": [{"changed outs": {t: "modified"}}],
        "table@t": [
            {"changed deps": {t: "modified"}},
            {"changed outs": {"presets/tiny/results/tables/t.csv": "modified"}},
        ],
        "figures": [
            {"changed deps": {"presets/tiny/results/tables/t.csv": "modified"}},
            {"changed outs": {"presets/tiny/results/figures/f.png": "modified"}},
        ],
        "evaluate@a": [{"changed outs": {"presets/tiny/results/metrics/a.json": "modified"}}],
        "other_figure": [{"changed deps": {"presets/tiny/results/metrics/a.json": "modified"}}],
    }
    assert _moved(status) == {
        "evaluate@a": {"presets/tiny/results/metrics/a.json": "modified"},
        "other_figure": {"presets/tiny/results/metrics/a.json": "modified"},
    }
