"""Evaluation: sample-quality metrics (FID, KID, k-NN precision/recall, a
classifier-logit Inception-style score) through torch-fidelity, with the project's
small classifier as a feature extractor.

Names are imported lazily so that importing ``diffrepro.evaluation`` (or one of its
other submodules) does not import torch-fidelity.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "compute_metrics",
    "frechet_distance",
    "UInt8ImageDataset",
    "ClassifierFeatureExtractor",
    "register_classifier_extractor",
    "classifier_extractor_name",
]

_LAZY = {
    "compute_metrics": "diffrepro.evaluation.metrics",
    "frechet_distance": "diffrepro.evaluation.metrics",
    "UInt8ImageDataset": "diffrepro.evaluation.metrics",
    "ClassifierFeatureExtractor": "diffrepro.evaluation.feature_extractors",
    "register_classifier_extractor": "diffrepro.evaluation.feature_extractors",
    "classifier_extractor_name": "diffrepro.evaluation.feature_extractors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
