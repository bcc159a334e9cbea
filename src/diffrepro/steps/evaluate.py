"""Step: FID, KID, precision/recall (and the classifier-logit score) of one model's samples."""

from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..atomic import write_json
from ..config import load_config, model_config
from ..data import load_processed
from ..evaluation.metrics import compute_metrics
from ..runlog import get_logger
from .common import resolve_device

NAME = "evaluate"
HELP = "compute sample-quality metrics of one model against the reference split"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--samples", required=True, help="uint8 samples written by the sample step")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--classifier", required=True, help="feature-extractor weights (classifier backend)")
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


def metrics_for(samples: torch.Tensor, config: dict, data: str, classifier: str, device: str, log) -> tuple[dict, dict]:
    """Metrics of uint8 samples against the configured reference split; returns (metrics, data metadata)."""
    ecfg = config["evaluation"]
    tensors, dmeta = load_processed(data)
    reference = tensors[f"{ecfg['reference_split']}_images"]
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples are {tuple(samples.shape[1:])} but the reference split is "
                         f"{tuple(reference.shape[1:])}")
    extractor_weights = classifier if ecfg["feature_extractor"] == "classifier" else None
    metrics = compute_metrics(
        samples, reference, extractor=ecfg["feature_extractor"], extractor_weights=extractor_weights,
        kid_subset_size=min(ecfg["kid_subset_size"], samples.shape[0]), prc_neighborhood=ecfg["prc_neighborhood"],
        batch_size=ecfg["batch_size"], device=device, log=log,
    )
    return metrics, dmeta


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    samples, smeta = load_samples(args.samples)
    metrics, dmeta = metrics_for(samples, config, args.data, args.classifier, resolve_device(args.device), log.info)
    record = {
        **metrics,
        **model_record(args.model, mcfg),
        "dataset": dmeta.get("dataset"),
        "resolution": dmeta.get("resolution"),
        "reference_split": config["evaluation"]["reference_split"],
        "samples_per_second": float(smeta.get("samples_per_second", "nan")),
    }
    write_json(args.out, record)
    log.info("%s: FID %.3f, precision %.3f, recall %.3f -> %s", args.model, record["fid"],
             record["precision"], record["recall"], args.out)
