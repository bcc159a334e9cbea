"""``diffrepro gpu-hours``: the compute of a parameter file's DAG on one H100, job by job, beside the papers'.

Every job that trains or runs a network is one row (:func:`dag_jobs`):

* training: every model (``train.steps x train.batch_size`` images), every post-hoc DAE fine-tuning
  (``daed.posthoc.train``, one per split point), every GAN (``train.steps`` generator updates x
  ``batch_size``), every DDDM run (``epochs`` x the images used: ``subset`` or the data set's training
  split, :data:`.workloads.DATASET_INFO`);
* sampling and evaluation, counted in network evaluations of one image: every model's samples
  (``num_samples x NFE``), its EMA snapshots' samples (evaluate-snapshots), its exact NLL (``nll_images x
  T``), the post-hoc DAED samples (the generator's full chain once, then one DAE pass per split point),
  the surrogate samples (the surrogate: a GAN once, a low-resolution DDGM ``T - t_mid`` steps per ``t_mid``; then
  ``t_mid`` steps of the base model per ``t_mid``) and the DDDM
  samples (``num_samples x NFE`` for every NFE).

Hours come from ``--bench`` files (:mod:`.bench`): a row whose network (same ``cost_key``) was measured on
a CUDA device uses the measured throughput of ``--variant`` (``all`` by default, else ``plain``) directly.
Otherwise -- a CPU-only benchmark, or a network no benchmark holds -- the hours are an *estimate from FLOPs*:
the model FLOPs of the job (from the benchmark when it holds the network, else counted here with
:func:`.bench.workload_flops`) at an assumed model-FLOP utilisation ``--mfu`` of the H100 SXM's dense bf16
peak (:data:`.flops.PEAK_TFLOPS`). The table says which, row by row.

Left out (each small beside the rows): data preparation, the feature-extractor classifier's training,
the metric networks' feature extraction (Inception, classifier) and the analyses (SNR, reconstruction,
transferability, toy examples, dynamics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import read_json, write_text
from ..config import load_config
from ..csvio import csv_text
from ..runlog import get_logger
from .flops import H100_SXM, PEAK_TFLOPS
from .workloads import Workload, all_workloads, data_geometry

__all__ = [
    "PAPER_COMPUTE",
    "Job",
    "dag_jobs",
    "Throughput",
    "resolve_throughput",
    "build_rows",
    "render",
    "add_arguments",
    "main",
]

DEFAULT_MFU = 0.3
DEJA = "Deja et al. 2022"

#: The papers' statements of their compute (quoted in the table's notes).
PAPER_COMPUTE: dict[str, dict[str, Any]] = {
    "deja_fashion_mnist": {
        "gpu_hours": 35.0,
        "text": "~35 h on 1 GPU (GTX 1080 Ti), 100k steps",
        "source": f"{DEJA}, appendix 'Computational resources': \"Full training of our model on FashionMNIST for 100k "
        'steps on a single GPU took approximately 35 hours" (GeForce 1080Ti); "valid for training of both '
        'DDGM and DAED"',
    },
    "deja_cifar_celeba": {
        "gpu_hours": 4 * 48.0,
        "text": "~48 h on 4 GPUs (Titan RTX) = ~192 GPU-h",
        "source": f'{DEJA}, same appendix: "For CIFAR and CelebA we used parallel computation based with four GPUs. '
        'Full training with this setup took approximately 48 hours" (Titan RTX)',
    },
    "dddm": {
        "gpu_hours": None,
        "text": "8x A100, hours not stated",
        "source": 'Zhang et al. 2024 (DDDM), Sec. 5.1: "All models are trained on 8 Nvidia A100 GPUs" '
        "(no duration given)",
    },
    "coursework_4_3": {
        "gpu_hours": None,
        "text": "Table 4.3: {h} h on 1 V100",
        "source": 'coursework report, Sec. 4 ("We train and evaluate our models on a single Tesla V100 GPU"), '
        "Table 4.3 'Train time (hours)'; Table 4.4 gives the objectives' train time relative to DDPM "
        "(Table 4.3's Default, 20.66 h), so their hours here are that ratio x 20.66 h",
    },
}


def _paper_for_model(config: Mapping[str, Any], name: str) -> str | None:
    from ..config import model_config
    from ..reporting.paper_values import COURSEWORK_TABLE_4_3, COURSEWORK_TABLE_4_4

    model = config["models"][name]
    tables = {k: v for k, v in model_config(config, name).tables.items() if v}  # the paper rows it reproduces
    parts = []
    arch_rows, obj_rows = COURSEWORK_TABLE_4_3.get("cifar10", {}), COURSEWORK_TABLE_4_4.get("cifar10", {})
    if tables.get("coursework_4_3") in arch_rows:
        parts.append(PAPER_COMPUTE["coursework_4_3"]["text"].format(h=arch_rows[tables["coursework_4_3"]]["Train h"]))
    elif tables.get("coursework_4_4") in obj_rows and "Default" in arch_rows:
        ratio = obj_rows[tables["coursework_4_4"]]["Time ratio"]
        parts.append(f"Table 4.4: {ratio:g} x DDPM = {ratio * arch_rows['Default']['Train h']:.1f} h on 1 V100")
    if any(k.startswith("deja") for k in tables):
        dataset = data_geometry(config, model)["dataset"]
        if dataset == "fashion_mnist":
            parts.append(PAPER_COMPUTE["deja_fashion_mnist"]["text"])
        elif dataset in ("cifar10", "celeba64"):
            parts.append(PAPER_COMPUTE["deja_cifar_celeba"]["text"])
    return "; ".join(parts) or None


@dataclass
class Job:
    """One row: ``count`` units of ``unit`` (``train``: images through a training step; ``forward``:
    network evaluations of one image) of workload ``workload``."""

    name: str
    category: str  # "train" or "sample/eval"
    workload: str
    unit: str  # "train" or "forward"
    count: int
    work: str
    paper: str | None = None


def dag_jobs(config: Mapping[str, Any], workloads: Mapping[str, Workload] | None = None) -> list[Job]:
    """The training and sampling/evaluation jobs of ``config`` (see the module docstring)."""
    from ..config import model_config
    from ..diffusion.samplers import check_steps
    from ..diffusion.surrogate import chain_steps, t_mid_steps
    from ..training.ddgm import snapshot_steps

    workloads = workloads if workloads is not None else all_workloads(config)
    jobs: list[Job] = []
    for name in config["models"]:
        t = model_config(config, name).train
        jobs.append(
            Job(
                f"train-ddgm {name}",
                "train",
                name,
                "train",
                t.steps * t.batch_size,
                f"{t.steps} steps x {t.batch_size}",
                _paper_for_model(config, name),
            )
        )
    post = (config.get("daed") or {}).get("posthoc")
    studies = post["studies"] if post else {}
    for study, entry in studies.items():
        t = post["train"]
        for point in post["split_points"]:
            jobs.append(
                Job(
                    f"train-dae {entry['generator']}@{point}",
                    "train",
                    f"daed/posthoc/{study}",
                    "train",
                    t["steps"] * t["batch_size"],
                    f"{t['steps']} steps x {t['batch_size']}",
                )
            )
    for name, g in (config.get("gans") or {}).items():
        t = g["train"]
        jobs.append(
            Job(
                f"train-gan {name}",
                "train",
                f"gans/{name}",
                "train",
                t["steps"] * t["batch_size"],
                f"{t['steps']} generator updates x {t['batch_size']} (n_dis {t['n_dis']})",
            )
        )
    dddm = config.get("dddm")
    if dddm:
        t = dddm["train"]
        for run in dddm["runs"]:
            n_all = data_geometry(config, dddm["runs"][run])["train"]  # the run's data set
            n = n_all if t["subset"] is None else min(int(t["subset"]), n_all)
            epochs = dddm["runs"][run].get("epochs") or t["epochs"]  # a run's own epochs (Table 3's sweep)
            jobs.append(
                Job(
                    f"train-dddm {run}",
                    "train",
                    f"dddm/{run}",
                    "train",
                    epochs * n,
                    f"{epochs} epochs x {n} images",
                    PAPER_COMPUTE["dddm"]["text"],
                )
            )

    nll_images = config["evaluation"]["nll_images"]
    nll_steps = config["evaluation"].get("nll_steps")  # null: all T steps of the bound
    for name in config["models"]:
        mcfg = model_config(config, name)
        s = mcfg.sample
        nfe = check_steps(mcfg.timesteps, s.steps)
        jobs.append(
            Job(
                f"sample {name}",
                "sample/eval",
                name,
                "forward",
                s.num_samples * nfe,
                f"{s.num_samples} samples x {nfe} NFE",
            )
        )
        snaps = [st for st in snapshot_steps(mcfg.train) if st != mcfg.train.steps]
        if snaps:
            jobs.append(
                Job(
                    f"evaluate-snapshots {name}",
                    "sample/eval",
                    name,
                    "forward",
                    len(snaps) * s.num_samples * nfe,
                    f"{len(snaps)} snapshot(s) x {s.num_samples} samples x {nfe} NFE",
                )
            )
        nll_k = mcfg.timesteps if nll_steps is None else min(int(nll_steps), mcfg.timesteps)
        jobs.append(
            Job(
                f"nll {name}",
                "sample/eval",
                name,
                "forward",
                nll_images * nll_k,
                f"{nll_images} images x T={mcfg.timesteps}"
                + (f" (the {nll_k}-step respaced bound)" if nll_k < mcfg.timesteps else ""),
            )
        )
    for study, entry in studies.items():
        gen = model_config(config, entry["generator"])
        n, T = gen.sample.num_samples, gen.timesteps
        jobs.append(
            Job(
                f"sample-posthoc {entry['generator']} (generator chain)",
                "sample/eval",
                entry["generator"],
                "forward",
                n * T,
                f"{n} samples x T={T}",
            )
        )
        k = len(post["split_points"])
        jobs.append(
            Job(
                f"sample-posthoc {study} (DAE passes)",
                "sample/eval",
                f"daed/posthoc/{study}",
                "forward",
                k * n,
                f"{k} split points x {n} samples x 1",
            )
        )
    for name, entry in ((config.get("daed") or {}).get("composed") or {}).items():  # sampled as the generator's model
        gen = model_config(config, entry["generator"])
        n, nfe = gen.sample.num_samples, check_steps(gen.timesteps, gen.sample.steps)
        jobs.append(
            Job(
                f"sample-composed {name}",
                "sample/eval",
                entry["generator"],
                "forward",
                n * nfe,
                f"{n} samples x {nfe} NFE",
            )
        )
    sur = config.get("surrogate")
    if sur:
        n = sur["num_samples"]
        base = model_config(config, sur["base_model"])
        mids = t_mid_steps(sur["t_mid"], base.timesteps)
        # the calls of each t_mid's chains (all T steps unless surrogate.steps respaces them): below t_mid the base
        # model's, from t_mid up a low-resolution surrogate's
        kept = [chain_steps(base.timesteps, t, sur.get("steps")) for t in mids]
        below = [sum(s < t for s in k) for t, k in zip(mids, kept)]
        for name in sur["surrogates"]:
            if name in (config.get("gans") or {}):
                jobs.append(
                    Job(
                        f"sample-surrogate {name} (GAN samples)",
                        "sample/eval",
                        f"gans/{name}",
                        "forward",
                        n,
                        f"{n} samples x 1",
                    )
                )
            else:
                low = [len(k) - b for k, b in zip(kept, below)]  # its steps T-1 .. t_mid, for every t_mid
                jobs.append(
                    Job(
                        f"sample-surrogate {name} (low-resolution steps to t_mid)",
                        "sample/eval",
                        name,
                        "forward",
                        n * sum(low),
                        f"{n} samples x T - t_mid {'+'.join(map(str, low))}",
                    )
                )
            jobs.append(
                Job(
                    f"sample-surrogate {name} (base {sur['base_model']} from t_mid)",
                    "sample/eval",
                    sur["base_model"],
                    "forward",
                    n * sum(below),
                    f"{n} samples x t_mid {'+'.join(map(str, below))}",
                )
            )
    if dddm:
        s = dddm["sample"]
        nfes = [int(k) for k in s["steps"]]
        for run in dddm["runs"]:
            jobs.append(
                Job(
                    f"sample-dddm {run}",
                    "sample/eval",
                    f"dddm/{run}",
                    "forward",
                    s["num_samples"] * sum(nfes),
                    f"{s['num_samples']} samples x NFE {'+'.join(map(str, nfes))}",
                )
            )
    unknown = sorted({j.workload for j in jobs} - set(workloads))
    if unknown:
        raise ValueError(f"jobs name workloads {unknown} that the parameter file does not define")
    return jobs


@dataclass
class Throughput:
    """How fast one workload runs on the GPU of the table, per unit (``train``/``forward``), and why."""

    train_per_s: float
    forward_per_s: float
    flops: dict[str, float]
    source: str
    measured: bool


def _bench_entry(benches: list[dict[str, Any]], w: Workload) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (bench document, workload entry) that measured ``w``'s network: a CUDA one first, then any."""
    found = [
        (doc, key, entry)
        for doc in benches
        for key, entry in doc["workloads"].items()
        if entry["cost_key"] == w.cost_key
    ]
    found.sort(key=lambda f: (f[0]["device"]["type"] != "cuda", f[1] != w.key))  # stable: earlier files first
    return (found[0][0], found[0][2]) if found else None


def resolve_throughput(
    w: Workload,
    benches: list[dict[str, Any]],
    *,
    mfu: float,
    variant: str,
    count_flops: Callable[[Workload], dict[str, float]],
) -> Throughput:
    """Measured throughput when a CUDA benchmark holds ``w``'s network; else the FLOPs estimate at ``mfu``."""
    hit = _bench_entry(benches, w)
    if hit is not None:
        doc, entry = hit
        flops = entry["flops"]
        if doc["device"]["type"] == "cuda":
            for v in (variant, "plain"):
                res = entry["results"].get(v, {})
                if "train" in res:
                    sample = res["sample"] or entry["results"]["plain"].get("sample")
                    return Throughput(
                        res["train"]["images_per_s"],
                        sample["evals_per_s"],
                        flops,
                        f"measured: {doc['device']['name']}, variant {v}, batch {entry['train_batch']}/"
                        f"{entry['sample_batch']}",
                        True,
                    )
        flop_source = f"FLOPs of the {doc['device']['type']} benchmark"
    else:
        flops = count_flops(w)
        flop_source = "FLOPs counted here"
    peak = PEAK_TFLOPS[H100_SXM]["bf16"] * 1e12
    return Throughput(
        mfu * peak / flops["train_step_per_image"],
        mfu * peak / flops["forward_per_image"],
        flops,
        f"estimate from FLOPs ({flop_source}, MFU {mfu:g})",
        False,
    )


def build_rows(
    config: Mapping[str, Any],
    benches: list[dict[str, Any]],
    *,
    mfu: float = DEFAULT_MFU,
    variant: str = "all",
    count_flops: Callable[[Workload], dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """One dict per job (and the totals): the numbers of the table."""
    if not 0 < mfu <= 1:
        raise ValueError(f"--mfu must be in (0, 1], got {mfu}")
    if count_flops is None:
        from .bench import workload_flops

        count_flops = workload_flops
    workloads = all_workloads(config)
    through: dict[str, Throughput] = {}
    rows = []
    for job in dag_jobs(config, workloads):
        if job.workload not in through:
            through[job.workload] = resolve_throughput(
                workloads[job.workload], benches, mfu=mfu, variant=variant, count_flops=count_flops
            )
        tp = through[job.workload]
        per_unit = tp.flops["train_step_per_image" if job.unit == "train" else "forward_per_image"]
        rate = tp.train_per_s if job.unit == "train" else tp.forward_per_s
        rows.append(
            {
                "Job": job.name,
                "Kind": job.category,
                "Workload": job.workload,
                "Data": workloads[job.workload].dataset,
                "Work": job.work,
                "Units": job.count,
                "Unit": "images (training step)" if job.unit == "train" else "image-evaluations",
                "GFLOP/unit": per_unit / 1e9,
                "PFLOP": job.count * per_unit / 1e15,
                "Units/s": rate,
                "H100 hours": job.count / rate / 3600.0,
                "Measured": tp.measured,
                "Source": tp.source,
                "Paper compute": job.paper or "",
            }
        )
    for label, kinds in (
        ("Total training", {"train"}),
        ("Total sampling/evaluation", {"sample/eval"}),
        ("Total", {"train", "sample/eval"}),
    ):
        sel = [r for r in rows if r["Kind"] in kinds]
        rows.append(
            {
                "Job": label,
                "Kind": "total",
                "Workload": "",
                "Data": "",
                "Work": "",
                "Units": None,
                "Unit": "",
                "GFLOP/unit": None,
                "PFLOP": sum(r["PFLOP"] for r in sel),
                "Units/s": None,
                "H100 hours": sum(r["H100 hours"] for r in sel),
                "Measured": all(r["Measured"] for r in sel),
                "Source": "",
                "Paper compute": "",
            }
        )
    return rows


COLUMNS = [
    "Job",
    "Kind",
    "Workload",
    "Data",
    "Work",
    "Units",
    "Unit",
    "GFLOP/unit",
    "PFLOP",
    "Units/s",
    "H100 hours",
    "Measured",
    "Source",
    "Paper compute",
]


def _fmt(value: Any, col: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if col == "Units":
        return f"{value:,}"
    if col in ("GFLOP/unit", "PFLOP", "Units/s", "H100 hours"):
        return f"{value:.4g}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def render(rows: list[dict[str, Any]], *, params: str, benches: list[str], mfu: float, variant: str) -> tuple[str, str]:
    """``(markdown, csv)`` of the table with its notes."""
    measured = any(r["Measured"] for r in rows if r["Kind"] != "total")
    estimated = any(not r["Measured"] for r in rows if r["Kind"] != "total")
    cols = [c for c in COLUMNS if c not in ("Kind", "Unit", "Measured")]
    lines = [f"# GPU-hours of the DAG of `{params}` on one H100", ""]
    if estimated:
        lines += [
            f"**Rows marked 'estimate from FLOPs' are estimates, not measurements**: the job's model FLOPs at an "
            f"assumed model-FLOP utilisation of {mfu:g} of the H100 SXM's dense bf16 peak "
            f"({PEAK_TFLOPS[H100_SXM]['bf16']} TFLOP/s), i.e. "
            f"{mfu * PEAK_TFLOPS[H100_SXM]['bf16']:.1f} TFLOP/s sustained (`--mfu`).",
            "",
        ]
    if measured:
        lines += [
            f"Measured rows use the benchmark's throughput of variant `{variant}` (falling back to `plain`) "
            "at the benchmark's batch sizes.",
            "",
        ]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        cells = [_fmt(r[c], c) for c in cols]
        if r["Kind"] == "total":
            cells = [f"**{x}**" if x else "" for x in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Notes:",
        "",
        "- Units: a training row counts images through a full training step (forward, backward, optimiser, EMA; "
        "for a GAN one generator update with its discriminator updates per image of the batch); a sampling or "
        "evaluation row counts network evaluations of one image (NFE per sample). Units/s is the throughput "
        "on the GPU; H100 hours = Units / (Units/s) / 3600.",
        "- Model FLOPs: matrix products and convolutions, forward and backward, counted by "
        "torch.utils.flop_counter.FlopCounterMode (elementwise work is not counted, as in MFU).",
        "- Left out: data preparation, the classifier's training, feature extraction for the metrics "
        "(Inception, classifier) and the analyses (SNR, reconstruction, transferability, toy examples, dynamics).",
        "- The DDDM's first epoch evaluates one metric term (w = 1) and the others two; every epoch is costed "
        "with two. LPIPS metrics are costed with their VGG/AlexNet backbone at 224x224.",
        "- The papers' compute, beside the training rows, is as stated by the papers (other GPUs, other "
        "step counts than this file's):",
    ]
    for key in ("deja_fashion_mnist", "deja_cifar_celeba", "coursework_4_3", "dddm"):
        lines.append(f"  - {PAPER_COMPUTE[key]['source']}.")
    lines += ["", f"Benchmarks: {', '.join(f'`{b}`' for b in benches) if benches else 'none'}.", ""]
    return "\n".join(lines), csv_text(COLUMNS, rows)


def add_arguments(p) -> None:
    p.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    p.add_argument(
        "--bench",
        action="append",
        default=[],
        help="a `diffrepro bench` JSON (repeatable); CUDA measurements are used directly, CPU ones for FLOPs",
    )
    p.add_argument(
        "--mfu",
        type=float,
        default=DEFAULT_MFU,
        help=f"assumed model-FLOP utilisation of the H100 bf16 dense peak for FLOP estimates (default {DEFAULT_MFU})",
    )
    p.add_argument(
        "--variant", default="all", help="the benchmark variant whose measured throughput is used (default all)"
    )
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX.md and PREFIX.csv")


def main(args) -> None:
    config = load_config(args.params)
    benches = [read_json(b) for b in args.bench]
    from .bench import validate_bench

    for path, doc in zip(args.bench, benches):
        try:
            validate_bench(doc)
        except Exception as exc:
            raise ValueError(f"{path} is not a `diffrepro bench` file: {exc}") from exc
    rows = build_rows(config, benches, mfu=args.mfu, variant=args.variant)
    md, table = render(rows, params=args.params, benches=args.bench, mfu=args.mfu, variant=args.variant)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out.with_name(out.name + ".md"), md)
    write_text(out.with_name(out.name + ".csv"), table)
    total = rows[-1]["H100 hours"]
    get_logger().info("wrote %s.md and %s.csv: %.1f H100 hours in all", out, out, total)
    print(
        f"{total:.1f} H100 hours in all ({rows[-3]['H100 hours']:.1f} training, {rows[-2]['H100 hours']:.1f} "
        f"sampling/evaluation); see {out}.md"
    )
