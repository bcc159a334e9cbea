"""Step: quality of the post-hoc DAEDs against their split points (Deja et al. Fig 4): FID, KID and
precision/recall of each split point's samples, with the split step, its share of the steps and the
log-SNR of the forward marginal there, beside the generator DDGM's own metrics.  The cost of each split is its
count of network calls (exact); the wall-clock seconds per sample lie in sample-posthoc's timing file
(:mod:`diffrepro.timing`), so that this step's outputs are the same bytes on every run."""

from __future__ import annotations

import math
from pathlib import Path

from ..atomic import read_json
from ..config import daed_config, load_config, model_config, posthoc_splits
from ..csvio import write_csv
from ..devices import resolve_device
from ..diffusion.schedules import alphas_cumprod, log_snr
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_for
from ..evaluation.sample_files import load_samples
from ..factory import build_betas
from ..posthoc import split_of
from ..reporting.figure_io import save_figure
from ..runlog import get_logger

COLUMNS = [
    "split",
    "beta_1",
    "split_step",
    "t_fraction",
    "log_snr",
    "fid",
    "kid_mean",
    "precision",
    "recall",
    "generator_calls",
]


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    gen_name = daed_config(config).posthoc.generator
    mcfg = model_config(config, gen_name)
    device = resolve_device(args.device)
    evaluator = Evaluator.from_step_args(config, args, device, log.info)
    lsnr = log_snr(alphas_cumprod(build_betas(mcfg)))
    T = mcfg.timesteps
    rows = []
    for label in posthoc_splits(config):
        point, s = split_of(config, label, mcfg)
        images, meta = load_samples(str(Path(args.samples) / f"{label}.safetensors"))
        if int(meta.get("split_step", -1)) != s:
            raise ValueError(
                f"{args.samples}/{label}.safetensors holds split step {meta.get('split_step')}, "
                f"params say {s}; rerun sample-posthoc"
            )
        metrics, _ = metrics_for(images, evaluator, desc=f"DAED {label}")
        rows.append(
            {
                "split": label,
                "beta_1": point,
                "split_step": s,
                "t_fraction": (s + 1) / T,
                "log_snr": float(lsnr[s]),
                "generator_calls": int(meta["generator_calls"]),
                **metrics,
            }
        )
        log.info("DAED %s (s=%d, log-SNR %.2f): FID %.3f", label, s, float(lsnr[s]), metrics["fid"])
    ddgm = read_json(args.generator_metrics)
    record = {
        "generator": gen_name,
        "timesteps": T,
        "generator_metrics": {
            k: ddgm.get(k)
            for k in (
                "fid",
                "kid_mean",
                "precision",
                "recall",
                "prd_precision",
                "prd_recall",
                "sfid",
                "backend",
                "backends",
            )
        },
        "splits": rows,
        "dataset": ddgm.get("dataset"),
        "resolution": ddgm.get("resolution"),
        "n_generated": ddgm.get("n_generated"),
        "feature_extractor": ddgm.get("feature_extractor"),
        "backend": ddgm.get("backend"),
    }
    write_metrics(args.out, args.out_bootstrap, record)
    ddgm_row = [
        "ddgm",
        "",
        "",
        "",
        "",
        ddgm.get("fid"),
        ddgm.get("kid_mean"),
        ddgm.get("precision"),
        ddgm.get("recall"),
        T,
    ]
    write_csv(args.out_csv, COLUMNS, [[_fmt(v) for v in ddgm_row]] + [[_fmt(r[c]) for c in COLUMNS] for r in rows])
    _figure(rows, ddgm.get("fid"), gen_name, args.out_png, args.out_svg)


def _figure(rows: list[dict], ddgm_fid: float | None, gen_name: str, path: str, svg_path: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    pts = sorted(rows, key=lambda r: r["log_snr"])
    ax.plot([r["log_snr"] for r in pts], [r["fid"] for r in pts], "o-", label="post-hoc DAED")
    for r in pts:
        ax.annotate(r["split"], (r["log_snr"], r["fid"]), textcoords="offset points", xytext=(3, 4), fontsize=7)
    if ddgm_fid is not None and math.isfinite(ddgm_fid):
        ax.axhline(ddgm_fid, color="gray", linestyle="--", label=f"DDGM ({gen_name})")
    ax.set(xlabel="log-SNR at the split point", ylabel="FID", title="FID vs split point (Deja et al. Fig 4)")
    ax.invert_xaxis()
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
