"""Step: FID, KID, precision/recall (and the classifier-logit score) of one model's samples."""

from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..atomic import write_json
from ..config import load_config, model_config
from ..runlog import get_logger
from .common import resolve_device
from .metric_inputs import add_metric_arguments, dataset_of, make_evaluator

NAME = "evaluate"
HELP = "compute sample-quality metrics of one model against the reference split"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--samples", required=True, help="uint8 samples written by the sample step")
    add_metric_arguments(p)
    p.add_argument("--out", required=True, help="output: metrics (.json)")


def load_samples(path: str) -> tuple[torch.Tensor, dict[str, str]]:
    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata() or {}
    images = load_file(path).get("images")
    if images is None or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: expected a uint8 tensor 'images' [N, C, H, W] written by the sample step")
    return images, meta


def model_record(name: str, mcfg: dict) -> dict:
    """What a metrics record says about the model it measures (the tables read these)."""
    return {
        "model": name,
        "kind": mcfg.get("kind", "ddgm"),
        "objective": mcfg["objective"]["name"],
        "objective_options": {k: v for k, v in mcfg["objective"].items() if k != "name"},
        "schedule": mcfg["schedule"]["name"],
        "schedule_options": {k: v for k, v in mcfg["schedule"].items() if k != "name"},
        "timesteps": mcfg["timesteps"],
        "variance": mcfg["variance"],
        "timestep_sampler": mcfg["timestep_sampler"]["name"],
        "sample_method": mcfg["sample"]["method"],
        "sample_steps": mcfg["sample"]["steps"] or mcfg["timesteps"],
        "unet": mcfg["unet"],
    }


def metrics_for(samples: torch.Tensor, evaluator, desc: str = "samples") -> tuple[dict, dict]:
    """Metrics of uint8 samples on every backend; returns (record, what the reference was made of)."""
    ref = dataset_of(evaluator)
    if samples.shape[-1] != ref["resolution"]:
        raise ValueError(f"{desc}: samples are {samples.shape[-1]} px but the reference features were made at "
                         f"{ref['resolution']} px")
    return evaluator.evaluate(samples, desc=desc), ref


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    samples, smeta = load_samples(args.samples)
    evaluator = make_evaluator(args, config, resolve_device(args.device), log.info)
    metrics, dmeta = metrics_for(samples, evaluator, desc=args.model)
    record = {
        **metrics,
        **model_record(args.model, mcfg),
        **dmeta,
        "samples_per_second": float(smeta.get("samples_per_second", "nan")),
    }
    write_json(args.out, record)
    log.info("%s: FID %.3f, precision %.3f, recall %.3f -> %s", args.model, record["fid"],
             record["precision"], record["recall"], args.out)
