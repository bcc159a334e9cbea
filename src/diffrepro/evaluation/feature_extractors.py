"""torch-fidelity feature extractor wrapping a trained :class:`SmallClassifier`.

torch-fidelity (0.4.0) builds extractors as ``cls(name, features_list, **kwargs)``
where ``kwargs`` are all keyword arguments of ``calculate_metrics`` (among them
``feature_extractor_weights_path`` and ``feature_extractor_internal_dtype``), then
calls ``.eval()``, ``.requires_grad_(False)`` and, with ``cuda=True``, ``.cuda()``.
``forward`` receives uint8 ``B x 3 x H x W`` batches and must return a tuple of
tensors in the order of the requested ``features_list``.

Provided features:

* ``"features"``: penultimate classifier features ``[B, feature_dim]`` (after ReLU),
  the default layer for FID, KID and precision/recall;
* ``"logits"``: class logits ``[B, num_classes]``, the default layer for the
  Inception-style score (torch-fidelity applies the softmax itself).

Preprocessing: grey classifiers (``in_channels == 1``) take the channel mean of
the three (replicated) input channels, RGB classifiers use the input as is;
images whose size differs from the classifier's ``image_size`` are resized with
bilinear interpolation (antialiased); values are mapped from ``[0, 255]`` to
``[-1, 1]``.

The classifier backend (:func:`diffrepro.evaluation.backends.load_backend`) builds it
directly with the weights file; the tests also run it through torch-fidelity's own
``calculate_metrics`` to check our metrics against torch-fidelity's.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ..models.classifier import load_classifier

__all__ = ["ClassifierFeatureExtractor", "FEATURE_LAYER", "LOGITS_LAYER"]

FEATURE_LAYER = "features"
LOGITS_LAYER = "logits"

_DTYPES = {None: torch.float32, "float32": torch.float32, "float64": torch.float64}


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor around a :class:`SmallClassifier` loaded from the safetensors file
    ``feature_extractor_weights_path`` (torch-fidelity's keyword for an extractor's weights)."""

    def __init__(
        self,
        name: str,
        features_list: list[str] | tuple[str, ...],
        feature_extractor_weights_path: str | None = None,
        feature_extractor_internal_dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, list(features_list))
        if feature_extractor_internal_dtype not in _DTYPES:
            raise ValueError(
                f"feature extractor {name!r}: feature_extractor_internal_dtype must be 'float32', 'float64' or None, "
                f"got {feature_extractor_internal_dtype!r}"
            )
        if feature_extractor_weights_path is None:
            raise ValueError(
                f"feature extractor {name!r} needs a classifier weights file (feature_extractor_weights_path)"
            )
        path = os.fspath(feature_extractor_weights_path)
        classifier = load_classifier(path)
        if classifier.in_channels not in (1, 3):
            raise ValueError(
                f"classifier weights file {path!r}: in_channels must be 1 or 3, got {classifier.in_channels}"
            )
        self.internal_dtype = _DTYPES[feature_extractor_internal_dtype]
        self.classifier = classifier.to(self.internal_dtype)
        self.weights_file = path
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return (FEATURE_LAYER, LOGITS_LAYER)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {
            "isc": LOGITS_LAYER,
            "fid": FEATURE_LAYER,
            "kid": FEATURE_LAYER,
            "prc": FEATURE_LAYER,
        }[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return (torch.rand([1, 3, 8, 8]) * 255).to(torch.uint8)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``B x 3 x H x W`` -> the classifier's input (channels, size, ``[-1, 1]``)."""
        if not (torch.is_tensor(x) and x.dtype == torch.uint8):
            raise ValueError("Expecting image as torch.Tensor with dtype=torch.uint8")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"Input is not Bx3xHxW: {tuple(x.shape)}")
        x = x.to(self.internal_dtype)
        if self.classifier.in_channels == 1:
            x = x.mean(dim=1, keepdim=True)
        size = self.classifier.image_size
        if tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x / 127.5 - 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, logits = self.classifier.features_and_logits(self.preprocess(x))
        out = {FEATURE_LAYER: features, LOGITS_LAYER: logits}
        return tuple(out[name] for name in self.features_list)
