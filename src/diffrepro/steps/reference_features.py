"""Step: one metric backend's features of the real reference images, computed once per data set, split
and resolution (the file's metadata names them) and read by every evaluation."""

from __future__ import annotations

import os

from ..config import evaluation_config, load_config
from ..data import load_processed
from ..devices import resolve_device
from ..evaluation.backends import BACKENDS, load_backend
from ..evaluation.reference import save_reference
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    ecfg = evaluation_config(config)
    tensors, dmeta = load_processed(args.data)
    split = ecfg.reference_split
    images = tensors[f"{split}_images"]
    limit = ecfg.reference_images
    if limit is not None:
        if limit > images.shape[0]:
            raise ValueError(
                f"evaluation.reference_images = {limit}, but the {split} split of {args.data} holds {images.shape[0]}"
            )
        images = images[:limit]
    weights = {"inception": args.inception, "classifier": args.classifier}
    device = resolve_device(args.device)
    for name in BACKENDS:
        backend = load_backend(name, weights[name], device=device, batch_size=ecfg.batch_size)
        features = backend.features(images, desc=f"{name} reference {split}", log=log.info)
        out = os.path.join(args.out_dir, f"{name}.safetensors")
        save_reference(
            out,
            features,
            {
                "backend": name,
                "weights_sha256": backend.weights_sha256,
                "dataset": dmeta.get("dataset"),
                "split": split,
                "resolution": images.shape[-1],
                "images": images.shape[0],
            },
        )
        log.info(
            "%s reference: %d %s images of %s at %d px, %.1f img/s -> %s",
            name,
            images.shape[0],
            split,
            dmeta.get("dataset"),
            images.shape[-1],
            backend.last_images_per_second,
            out,
        )
