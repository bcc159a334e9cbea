"""Step: quality of one study's post-hoc DAEDs against their split points (Deja et al. Fig 4): FID, KID and
precision/recall of each split point's samples, with the split step, its share of the steps and the
log-SNR of the forward marginal there, beside the generator DDGM's own metrics (a CSV per study;
``diffrepro posthoc-figure`` draws them all).  The cost of each split is its
count of network calls (exact); the wall-clock seconds per sample lie in sample-posthoc's timing file
(:mod:`diffrepro.timing`), so that this step's outputs are the same bytes on every run."""

from __future__ import annotations

from pathlib import Path

from ..atomic import read_json
from ..config import ConfigError, daed_config, load_config, model_config, posthoc_splits
from ..csvio import write_csv
from ..devices import resolve_device
from ..diffusion.schedules import alphas_cumprod, log_snr
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_for
from ..evaluation.sample_files import load_samples
from ..factory import build_betas
from ..posthoc import split_of
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
    studies = daed_config(config).posthoc.studies
    if args.study not in studies:
        raise ConfigError(f"--study {args.study!r} is not one of daed.posthoc.studies ({', '.join(studies)})")
    gen_name = studies[args.study].generator
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
        metrics, _ = metrics_for(images, evaluator, desc=f"DAED {args.study}/{label}")
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
        log.info("DAED %s/%s (s=%d, log-SNR %.2f): FID %.3f", args.study, label, s, float(lsnr[s]), metrics["fid"])
    ddgm = read_json(args.generator_metrics)
    record = {
        "study": args.study,
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
