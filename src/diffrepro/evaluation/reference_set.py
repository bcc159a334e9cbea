"""The reference set of an evaluation: both metric backends' features of one split of a processed data set,
written once by a reference-features step (:mod:`diffrepro.steps.reference_features`, the studies'
``evaluation.reference_split``; :mod:`diffrepro.steps.dddm_reference_features`, the DDDM's own) and read by
every evaluation through :func:`~.reference.load_reference`."""

from __future__ import annotations

import os
from typing import Any

from ..config import evaluation_config
from ..data import load_processed
from ..runlog import get_logger
from .backends import load_backend
from .reference import save_reference

__all__ = ["write_reference_set"]


def write_reference_set(args: Any, config: dict, split: str, device: str) -> None:
    """The features of each backend of ``evaluation.backends`` of the ``split`` images of the processed data set
    ``args.data`` (the first ``evaluation.reference_images``) into ``args.out_dir``, one ``<backend>.safetensors``
    each (the step arguments ``inception`` and ``classifier`` name the weights) on ``device``."""
    log = get_logger()
    ecfg = evaluation_config(config)
    tensors, dmeta = load_processed(args.data)
    images = tensors[f"{split}_images"]
    limit = ecfg.reference_images
    if limit is not None:
        if limit > images.shape[0]:
            raise ValueError(
                f"evaluation.reference_images = {limit}, but the {split} split of {args.data} holds {images.shape[0]}"
            )
        images = images[:limit]
    weights = {"inception": args.inception, "classifier": args.classifier}
    for name in ecfg.backends:
        if weights[name] is None:
            raise ValueError(f"evaluation.backends lists {name!r}, but --{name} (its weights) was not given")
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
