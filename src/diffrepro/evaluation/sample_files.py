"""Reading sample files: the uint8 ``images`` of the sample and sample-posthoc steps (:func:`load_samples`), the
multi-set files of the sample-surrogate and sample-dddm steps (:func:`load_sample_file`), and the metric fields
the evaluations of those keep per set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..tensorfile import read
from .intervals import REPLICATE_FIELDS, interval_fields

#: the fields of a metrics record that evaluate-surrogate and evaluate-dddm keep for each sample set: the
#: primary backend's flat fields and every backend's metrics
KEPT_METRICS = (
    "fid",
    "kid_mean",
    "kid_std",
    "precision",
    "recall",
    "prd_precision",
    "prd_recall",
    "sfid",
    "score_mean",
    "score_std",
    "score_definition",
    "n_generated",
    "n_reference",
    "feature_extractor",
    "backend",
    "precision_recall_definition",
    "prd_definition",
    "backends",
    *(f for metric in REPLICATE_FIELDS.values() for f in interval_fields(metric)),
    "interval_level",
)


def load_samples(path: str, expect: Mapping[str, str] | None = None) -> tuple[torch.Tensor, dict[str, str]]:
    """The uint8 tensor ``images`` [N, C, H, W] of a sample file and its metadata, its content hash checked and its
    metadata holding ``expect`` (for example the model and seed it is evaluated as); errors name the file."""
    tensors, meta = read(path, expect)
    images = tensors.get("images")
    if images is None or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: expected a uint8 tensor 'images' [N, C, H, W] written by the sample step")
    return images, meta


def load_sample_file(
    path: str, required: Sequence[str], producer: str, expect: Mapping[str, str] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor of a safetensors sample file and its metadata (never unpickled, content hash checked); a clear
    error naming the file and ``producer`` when a ``required`` metadata key is missing or ``expect`` differs."""
    tensors, meta = read(path, expect)
    for key in required:
        if key not in meta:
            raise ValueError(f"{path}: metadata key {key!r} missing; not a {producer} output")
    return tensors, meta
