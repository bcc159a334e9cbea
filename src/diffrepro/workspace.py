"""Workspace commands that are not DAG steps: switching presets and syncing after ``dvc pull``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .atomic import write_text
from .config import load_config
from .runlog import get_logger


def use_preset(preset: str, target: str = "params.yaml") -> None:
    """Validate ``preset`` and make it the active parameter file (both Snakemake and DVC read it)."""
    path = Path(preset)
    if not path.exists() and (Path("configs") / f"{preset}.yaml").exists():
        path = Path("configs") / f"{preset}.yaml"
    load_config(path)  # fails naming the key before anything is overwritten
    header = (
        f"# Active preset: copied from {path} by `diffrepro preset`; `git checkout params.yaml` restores the default.\n"
    )
    write_text(target, header + path.read_text(encoding="utf-8"))
    get_logger().info("params.yaml now holds %s; run `dvc params diff` to see what changed", path)


def dvc_status_clean() -> tuple[bool, str]:
    proc = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        return False, proc.stderr.strip() or proc.stdout.strip()
    status = json.loads(proc.stdout or "{}")
    return not status, json.dumps(status, indent=1)


def after_pull(cores: int = 1, check_dvc: bool = True) -> None:
    """Make Snakemake accept the artifacts that ``dvc pull`` checked out.

    DVC's checkout writes files in no particular order, so their modification times say nothing
    about which is newer; Snakemake would rerun everything.  Once ``dvc status`` proves every
    output matches dvc.lock (same inputs, params and code as when it was produced), we let
    Snakemake re-stamp the outputs in DAG order (``snakemake --touch``) and record its metadata.
    """
    log = get_logger()
    if check_dvc:
        clean, detail = dvc_status_clean()
        if not clean:
            raise SystemExit(
                "dvc status is not clean, so the pulled artifacts do not match the current "
                f"inputs/params; run `dvc pull` (or `dvc repro`) first:\n{detail}"
            )
        log.info("dvc status is clean")
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    subprocess.run([snakemake, "--touch", "--cores", str(cores), "--quiet", "all"], check=True)
    log.info("Snakemake now treats the pulled artifacts as up to date; `snakemake -n` should show nothing to do")
