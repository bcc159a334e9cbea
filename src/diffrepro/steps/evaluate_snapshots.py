"""Step: the training-steps study: sample and evaluate the EMA weights kept at the ``train.snapshots``
fractions of training (the final weights are measured by sample/evaluate and joined by the tables)."""

from __future__ import annotations

from ..artifacts.ddgm import snapshot_files
from ..config import load_config, model_config
from ..devices import resolve_device
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_for, model_record
from ..runlog import get_logger
from ..sampling import sample_weights


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    device = resolve_device(args.device)
    evaluator = Evaluator.from_step_args(config, args, device, log.info)
    files = snapshot_files(args.snapshots)
    final = max(files)
    rows = []
    for step, path in files.items():
        if step == final:
            continue  # the final weights are the model's own row (sample + evaluate)
        samples, _seconds, _ = sample_weights(
            str(path),
            mcfg,
            seed=config["seed"],
            stream=f"{args.model}@{step}",
            device=device,
            desc=f"sample {args.model}@{step}",
            speed=config["speed"],
        )
        metrics, dmeta = metrics_for(samples, evaluator, desc=f"{args.model}@{step}")
        rows.append({"step": step, **metrics})
        log.info("%s at step %d: FID %.3f", args.model, step, metrics["fid"])
    write_metrics(
        args.out, args.out_bootstrap, {**model_record(args.model, mcfg), "final_step": final, "snapshots": rows}
    )
    log.info("wrote %s (%d snapshots)", args.out, len(rows))
