"""Reading the multi-set sample files of the sample-surrogate and sample-dddm steps, and the metric
fields their evaluations keep per set."""

from __future__ import annotations

from typing import Sequence

import torch

#: the fields of a metrics record that evaluate-surrogate and evaluate-dddm keep for each sample set: the
#: primary backend's flat fields and every backend's metrics
KEPT_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "prd_precision", "prd_recall", "sfid",
                "score_mean", "score_std", "score_definition", "n_generated", "n_reference", "feature_extractor",
                "backend", "precision_recall_definition", "prd_definition", "images_per_second", "backends")


def load_sample_file(path: str, required: Sequence[str], producer: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor of a safetensors sample file and its metadata (never unpickled); a clear error naming the
    file and ``producer`` when a ``required`` metadata key is missing."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata() or {}
    for key in required:
        if key not in meta:
            raise ValueError(f"{path}: metadata key {key!r} missing; not a {producer} output")
    return load_file(path), meta
