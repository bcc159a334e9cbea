"""Step: one metric backend's features of the real reference images, computed once per data set, split
and resolution (the file's metadata names them) and read by every evaluation."""

from __future__ import annotations

from ..config import load_config
from ..data import load_processed
from ..evaluation.backends import BACKENDS, load_backend
from ..evaluation.reference import save_reference
from ..runlog import get_logger
from .common import resolve_device

NAME = "reference-features"
HELP = "features of the reference split on one metric backend (Inception or the classifier)"


def add_arguments(p) -> None:
    p.add_argument("--backend", required=True, choices=BACKENDS, help="metric backend")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--weights", required=True, help="the backend's weights (.safetensors)")
    p.add_argument("--out", required=True, help="output: reference features (.safetensors)")


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    ecfg = config["evaluation"]
    tensors, dmeta = load_processed(args.data)
    split = ecfg["reference_split"]
    images = tensors[f"{split}_images"]
    limit = ecfg["reference_images"]
    if limit is not None:
        if limit > images.shape[0]:
            raise ValueError(f"evaluation.reference_images = {limit}, but the {split} split holds {images.shape[0]}")
        images = images[:limit]
    backend = load_backend(args.backend, args.weights, device=resolve_device(args.device), batch_size=ecfg["batch_size"])
    features = backend.features(images, desc=f"reference {split}", log=log.info)
    save_reference(args.out, features, {
        "backend": args.backend, "weights_sha256": backend.weights_sha256, "dataset": dmeta.get("dataset"),
        "split": split, "resolution": images.shape[-1], "images": images.shape[0],
        "images_per_second": f"{backend.last_images_per_second:.2f}"})
    log.info("%s reference: %d %s images at %d px, %.1f img/s -> %s", args.backend, images.shape[0], split,
             images.shape[-1], backend.last_images_per_second, args.out)
