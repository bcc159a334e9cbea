"""Helpers for the DAG tests: run Snakemake/DVC in a copy of the workflow and read their DAGs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else name


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.setdefault("DVC_NO_ANALYTICS", "1")
    return e


def sh(args, cwd, check=True, timeout=2400) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def make_workspace(dest: Path, preset: str = "configs/tiny.yaml", dvc: bool = False) -> Path:
    """Copy the workflow (not results or caches) into ``dest`` and activate ``preset``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "dvc.yaml", ".dvcignore"):
        shutil.copy2(REPO / name, dest / name)
    for folder in ("workflow", "configs", "src"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # the workspace runs the preset as its own default preset: artifacts at the workspace's top, DVC's root
    # dvc.yaml (tests/test_presets.py checks where each preset writes in the repository)
    text = (REPO / preset).read_text(encoding="utf-8")
    (dest / "params.yaml").write_text(re.sub(r"^preset: \w+$", "preset: default", text, count=1, flags=re.M))
    _root_pipeline_for_its_conditions(dest)
    if dvc:
        sh([tool("dvc"), "init", "--no-scm", "-q"], dest)
        sh([tool("dvc"), "config", "core.analytics", "false"], dest)
    return dest


def _root_pipeline_for_its_conditions(dest: Path) -> None:
    """The workspace's root dvc.yaml regenerated for its params.yaml where the file decides a DAG condition
    (:data:`diffrepro.dag.steps.CONDITIONS`: the classifier backend) otherwise than the repository's params.yaml,
    as its user would (`diffrepro dag dvc-yaml --params params.yaml --write`)."""
    from diffrepro.config import load_config
    from diffrepro.dag.dvc import Pipeline, dvc_yaml
    from diffrepro.dag.steps import CONDITIONS

    config, default = load_config(dest / "params.yaml"), load_config(REPO / "params.yaml")
    if any(c.holds(config) != c.holds(default) for c in CONDITIONS.values()):
        (dest / "dvc.yaml").write_text(dvc_yaml(config, Pipeline()), encoding="utf-8")


def set_param(workspace: Path, dotted: str, value) -> None:
    path = workspace / "params.yaml"
    cfg = yaml.safe_load(path.read_text())
    node = cfg
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def keep_models(workspace: Path, names: set[str]) -> None:
    """Drop every model but ``names`` from the workspace's params.yaml (and the replicates and composed DAEDs of
    the others)."""
    path = workspace / "params.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["models"] = {k: v for k, v in cfg["models"].items() if k in names}
    cfg["replicates"] = {k: v for k, v in cfg["replicates"].items() if v["model"] in names}
    composed = cfg.get("daed", {}).get("composed") or {}  # a composed DAED goes with either of its models
    if composed:
        cfg["daed"]["composed"] = {k: v for k, v in composed.items() if {v["generator"], v["dae"]} <= names}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def snakemake_jobs(workspace: Path, *extra: str) -> list[dict]:
    """Jobs of a Snakemake dry run: rule, input, output and shell command of each."""
    out = sh([tool("snakemake"), "-n", "-p", "--cores", "1", *extra], workspace).stdout
    jobs, cur = [], None
    for line in out.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            cur = {"rule": m.group(1), "input": [], "output": [], "cmd": None}
            jobs.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"^    (input|output): (.*)$", line)
        if m:
            cur[m.group(1)] = [p.strip() for p in m.group(2).split(",") if p.strip()]
        elif line.startswith("Shell command: "):
            cur["cmd"] = " ".join(line[len("Shell command: ") :].split())
    return jobs


def job_counts(jobs: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    return counts


#: plans a workspace's Snakemake DAG with every job forced (as ``snakemake -n --forceall`` does) and prints each
#: job's rule, shell command, input and output files and the parameter keys it tracks (the rules' ``tracked``
#: param: diffrepro.dag), which no command-line printout shows; argv: the --configfile files, if any
SNAKEMAKE_PLAN = """\
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, ResourceSettings

with SnakemakeApi() as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=2), snakefile=Path("Snakefile"), workdir=Path.cwd(),
                      config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[1:]]))
    wf.dag(DAGSettings(forceall=True))
    workflow = wf._workflow
    workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    workflow._build_dag()
    jobs = [{"rule": job.rule.name, "cmd": " ".join(str(job.shellcmd).split()) if job.rule.shellcmd else None,
             "input": [str(f) for f in job.input], "output": [str(f) for f in job.output],
             "params": sorted(job.params.tracked) if "tracked" in job.params.keys() else []}
            for job in workflow.dag.jobs]
print("PLAN " + json.dumps(jobs))
"""

#: prints the stages of dvc.yaml as DVC resolves them: name, command, file deps, param keys, outputs
DVC_STAGES = """\
import json, sys
from dvc.repo import Repo
from dvc.dependency.param import ParamsDependency

out = []
for st in Repo(sys.argv[1]).index.stages:
    deps = [d.def_path for d in st.deps if not isinstance(d, ParamsDependency)]
    params = sorted(k for d in st.deps if isinstance(d, ParamsDependency) for k in d.params)
    out.append({"name": st.addressing, "cmd": " ".join(st.cmd.split()), "deps": deps, "params": params,
                "outs": [o.def_path for o in st.outs]})
print(json.dumps(out))
"""


def snakemake_plan(workspace: Path, *configfiles: str) -> list[dict]:
    """Every job of the workspace's Snakemake DAG (all forced): rule, cmd, input, output, params (keys)."""
    out = sh([sys.executable, "-c", SNAKEMAKE_PLAN, *configfiles], workspace).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("PLAN "))[len("PLAN ") :])


def dvc_stages(workspace: Path) -> list[dict]:
    """Stages of dvc.yaml as DVC resolves them: name, command, file deps, param keys, outputs."""
    return json.loads(sh([sys.executable, "-c", DVC_STAGES, str(workspace)], workspace).stdout)


def without_gate(stages: list[dict]) -> list[dict]:
    """DVC's stages less its parameter-file check (diffrepro.dag.dvc.GATE, which Snakemake does while planning):
    the stage itself, and the dependency of every other stage on its record."""
    from diffrepro.dag.dvc import GATE, GATE_RECORD

    kept = [s for s in stages if s["name"].rsplit(":", 1)[-1] != GATE]
    return [dict(s, deps=[d for d in s["deps"] if not d.endswith(GATE_RECORD)]) for s in kept]


def both_dags(workspace: Path, preset: str | None = None) -> tuple[list[dict], list[dict]]:
    """The Snakemake jobs (without ``all``) and the DVC stages of a workspace, planned side by side: of its
    params.yaml and root dvc.yaml, or (``preset``: a preset's file) of ``--configfile preset`` and the preset's own
    pipeline ``presets/NAME/dvc.yaml`` (stage names without the file's path)."""
    dvc = subprocess.Popen(
        [sys.executable, "-c", DVC_STAGES, str(workspace)],
        cwd=workspace,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        jobs = [j for j in snakemake_plan(workspace, *([preset] if preset else [])) if j["rule"] != "all"]
    finally:
        out, err = dvc.communicate(timeout=600)
    if dvc.returncode != 0:
        raise AssertionError(f"resolving dvc.yaml failed:\n{err[-4000:]}")
    stages = without_gate(json.loads(out))
    if preset is None:
        return jobs, [s for s in stages if ":" not in s["name"]]
    name = yaml.safe_load((workspace / preset).read_text())["preset"]
    prefix = f"presets/{name}/dvc.yaml:"
    return jobs, [dict(s, name=s["name"][len(prefix) :]) for s in stages if s["name"].startswith(prefix)]


def dvc_repro_ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))
