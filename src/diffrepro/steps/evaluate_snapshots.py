"""Step: the training-steps study: sample and evaluate the EMA weights kept at the ``train.snapshots``
fractions of training (the final weights are measured by sample/evaluate and joined by the tables)."""

from __future__ import annotations

import re
from pathlib import Path

from ..atomic import write_json
from ..config import load_config, model_config
from ..runlog import get_logger
from .common import resolve_device
from .metric_inputs import add_metric_arguments, make_evaluator
from .evaluate import metrics_for, model_record
from .sample import build_model, draw_samples, to_data_resolution

NAME = "evaluate-snapshots"
HELP = "sample and evaluate a model's intermediate EMA snapshots (training-steps study)"

SNAPSHOT = re.compile(r"^ema_step_(\d{8})\.safetensors$")


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--snapshots", required=True, help="snapshot folder written by train-ddgm")
    add_metric_arguments(p)
    p.add_argument("--out", required=True, help="output: metrics per snapshot step (.json)")


def snapshot_files(folder: str) -> dict[int, Path]:
    found = {}
    for path in Path(folder).iterdir():
        m = SNAPSHOT.match(path.name)
        if m:
            found[int(m.group(1))] = path
    if not found:
        raise FileNotFoundError(f"{folder}: no ema_step_XXXXXXXX.safetensors files; rerun train-ddgm")
    return dict(sorted(found.items()))


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    device = resolve_device(args.device)
    evaluator = make_evaluator(args, config, device, log.info)
    files = snapshot_files(args.snapshots)
    final = max(files)
    rows = []
    for step, path in files.items():
        if step == final:
            continue  # the final weights are the model's own row (sample + evaluate)
        model, image_size, channels, wmeta = build_model(str(path), mcfg, device)
        samples, seconds = draw_samples(model, mcfg, image_size, channels, seed=config["seed"],
                                        stream=f"{args.model}@{step}", device=device,
                                        desc=f"sample {args.model}@{step}", speed=config.get("speed"))
        samples = to_data_resolution(samples, wmeta)
        metrics, dmeta = metrics_for(samples, evaluator, desc=f"{args.model}@{step}")
        rows.append({"step": step, **metrics, "samples_per_second": samples.shape[0] / seconds})
        log.info("%s at step %d: FID %.3f", args.model, step, metrics["fid"])
    write_json(args.out, {**model_record(args.model, mcfg), "final_step": final, "snapshots": rows})
    log.info("wrote %s (%d snapshots)", args.out, len(rows))
