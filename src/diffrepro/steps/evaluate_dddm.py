"""Step: FID, KID, precision/recall and the classifier score of one DDDM's samples at every NFE."""

from __future__ import annotations

import json

from ..atomic import write_json
from ..config import load_config
from ..evaluation.sample_files import KEPT_METRICS, load_sample_file
from ..runlog import get_logger
from .common import resolve_device
from .metric_inputs import add_metric_arguments, make_evaluator
from .evaluate import metrics_for

NAME = "evaluate-dddm"
HELP = "metrics of one DDDM run's samples for every number of sampling steps (NFE)"


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, help="DDDM run name (a key of dddm.runs)")
    p.add_argument("--samples", required=True, help="sample-dddm output (.safetensors)")
    add_metric_arguments(p)
    p.add_argument("--out", required=True, help="output: metrics per NFE (.json)")


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    runs = config["dddm"]["runs"]
    if args.run not in runs:
        raise ValueError(f"--run {args.run!r} is not one of dddm.runs ({', '.join(sorted(runs))})")
    tensors, meta = load_sample_file(args.samples, ("run", "nfe", "num_samples"), "sample-dddm")
    if meta["run"] != args.run:
        raise ValueError(f"{args.samples} holds samples of run {meta['run']!r}, not {args.run!r}")
    device = resolve_device(args.device)
    evaluator = make_evaluator(args, config, device, log.info)
    rows = []
    for nfe in [int(k) for k in meta["nfe"].split(",")]:
        metrics, dmeta = metrics_for(tensors[f"images_nfe{nfe}"], evaluator, desc=f"{args.run} NFE={nfe}")
        rows.append({"nfe": nfe, **{k: metrics.get(k) for k in KEPT_METRICS},
                     "samples_per_second": float(meta[f"samples_per_second_nfe{nfe}"])})
        log.info("%s NFE=%d: FID %.3f", args.run, nfe, metrics["fid"])
    reportable = meta.get("reportable", "true").lower() == "true"
    write_json(args.out, {
        "run": args.run, "metric": runs[args.run]["metric"], "reportable": reportable,
        "main": args.run == config["dddm"]["main"], "timesteps": config["dddm"]["timesteps"],
        "num_samples": int(meta["num_samples"]), "dataset": dmeta.get("dataset"), "resolution": dmeta.get("resolution"),
        "reference_split": config["evaluation"]["reference_split"], "rows": rows,
        "metric_spec": json.dumps(runs[args.run]["metric"], sort_keys=True),
    })
    log.info("wrote %s", args.out)
