"""Step: FID, KID, precision/recall and the classifier score of one DDDM's samples at every NFE."""

from __future__ import annotations

import json

from ..config import dddm_run, load_config
from ..devices import resolve_device
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_per_set
from ..evaluation.sample_files import load_sample_file
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    dddm, _ = dddm_run(config, args.run)  # the section as this run trains it (its own T)
    runs = dddm.runs
    tensors, meta = load_sample_file(args.samples, ("run", "nfe", "num_samples"), "sample-dddm", {"run": args.run})
    device = resolve_device(args.device)
    evaluator = Evaluator.from_step_args(config, args, device, log.info, split=dddm.reference_split)
    rows = []
    sets = metrics_per_set(tensors, meta["nfe"], "nfe", evaluator, lambda nfe: f"{args.run} NFE={nfe}")
    for nfe, metrics, kept, dmeta in sets:  # noqa: B007 (dmeta: every set's data set; read after the loop)
        rows.append(
            {
                "nfe": nfe,
                **kept,
            }
        )
        log.info("%s NFE=%d: FID %.3f", args.run, nfe, metrics["fid"])
    reportable = meta.get("reportable", "true").lower() == "true"
    write_metrics(
        args.out,
        args.out_bootstrap,
        {
            "run": args.run,
            "metric": runs[args.run].as_dict()["metric"],
            "reportable": reportable,
            "main": args.run == dddm.main,
            "epochs": dddm.train.epochs,
            "num_res_blocks": dddm.unet.num_res_blocks,
            "timesteps": dddm.timesteps,
            "num_samples": int(meta["num_samples"]),
            "dataset": dmeta.get("dataset"),
            "resolution": dmeta.get("resolution"),
            "reference_split": dddm.reference_split,
            "rows": rows,
            "metric_spec": json.dumps(runs[args.run].as_dict()["metric"], sort_keys=True),
        },
    )
    log.info("wrote %s", args.out)
