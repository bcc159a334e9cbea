"""Malformed parameter files (tests/malformed_params.py) are refused before any job runs, naming the key.

Each catalogue entry is the tiny preset with one thing broken.  It is refused by the strict reader and validator
(what every ``diffrepro`` step and ``diffrepro validate`` run first) and by ``snakemake -n`` while it plans, in a
workspace whose params.yaml is the malformed file: the dry run lists no job and its error names the key, or the
file and line of a YAML error.
"""

from __future__ import annotations

import re
import shutil

import pytest

from diffrepro.config import ConfigError, validate_config
from diffrepro.paramfile import read_params
from malformed_params import CATALOGUE, CATEGORIES, malformed_text
from workflow_tools import REPO, sh, tool

IDS = [m.name for m in CATALOGUE]


def test_the_catalogue_covers_every_category():
    assert len(CATALOGUE) >= 35 and len(set(IDS)) == len(IDS)
    assert CATEGORIES == sorted(
        [
            "duplicate key",
            "YAML syntax",
            "integer as float",
            "non-finite",
            "open interval",
            "size",
            "root",
            "unknown key",
        ]
    )
    # the unbroken file is accepted: every refusal below is caused by its one edit
    validate_config(read_params(REPO / "configs/tiny.yaml"), source="configs/tiny.yaml")


@pytest.mark.parametrize("entry", CATALOGUE, ids=IDS)
def test_the_validator_refuses_naming_the_key(entry, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(malformed_text(entry), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        validate_config(read_params(path), source="params.yaml")
    assert re.search(entry.message, str(err.value)), str(err.value)


@pytest.fixture(scope="module")
def workflow_only(tmp_path_factory):
    """A workspace with the workflow and nothing else: no data, no results (a plan that got past the parameter
    file would list jobs)."""
    ws = tmp_path_factory.mktemp("malformed")
    shutil.copy2(REPO / "Snakefile", ws / "Snakefile")
    shutil.copytree(REPO / "workflow", ws / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return ws


@pytest.mark.parametrize("entry", CATALOGUE, ids=IDS)
def test_snakemake_dry_run_refuses_naming_the_key(entry, workflow_only):
    (workflow_only / "params.yaml").write_text(malformed_text(entry), encoding="utf-8")
    proc = sh([tool("snakemake"), "-n", "--cores", "1"], workflow_only, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert re.search(entry.message, out), out[-2000:]
    assert "Job stats" not in out and "Traceback" not in out, out[-2000:]
