"""The Snakemake and DVC DAGs are made from one declaration (diffrepro.dag) and hold the same steps, commands,
inputs, outputs and parameter keys; dvc.yaml is the generated one; each step depends on the code it runs and no
other (editing the ImageNet loader reruns nothing of the Fashion-MNIST DAG, editing the U-Net every job that
uses one). End to end (-m e2e): both tools run the tiny preset, are incremental (a rerun does nothing, one
parameter change reruns exactly its chain), and a fresh copy that pulls the DVC artifacts runs nothing. The
Snakemake run's HTML report is self-contained, holds every table and figure under its study, and renders in
headless Chromium."""

from __future__ import annotations

import csv
import inspect
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml

from diffrepro import codedeps
from diffrepro.dag import STEPS
from diffrepro.dag.dvc import dvc_yaml
from diffrepro.dag.report import table_study as study_of
from diffrepro.dag.steps import TABLE_NAMES
from diffrepro.reporting.tables import TABLES as TABLE_BUILDERS
from report_tools import (
    STUDIES,
    browse_report,
    build_report,
    chromium,
    decode_data_uri,
    embedded,
    image_colours,
    remote_references,
)
from workflow_tools import (
    REPO,
    both_dags,
    dvc_repro_ran,
    job_counts,
    keep_models,
    make_workspace,
    set_param,
    sh,
    snakemake_jobs,
    tool,
)

e2e = pytest.mark.e2e
IMAGENET_LOADER = "src/diffrepro/data/imagenet.py"
UNET = "src/diffrepro/models/unet.py"
#: the steps that run a U-Net (a DDGM's, a DAED's, a DAE's or a DDDM's)
UNET_STEPS = {
    "train_ddgm",
    "sample",
    "nll",
    "evaluate_snapshots",
    "train_dae",
    "sample_posthoc",
    "reconstruction",
    "transferability",
    "toy_examples",
    "sample_surrogate",
    "train_dddm",
    "sample_dddm",
}
#: the steps that import no diffusion network
NO_UNET_STEPS = {
    "prepare_data",
    "convert_inception",
    "table",
    "dynamics",
    "surrogate_table",
    "dddm_tables",
    "coursework_figures",
    "reconstruction_figure",
    "transferability_table",
}


def test_dvc_yaml_is_generated_from_the_declaration():
    from diffrepro.config import load_config

    assert (REPO / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml(load_config(REPO / "params.yaml")), (
        "dvc.yaml is out of date: run `diffrepro dag dvc-yaml > dvc.yaml`"
    )


def test_committed_preset_pipelines_are_generated_from_the_declaration():
    """A preset's own committed pipeline (presets/NAME/dvc.yaml, with its dvc.lock and pushed artifacts: the small
    preset's published run) is the one the declaration makes for configs/NAME.yaml, so `dvc status` holds."""
    from diffrepro.config import load_config
    from diffrepro.dag.dvc import pipeline_of

    for path in sorted(REPO.glob("presets/*/dvc.yaml")):
        params = f"configs/{path.parent.name}.yaml"
        assert (REPO / params).is_file(), f"{path.relative_to(REPO)}: a preset pipeline without its {params}"
        config = load_config(REPO / params)
        expected = dvc_yaml(config, pipeline_of(config, params))
        assert path.read_text(encoding="utf-8") == expected, (
            f"{path.relative_to(REPO)} is out of date: run `diffrepro dag dvc-yaml --params {params} --write`"
        )


_DAGS: dict[str, tuple[Path, list[dict], list[dict]]] = {}


@pytest.fixture
def dags(tmp_path_factory):
    """preset -> (workspace, Snakemake jobs, DVC stages), planned once per preset."""

    def plan(preset: str):
        """``preset``: a parameter file the workspace makes its params.yaml, or ``FILE@own``: FILE run beside the
        default preset (``--configfile FILE``, and its own DVC pipeline presets/NAME/dvc.yaml)."""
        if preset not in _DAGS:
            own = preset.endswith("@own")
            ws = make_workspace(tmp_path_factory.mktemp("dags") / "ws", preset="params.yaml" if own else preset)
            (ws / ".dvc").mkdir()  # what `dvc init --no-scm` writes that resolving dvc.yaml needs, in no time
            (ws / ".dvc" / "config").write_text("[core]\n    no_scm = True\n    analytics = false\n")
            if own:
                preset_file = preset.removesuffix("@own")
                sh([tool("diffrepro"), "dag", "dvc-yaml", "--params", preset_file, "--write"], ws)
                _DAGS[preset] = (ws, *both_dags(ws, preset_file))
            else:
                _DAGS[preset] = (ws, *both_dags(ws))
        return _DAGS[preset]

    return plan


def loader_files() -> set[str]:
    """The source files of every registered data-set loader (which DVC lists where a parameter chooses them)."""
    return {f for name in codedeps.dataset_loaders() for f in codedeps.loader_code(name)}


@pytest.mark.parametrize(
    "preset",
    [
        "params.yaml",
        "configs/tiny.yaml",
        "configs/tiny.yaml@own",
        pytest.param("configs/small.yaml@own", marks=e2e),
        pytest.param("configs/paper.yaml", marks=e2e),
        pytest.param("configs/coursework.yaml", marks=e2e),
    ],
)
def test_snakemake_and_dvc_hold_the_same_steps(dags, preset):
    """Job for stage: the same rule and stage name, command, outputs and input files (a DVC output or dependency on
    a folder stands for the Snakemake outputs or inputs inside it), parameter keys and code; DVC, which cannot make a
    list of files depend on a parameter, lists the code of every data-set loader where a parameter chooses them."""
    ws, sm, dv = dags(preset)
    assert len(sm) == len(dv)
    sm_by_cmd = {j["cmd"]: j for j in sm}
    dv_by_cmd = {s["cmd"]: s for s in dv}
    assert set(sm_by_cmd) == set(dv_by_cmd), "the two tools run different commands"
    loads = {s.name for s in STEPS if s.loads}
    for cmd, stage in dv_by_cmd.items():
        job, name = sm_by_cmd[cmd], stage["name"]
        assert job["rule"] == name.split("@")[0]
        # a DVC out on a folder stands for the Snakemake outputs inside it (files of params elements: the DAEs)
        sm_outs, dvc_outs = set(job["output"]), set()
        for out in stage["outs"]:
            inside = {p for p in sm_outs if p.startswith(out.rstrip("/") + "/")}
            assert out in sm_outs or inside, f"{name}: DVC out {out} is no Snakemake output"
            dvc_outs |= {out} if out in sm_outs else inside
        assert sm_outs == dvc_outs, name
        assert job["params"] == stage["params"], name
        sm_files = {p for p in job["input"] if not p.startswith("src/")}
        dvc_files: set[str] = set()
        for dep in (d for d in stage["deps"] if not d.startswith("src/")):
            inside = {p for p in sm_files if p.startswith(dep.rstrip("/") + "/")}
            assert dep in sm_files or inside, f"{name}: DVC dep {dep} is no Snakemake input"
            dvc_files |= {dep} if dep in sm_files else inside
        assert sm_files == dvc_files, name
        sm_code = {p for p in job["input"] if p.startswith("src/")}
        dvc_code = {d for d in stage["deps"] if d.startswith("src/")}
        assert sm_code <= dvc_code, name
        assert dvc_code - sm_code <= (loader_files() if job["rule"] in loads else set()), name


def test_a_preset_writes_only_in_its_own_folder_in_both_tools(dags):
    """Presets never overwrite each other's results: the tiny preset run beside the default one (Snakemake's
    --configfile, DVC's presets/tiny/dvc.yaml) writes every output, log and checkpoint under presets/tiny/, and the
    default preset nothing there."""
    _, sm_default, dv_default = dags("params.yaml")
    _, sm_tiny, dv_tiny = dags("configs/tiny.yaml@own")
    tiny_outputs = {p for j in sm_tiny for p in j["output"]} | {p for s in dv_tiny for p in s["outs"]}
    default_outputs = {p for j in sm_default for p in j["output"]} | {p for s in dv_default for p in s["outs"]}
    assert tiny_outputs and all(p.startswith("presets/tiny/") for p in tiny_outputs)
    assert default_outputs and not [p for p in default_outputs if p.startswith("presets/")]
    for cmd in [j["cmd"] for j in sm_tiny] + [s["cmd"] for s in dv_tiny]:
        words = cmd.split()
        # option values that are paths (an input given as NAME=PATH: its path)
        paths = [w.split("=")[-1] for flag, w in zip(words, words[1:]) if flag.startswith("--") and "/" in w]
        outside = [p for p in paths if not p.startswith(("presets/tiny/", "configs/tiny.yaml", "workflow/"))]
        assert not outside, f"{cmd}: {outside}"


def test_a_step_refuses_to_write_outside_its_presets_folder(tmp_path):
    """The root dvc.yaml (the default preset's paths) run with another preset in params.yaml fails before any
    output is written, naming the option and the preset's folder."""
    ws = make_workspace(tmp_path / "ws")
    out = "data/processed/digits.safetensors"
    cmd = [tool("diffrepro"), "prepare-data", "--params", "configs/tiny.yaml", "--dataset", "digits", "--out", out]
    proc = sh(cmd, ws, check=False)
    assert proc.returncode != 0 and not (ws / out).exists()
    assert f"--out {out} lies outside the folders of the preset of configs/tiny.yaml (presets/tiny/)" in proc.stderr
    proc = sh([*cmd[:-1], "presets/tiny/" + out], ws, check=False)
    assert proc.returncode == 0 and (ws / "presets/tiny" / out).is_file(), proc.stderr
    proc = sh([*cmd[:3], "params.yaml", *cmd[4:-1], "presets/tiny/" + out], ws, check=False)  # the default preset
    assert proc.returncode != 0 and "lies outside the folders of the preset of params.yaml" in proc.stderr


def test_editing_the_imagenet_loader_reruns_nothing_of_the_fashion_mnist_dag(dags):
    ws, sm, dv = dags("params.yaml")
    config = yaml.safe_load((ws / "params.yaml").read_text())
    assert [d["dataset"] for d in config["datasets"].values()] == ["fashion_mnist"]
    assert IMAGENET_LOADER in loader_files()
    assert not [j["rule"] for j in sm if IMAGENET_LOADER in j["input"]]
    # dvc.yaml is one file for every preset: the stages whose loaders a parameter chooses list every loader, so
    # DVC reruns them, finds their outputs unchanged (it compares contents) and reruns nothing after them
    assert {s["name"].split("@")[0] for s in dv if IMAGENET_LOADER in s["deps"]} == {s.name for s in STEPS if s.loads}


def test_editing_the_unet_reruns_every_job_that_uses_one(dags):
    ws, sm, dv = dags("params.yaml")
    jobs = [(j["rule"], j["input"]) for j in sm] + [(s["name"].split("@")[0], s["deps"]) for s in dv]
    assert {rule for rule, _ in jobs} >= UNET_STEPS | NO_UNET_STEPS
    for rule, files in jobs:
        assert (UNET in files) == (rule in UNET_STEPS) or rule not in UNET_STEPS | NO_UNET_STEPS, rule


def test_no_step_depends_on_the_command_line_plumbing():
    """A step's code is its module's import closure: not the dispatcher, the declaration, the workspace helpers,
    the GPU pinning or the code-dependency reader, which run the same for every step."""
    plumbing = {
        "src/diffrepro/cli.py",
        "src/diffrepro/workspace.py",
        "src/diffrepro/gpu_slots.py",
        "src/diffrepro/codedeps.py",
        "src/diffrepro/__main__.py",
    }
    for step in STEPS:
        code = set(step.code())
        module = step.module.rsplit(".", 1)[1]  # a replicate step runs its model step's module
        assert not code & plumbing, step.name
        assert not [f for f in code if f.startswith("src/diffrepro/dag/")], step.name
        assert f"src/diffrepro/steps/{module}.py" in code
        assert not [
            f
            for f in code
            if f.startswith("src/diffrepro/steps/") and not f.endswith((f"/{module}.py", "/__init__.py"))
        ], f"{step.name} imports another step"
        if not step.loads:
            assert not code & (loader_files() - set(codedeps.closure("diffrepro.data"))), step.name


TABLES = list(TABLE_NAMES)
PER_MODEL_RULES = ["train_ddgm", "sample", "nll", "evaluate", "evaluate_snapshots"]
# the tiny preset's training-seed replicate: ddgm_a with seed 1, trained, sampled and evaluated by its own jobs
REPLICATE = "ddgm_a_s1"
REPLICATE_RULES = ["train_replicate", "sample_replicate", "evaluate_replicate"]
# the DAED steps that hang off the post-hoc generator (ddgm_a in the tiny preset) and the analyses
POSTHOC_SPLITS = ["0.1", "linear"]
# the tiny preset's one post-hoc study (its DAEs trained by one job, then sampled and evaluated), and Fig 4
POSTHOC_STUDY = "digits"
POSTHOC_JOBS = [f"{rule}@{POSTHOC_STUDY}" for rule in ("train_dae", "sample_posthoc", "evaluate_posthoc")]
POSTHOC_JOBS.append("posthoc_figure")
# (the tiny preset's one reconstruction panel, digits, and the figure of every panel)
ANALYSES = [
    "reconstruction@digits",
    "reconstruction_figure",
    "transferability@digits",
    "transferability_table",
    "transferability_figure@digits_pair",
    "toy_examples",
    "dynamics",
]


def read_table(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def assert_tables_finite(ws: Path, table1_models: set[str]):
    rows = [r for r in read_table(ws / "results/tables/deja_table1.csv") if r["Model"]]
    assert {r["Model"] for r in rows} == table1_models
    for r in rows:
        for col in (
            "FID [Inception]",
            "Prec [Inception]",
            "k-NN Rec [Inception]",
            "FID [classifier]",
            "Prec [classifier]",
            "Rec [classifier]",
            "Bits/dim",
        ):
            assert math.isfinite(float(r[col])), (r["Model"], col)
    assert (ws / "results/tables/deja_table1.md").read_text().startswith("# Table 1")
    for name in TABLES:
        assert (ws / f"results/tables/{name}.md").stat().st_size > 0
    for m in table1_models:
        assert (ws / f"results/figures/samples_{m}.png").stat().st_size > 0


def assert_daed_outputs(ws: Path):
    """The DAED steps' files exist and hold what they should."""
    posthoc = json.loads((ws / f"results/metrics/daed_posthoc/{POSTHOC_STUDY}.json").read_text())
    assert posthoc["study"] == POSTHOC_STUDY
    assert [r["split"] for r in posthoc["splits"]] == POSTHOC_SPLITS
    assert all(math.isfinite(r["fid"]) for r in posthoc["splits"])
    assert next(r for r in posthoc["splits"] if r["split"] == "linear")["split_step"] == 0
    fig4 = read_table(ws / f"results/analysis/fid_vs_split/{POSTHOC_STUDY}.csv")
    assert [r["split"] for r in fig4] == ["ddgm"] + POSTHOC_SPLITS
    for name in ["fid_vs_split", "reconstruction", "transferability/digits", "toy_examples", "dynamics"] + [
        "transferability_digits_pair"
    ]:
        assert (ws / f"results/figures/{name}.png").stat().st_size > 0, name
    assert (ws / "results/tables/deja_table2.md").read_text().strip()
    t7 = {r["Paper row"]: r for r in read_table(ws / "results/tables/deja_table7.csv")}
    assert t7["DDGM"]["Model"] == "ddgm_a" and t7["DAED"]["Model"] == "daed_combine"
    assert float(t7["DAED"]["Params (M)"]) == pytest.approx(2 * float(t7["DDGM"]["Params (M)"]), rel=0.01)
    dyn = json.loads((ws / "results/analysis/dynamics.json").read_text())
    assert dyn["ddgm"] == "ddgm_vlb" and dyn["daed"] == "daed_combine" and dyn["ddgm_timesteps"] == 40
    assert_composed_outputs(ws)


#: the tiny preset's composed DAED: daed_combine's generator with daed_combine_b's DAE
COMPOSED = "daed_mixed"
COMPOSED_JOBS = [f"{rule}@{COMPOSED}" for rule in ("compose_daed", "sample_composed", "evaluate_composed")]


def assert_composed_outputs(ws: Path):
    """The composed DAED was built from its two models' weights, sampled as its generator's model and evaluated, and
    its row of the extended table carries its metrics and no bits/dim."""
    from diffrepro.tensorfile import read_metadata

    weights = read_metadata(ws / f"models/composed/{COMPOSED}/ema.safetensors")
    assert (weights["model"], weights["composed"], weights["dae_model"]) == ("daed_combine", COMPOSED, "daed_combine_b")
    assert (
        weights["dae_content_sha256"] == read_metadata(ws / "models/daed_combine_b/ema.safetensors")["content_sha256"]
    )
    assert read_metadata(ws / f"results/samples/composed/{COMPOSED}.safetensors")["composed"] == COMPOSED
    metrics = json.loads((ws / f"results/metrics/ddgm/{COMPOSED}.json").read_text())
    assert metrics["model"] == COMPOSED and metrics["composed"]["dae"] == "daed_combine_b"
    row = next(r for r in read_table(ws / "results/tables/deja_extended.csv") if r["Model"] == COMPOSED)
    assert row["Paper row"] == "daed_in_simple_b0.1" and row["Bits/dim"] == ""
    assert math.isfinite(float(row["FID [Inception]"])) and math.isfinite(float(row["FID [classifier]"]))
    assert (ws / f"results/figures/samples_composed_{COMPOSED}.png").stat().st_size > 0


SURROGATES = ["sngan", "ddgm_half"]
T_MIDS = [0, 10, 20, 30]  # 0, 1/4, 1/2, 3/4 of the tiny preset's T = 40
DDDM_RUNS = ["dddm_cond", "dddm_l1", "dddm_phuber"]  # dddm_cond: class-conditional
# train_gan, sample_surrogate and evaluate_surrogate per surrogate, Table 4.5; the DDDM's reference features,
# train, sample, evaluate per DDDM run, the DDDM tables
SURROGATE_DDDM_JOBS = 1 + 2 * len(SURROGATES) + 1 + 1 + 3 * len(DDDM_RUNS) + 1


def assert_surrogate_dddm_outputs(ws: Path):
    """Table 4.5, the DDDM table and the ablation hold a finite row for every surrogate x t_mid and run x NFE."""
    t45 = read_table(ws / "results/tables/coursework_4_5.csv")
    assert [(r["Surrogate"], int(r["t_mid"])) for r in t45[:-1]] == [(s, t) for s in SURROGATES for t in T_MIDS]
    assert t45[-1]["Kind"] == "DDGM alone" and float(t45[-1]["Speedup"]) == 1.0
    for r in t45:
        assert math.isfinite(float(r["FID [Inception]"])) and math.isfinite(float(r["FID [classifier]"])), r
        assert float(r["Samples/s"]) > 0 and r["IS [Inception]"] == "n/a", r
    gan = {int(r["t_mid"]): r for r in t45 if r["Surrogate"] == "sngan"}
    assert float(gan[0]["Samples/s"]) > float(gan[30]["Samples/s"])  # the GAN alone is the fastest row
    assert gan[10]["Paper surrogate"] == "SNGAN-ResNet-32" and gan[10]["Paper t_mid"] == "250"
    assert (ws / "results/tables/coursework_4_5.md").read_text().startswith("# Table 4.5")
    dddm = read_table(ws / "results/tables/dddm_table1.csv")
    assert [int(r["NFE"]) for r in dddm] == [1, 2, 3]
    assert {(r["Data"], r["Paper table"]) for r in dddm} == {("digits", "Table 1 (CIFAR-10)")}
    from safetensors import safe_open

    with safe_open(str(ws / "results/samples/dddm/dddm_cond.safetensors"), framework="pt") as fh:
        labels, n = fh.get_tensor("labels"), int(fh.metadata()["num_samples"])
    assert labels.shape == (n,) and 0 <= int(labels.min()) and int(labels.max()) < 10  # the digits' classes
    assert all(math.isfinite(float(r["FID [Inception]"])) and math.isfinite(float(r["FID [classifier]"])) for r in dddm)
    abl = read_table(ws / "results/analysis/dddm_ablation.csv")
    assert sorted((r["run"], int(r["nfe"])) for r in abl) == sorted((run, n) for run in DDDM_RUNS for n in (1, 2, 3))
    for name in (
        ["dddm_ablation", "samples_gan_sngan"]
        + [f"samples_surrogate_{s}" for s in SURROGATES]
        + [f"samples_dddm_{r}" for r in DDDM_RUNS]
    ):
        assert (ws / f"results/figures/{name}.png").stat().st_size > 0, name


def assert_seed_replicate_pooled(ws: Path):
    """ddgm_a's replicate trained with its own seed (other weights, other metrics), and Table 1 shows ddgm_a as the
    mean of its two runs with the t-interval of the mean (closed form for n = 2: mean -/+ 12.706 * |a - b| / 2)."""
    summary = json.loads((ws / f"results/train/{REPLICATE}/summary.json").read_text())
    assert summary["seed"] == 1 and summary["model"] == "ddgm_a"
    own = json.loads((ws / "results/metrics/ddgm/ddgm_a.json").read_text())["backends"]["inception"]["fid"]
    rep = json.loads((ws / f"results/metrics/ddgm/{REPLICATE}.json").read_text())["backends"]["inception"]["fid"]
    assert own != rep
    row = next(r for r in read_table(ws / "results/tables/deja_table1.csv") if r["Model"] == "ddgm_a")
    mean, half = (own + rep) / 2, 12.706204736174698 * abs(own - rep) / 2
    assert float(row["FID [Inception]"]) == pytest.approx(mean, rel=1e-3)
    assert float(row["FID [Inception]_lo"]) == pytest.approx(mean - half, rel=1e-3, abs=1e-3)
    assert float(row["FID [Inception]_hi"]) == pytest.approx(mean + half, rel=1e-3, abs=1e-3)
    md = (ws / "results/tables/deja_table1.md").read_text()
    assert "ddgm_a: 2 runs, seeds 0, 1" in md and "t-interval" in md


def chain(model: str) -> dict[str, int]:
    """The jobs a change to one model's training reruns: its own chain, the tables and the claims (which read every
    model's metrics)."""
    return {**{rule: 1 for rule in PER_MODEL_RULES}, "table": len(TABLES), "coursework_figures": 1, "claims": 1}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny preset's Snakemake DAG, run once, and its HTML report built right after the run (before the
    end-to-end test changes parameters): (workspace, report path, the report command's result)."""
    root = tmp_path_factory.mktemp("snakemake_tiny")
    ws = make_workspace(root / "ws")
    sh([tool("snakemake"), "--cores", "2"], ws)
    report = root / "report.html"
    return ws, report, build_report(ws, report)


@e2e
def test_snakemake_tiny_dag_end_to_end(tiny_run):
    ws = tiny_run[0]
    assert_tables_finite(ws, {"ddgm_a", "ddgm_b", "daed_combine", "ddgm_vlb"})
    assert_daed_outputs(ws)
    assert_surrogate_dddm_outputs(ws)
    # every family of issue 3 is a row of its table
    t44 = {r["Model"]: r for r in read_table(ws / "results/tables/coursework_4_4.csv")}
    assert set(t44) == {"ddgm_a", "ddgm_vlb", "ddgm_hybrid", "ddgm_iwdiff"}
    assert float(t44["ddgm_a"]["Time ratio"]) == 1.0
    t43 = {r["Model"]: r for r in read_table(ws / "results/tables/coursework_4_3.csv")}
    assert t43["ddgm_mbconv"]["Block"] == "MBConv" and t43["ddgm_a"]["Block"] == "Standard"
    t41 = read_table(ws / "results/tables/coursework_4_1.csv")
    assert [int(r["Iterations"]) for r in t41] == [10, 20]  # snapshot at 0.5, then the final weights
    assert [r["T"] for r in read_table(ws / "results/tables/coursework_4_2.csv")] == ["100", "100"]
    (snr_data,) = json.loads((ws / "results/analysis/snr.json").read_text())["datasets"].values()  # one data set
    snr = snr_data["schedules"]
    # the averaged log-SNR crosses 0 earlier for the linear schedule than for the cosine one (Fig 1)
    assert 0 < snr["linear"]["crossing_fraction"] < snr["cosine"]["crossing_fraction"] < 1
    assert (ws / "results/figures/snr.png").stat().st_size > 0
    log = (ws / "logs/train_ddgm/ddgm_a.log").read_text()
    assert "step/s" in log and "loss=" in log  # progress (steps, loss, rate) is logged
    assert_seed_replicate_pooled(ws)
    # nothing to do the second time
    assert [j for j in snakemake_jobs(ws) if j["rule"] != "all"] == []
    # one hyperparameter of one model reruns exactly that model's chain
    set_param(ws, "models.ddgm_b.train.lr", 0.002)
    jobs = snakemake_jobs(ws)
    counts = job_counts(jobs)
    counts.pop("all", None)
    assert counts == chain("ddgm_b")
    assert {tuple(j["output"])[0] for j in jobs if j["rule"] == "train_ddgm"} == {"models/ddgm_b/ema.safetensors"}
    # a sampling parameter reruns sampling, the evaluations that sample, and the tables; not training or nll
    set_param(ws, "models.ddgm_b.train.lr", 0.001)
    set_param(ws, "models.ddgm_a.sample.num_samples", 40)
    counts = job_counts(snakemake_jobs(ws))
    counts.pop("all", None)
    assert counts == {
        "sample": 1,
        "evaluate": 1,
        "evaluate_snapshots": 1,
        "sample_replicate": 1,  # ddgm_a's seed replicate samples with ddgm_a's sampling parameters
        "evaluate_replicate": 1,
        "table": len(TABLES),
        "sample_posthoc": 1,
        "evaluate_posthoc": 1,
        "posthoc_figure": 1,
        # ddgm_a is also the surrogate's base DDGM (its sampling precision is a parameter there)
        "sample_surrogate": len(SURROGATES),
        "evaluate_surrogate": len(SURROGATES),
        "surrogate_table": 1,
        "coursework_figures": 1,
        "claims": 1,
    }


# every table of the tiny preset: those of the table rule, Table 2, Table 4.5 and the DDDM table
ALL_TABLES = TABLES + ["deja_table2", "coursework_4_5", "dddm_table1"]


def run_outputs(ws: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """The tables (HTML, by name) and figures (PNG, by file name) the run wrote: all belong in the report. Every
    table has its HTML page beside its Markdown."""
    tables = {p.stem: p for p in (ws / "results/tables").glob("*.html")}
    figures = {p.name: p for p in (ws / "results/figures").rglob("*.png")}  # transferability/<source>.png too
    assert set(ALL_TABLES) <= set(tables) and len(figures) >= 15
    assert set(tables) == {p.stem for p in (ws / "results/tables").glob("*.md")}
    return tables, figures


def claims_summary(ws: Path) -> tuple[list[str], int]:
    """The claims table's summary columns and its number of findings (rows), from its Markdown."""
    lines = (ws / "results/tables/claims.md").read_text(encoding="utf-8").split("\n\n\n")[0].splitlines()
    table = [line for line in lines if line.startswith("|")]
    return [c.strip() for c in table[0].strip("|").split("|")], len(table) - 2


@e2e
def test_snakemake_report_holds_every_table_and_figure(tiny_run):
    """`snakemake --report` writes one self-contained HTML file: every table and figure of the run embedded,
    captioned, under its study."""
    ws, path, proc = tiny_run
    assert proc.returncode == 0, f"snakemake --report failed:\n{proc.stderr[-4000:]}"
    report = path.read_text(encoding="utf-8")
    assert not remote_references(report), "the report loads something from the network"
    results = {Path(p).name: r for p, r in embedded(report, "results").items()}
    categories = embedded(report, "categories")
    assert set(categories) == STUDIES
    tables, figures = run_outputs(ws)
    assert set(results) == {f"{t}.html" for t in tables} | set(figures)
    for name, page in tables.items():
        r = results[f"{name}.html"]
        assert f"results/tables/{name}.html" in categories[study_of(name)]["Tables"], name
        assert r["labels"]["table"].startswith(name), name
        assert ("reproduce" if name == "claims" else "Metric backends") in r["caption"], name
        if name in TABLE_BUILDERS:  # the caption shows what the table holds: its builder's docstring
            assert " ".join(inspect.getdoc(TABLE_BUILDERS[name]).split()[:6]) in " ".join(r["caption"].split()), name
        # an HTML page, drawn by the view button: the table file as written
        assert r["mime_type"] == "text/html" and decode_data_uri(r["data_uri"]) == page.read_bytes(), name
        assert not remote_references(page.read_text(encoding="utf-8")), name
    for name in figures:
        assert results[name]["mime_type"] == "image/png" and results[name]["caption"], name
    # the landing page starts (after its title) with the claims summary, the fragment the claims step wrote
    landing = embedded(report, "workflow-desc")
    fragment = (ws / "results/report/claims_summary.html").read_text(encoding="utf-8")
    assert "<table>" in fragment and fragment.strip() in landing
    start = landing.index(fragment.strip())
    assert landing.index("</h1>") < start < landing.index("One Snakemake DAG") and "<table" not in landing[:start]


@e2e
def test_snakemake_report_renders_in_headless_chromium(tiny_run, tmp_path):
    """The report as a reader sees it, offline: the landing page starts with the claims table; the driver opens
    every study, list and result; each figure renders as an image, each table as its HTML page (a table with
    intervals) in the content area; then a screenshot of a shown figure."""
    if chromium() is None:
        pytest.skip("headless check needs Debian's chromium (setup.sh installs it where apt-get can be used)")
    ws, path, proc = tiny_run
    assert proc.returncode == 0, f"snakemake --report failed:\n{proc.stderr[-4000:]}"
    seen, dom, screenshot = browse_report(path, tmp_path)
    assert seen["done"] and not seen["errors"], f"the driver stopped after {sorted(seen['results'])}: {seen['errors']}"
    assert set(seen["menu"]) == STUDIES and len(seen["menu"]) == len(STUDIES)  # the rendered menu: one entry per study
    rows = seen["results"]  # row label (as rendered) -> what the driver saw there
    assert all("description" in r["info"].lower() for r in rows.values()), "a result without its caption"
    tables, figures = run_outputs(ws)
    # the landing page: right after its title, the claims summary drawn as a table
    columns, findings = claims_summary(ws)
    landing = seen["landing"]
    assert landing["title"].startswith("diffrepro") and landing["firstAfterTitle"] == 1
    assert landing["tables"][0]["header"] == columns and landing["tables"][0]["rows"] == findings > 0
    for name, html_page in tables.items():
        found = [r for label, r in rows.items() if label.split()[0] == name]
        assert found, f"no row of {name} among {sorted(rows)}"
        r = found[0]
        # a study whose results are all tables shows them at once, without a list to choose (the driver: null)
        lists = set(seen["studies"][study_of(name)])
        assert (r["study"], r["list"], r["href"]) == (study_of(name), None if lists == {"null"} else "Tables", "#")
        # the view button shows the table's HTML page in the content area: a table with rows, no script
        page = r["page"]
        assert (page["file"], page["mime"], page["scripts"]) == (f"{name}.html", "text/html", 0), name
        assert decode_data_uri(page["src"]) == html_page.read_bytes(), name
        assert page["width"] > 300 and page["height"] > 300, name
        assert page["tables"] and all(t["header"] and t["rows"] > 0 for t in page["tables"]), name
        assert ("reproduce" if name == "claims" else "Metric backends") in r["info"], name
    # a metric with its interval reads `value [lo, hi]` in the drawn table, as in the Markdown
    deja1 = next(r["page"] for label, r in rows.items() if label.split()[0] == "deja_table1")
    header, first = deja1["tables"][0]["header"], deja1["tables"][0]["first"]
    fid = first[header.index("FID [Inception]")]
    assert re.fullmatch(r"-?[\d.]+ \[-?[\d.]+, -?[\d.]+\]", fid), fid
    assert f"| {fid} |" in (ws / "results/tables/deja_table1.md").read_text(encoding="utf-8")
    images = {r["image"]["file"]: r["image"] for r in rows.values() if "image" in r}
    assert set(images) == set(figures)
    assert all(img["mime"] == "image/png" and img["width"] > 0 and img["height"] > 0 for img in images.values())
    # the final state: a study's figures listed, one of them shown, in the DOM and in the screenshot
    page = dom[: dom.index('<pre id="report-check"')]
    assert seen["shown"]["study"] in page and seen["shown"]["label"] in page and '<img src="data:image/png' in page
    from PIL import Image

    with Image.open(screenshot) as shot:
        assert shot.size == (1400, 1000)
    assert image_colours(screenshot) > 100, "the screenshot is (nearly) one colour"


@e2e
def test_dvc_tiny_dag_end_to_end_and_pull_into_fresh_copy(tmp_path):
    """DVC runs stages one at a time, so this test keeps two of the tiny preset's models (the
    Snakemake test above runs them all); the mirrored DAG is the same code either way."""
    ws = make_workspace(tmp_path / "ws", dvc=True)
    keep_models(ws, {"ddgm_a", "ddgm_vlb", "daed_combine", "daed_combine_b", "ddgm_half"})
    remote = tmp_path / "remote"
    sh([tool("dvc"), "remote", "add", "-d", "local", str(remote)], ws)
    out = sh([tool("dvc"), "repro"], ws).stdout
    # check_params, prepare_data, train_classifier, snr, convert_inception and reference_features (one data set),
    # five stages per model, one per table, the coursework figures, the DAED steps (the composed DAED's too), the
    # claims
    assert len(dvc_repro_ran(out)) == (
        6
        + 5 * len(PER_MODEL_RULES)
        + len(COMPOSED_JOBS)
        + len(REPLICATE_RULES)
        + len(TABLES)
        + 1
        + len(POSTHOC_JOBS)
        + len(ANALYSES)
        + SURROGATE_DDDM_JOBS
        + 1
    )
    assert_tables_finite(ws, {"ddgm_a", "ddgm_vlb", "daed_combine"})
    assert_daed_outputs(ws)
    assert_surrogate_dddm_outputs(ws)
    assert sh([tool("dvc"), "status", "--json"], ws).stdout.strip() in ("{}", "")
    assert dvc_repro_ran(sh([tool("dvc"), "repro"], ws).stdout) == set()
    # the same inputs give the same bytes: prepare_data forced to run again reruns nothing downstream
    ran = dvc_repro_ran(sh([tool("dvc"), "repro", "--force", "--single-item", "prepare_data@digits"], ws).stdout)
    assert ran == {"prepare_data@digits"}
    assert sh([tool("dvc"), "status", "--json"], ws).stdout.strip() in ("{}", "")
    assert dvc_repro_ran(sh([tool("dvc"), "repro"], ws).stdout) == set()
    # a malformed parameter file is refused by the first stage, before any other stage runs or loses its outputs
    good = (ws / "params.yaml").read_text()
    weights = (ws / "models/ddgm_a/ema.safetensors").read_bytes()
    set_param(ws, "models.ddgm_a.train.ema_decay", 1.0)
    proc = sh([tool("dvc"), "repro"], ws, check=False)
    assert proc.returncode != 0 and dvc_repro_ran(proc.stdout) == {"check_params"}, proc.stdout[-2000:]
    assert (
        "models.ddgm_a.train.ema_decay: 1.0 is greater than or equal to the maximum of 1" in proc.stdout + proc.stderr
    )
    assert (ws / "models/ddgm_a/ema.safetensors").read_bytes() == weights
    (ws / "params.yaml").write_text(good)
    assert dvc_repro_ran(sh([tool("dvc"), "repro"], ws).stdout) <= {"check_params"}
    assert sh([tool("dvc"), "status", "--json"], ws).stdout.strip() in ("{}", "")
    sh([tool("dvc"), "push"], ws)

    # a fresh copy: code, params and dvc.lock (and the git-tracked metrics/tables) but no artifacts
    fresh = make_workspace(tmp_path / "fresh", dvc=True)
    shutil.copy2(ws / "params.yaml", fresh / "params.yaml")
    shutil.copy2(ws / "dvc.lock", fresh / "dvc.lock")
    sh([tool("dvc"), "remote", "add", "-d", "local", str(remote)], fresh)
    for rel in [
        "results/checks",
        "results/metrics",
        "results/tables",
        "results/train",
        "results/nll",
        "results/timing",
        "results/analysis",
        "results/report",
    ]:
        shutil.copytree(ws / rel, fresh / rel)
    sh([tool("dvc"), "pull"], fresh)
    assert sh([tool("dvc"), "status", "--json"], fresh).stdout.strip() in ("{}", "")
    sh([tool("diffrepro"), "after-pull"], fresh)
    assert [j for j in snakemake_jobs(fresh) if j["rule"] != "all"] == []
    assert dvc_repro_ran(sh([tool("dvc"), "repro"], fresh).stdout) == set()

    # one hyperparameter of one model reruns exactly its chain in DVC too
    set_param(ws, "models.ddgm_a.train.steps", 10)
    ran = dvc_repro_ran(sh([tool("dvc"), "repro"], ws).stdout)
    assert ran == (
        {"check_params"}  # the parameter file changed: checked first
        | {f"{rule}@ddgm_a" for rule in PER_MODEL_RULES}
        | {f"{rule}@{REPLICATE}" for rule in REPLICATE_RULES}
        | {f"table@{t}" for t in TABLES}
        | set(POSTHOC_JOBS)
        | {"reconstruction@digits", "reconstruction_figure"}
        | {"transferability@digits", "transferability_table", "transferability_figure@digits_pair", "toy_examples"}
        | {f"{rule}@{s}" for rule in ("sample_surrogate", "evaluate_surrogate") for s in SURROGATES}
        | {"surrogate_table", "coursework_figures", "claims"}
    )

    # comparing two parameter settings, as the README shows: commit, `dvc exp run -S`, then the diffs
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    sh(["git", "init", "-q"], ws)
    sh([tool("dvc"), "config", "--unset", "core.no_scm"], ws)
    # the workspace ran without git: `dvc commit` writes the .gitignore files `dvc repro` writes in a git repo
    sh([tool("dvc"), "commit", "-f", "-q"], ws)
    assert "/ddgm_vlb.safetensors" in (ws / "results/samples/.gitignore").read_text().split()
    sh(["git", "config", "user.name", "ci"], ws)
    sh(["git", "config", "user.email", "ci@example.org"], ws)
    sh(git + ["add", "-A"], ws)
    sh(git + ["commit", "-qm", "baseline"], ws)
    n_before = json.loads((ws / "results/metrics/ddgm/ddgm_vlb.json").read_text())["n_generated"]
    sh([tool("dvc"), "exp", "run", "-S", f"models.ddgm_vlb.sample.num_samples={n_before - 8}"], ws)
    params = json.loads(sh([tool("dvc"), "params", "diff", "--json"], ws).stdout)
    changed = params["params.yaml"]["models.ddgm_vlb.sample.num_samples"]
    assert (changed["old"], changed["new"]) == (n_before, n_before - 8)
    metrics = json.loads(sh([tool("dvc"), "metrics", "diff", "--json"], ws).stdout)
    vlb = metrics["results/metrics/ddgm/ddgm_vlb.json"]
    assert vlb["n_generated"]["new"] == n_before - 8 and vlb["n_generated"]["diff"] == -8
    for key in ("fid", "backends.inception.fid", "backends.classifier.fid", "backends.inception.sfid"):
        assert math.isfinite(vlb[key]["diff"]), key
    assert "results/metrics/ddgm/ddgm_a.json" not in metrics  # only the changed model's numbers moved
    shown = json.loads(sh([tool("dvc"), "exp", "show", "--json"], ws).stdout)
    assert shown and sh([tool("dvc"), "plots", "show", "--json"], ws).returncode == 0


def test_the_classifier_backend_is_a_condition_of_both_dags(tmp_path):
    """Without `classifier` in evaluation.backends neither tool trains a classifier or hands one to a step, and
    the reference-features steps write Inception's features alone; the DVC gate of a pipeline generated for one
    choice refuses a file (a `dvc exp run -S`) that makes the other."""
    from diffrepro.config import load_config
    from diffrepro.dag.dvc import dvc_yaml, pipeline_of
    from diffrepro.dag.steps import CLASSIFIER_BACKEND, STEPS

    config = load_config(REPO / "configs" / "tiny.yaml")
    both = dvc_yaml(config, pipeline_of(config, "configs/tiny.yaml"))
    config["evaluation"]["backends"] = ["inception"]
    alone = dvc_yaml(config, pipeline_of(config, "configs/tiny.yaml"))
    assert "  train_classifier:" in both and "  train_classifier:" not in alone
    assert re.search(r"--classifier\s", both) and not re.search(r"--classifier\s", alone)
    assert "classifier.safetensors" in both and "classifier.safetensors" not in alone
    assert "inception.safetensors" in alone
    assert "--condition classifier_backend=true" in both and "--condition classifier_backend=false" in alone
    conditional = {s.name for s in STEPS if CLASSIFIER_BACKEND in s.conditions}
    assert {"train_classifier", "reference_features", "evaluate", "evaluate_dddm"} <= conditional
    # the gate: the file chooses the classifier, the pipeline was generated without it
    proc = sh(
        [tool("diffrepro"), "validate-config", "configs/tiny.yaml", "--condition", "classifier_backend=false"],
        REPO,
        check=False,
    )
    assert proc.returncode == 1
    assert "evaluation.backends = ['inception', 'classifier']" in proc.stderr and "--write" in proc.stderr
