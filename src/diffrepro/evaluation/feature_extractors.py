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

:func:`register_classifier_extractor` registers one extractor per weights file,
named after the SHA-256 of the file contents, so several classifiers can coexist
in torch-fidelity's global registry and torch-fidelity's on-disk feature cache
(keyed by extractor name) can never mix up two different classifiers.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from diffrepro.models.classifier import load_classifier

__all__ = [
    "ClassifierFeatureExtractor",
    "register_classifier_extractor",
    "classifier_extractor_name",
    "is_classifier_extractor",
    "FEATURE_LAYER",
    "LOGITS_LAYER",
    "EXTRACTOR_NAME_PREFIX",
]

FEATURE_LAYER = "features"
LOGITS_LAYER = "logits"
EXTRACTOR_NAME_PREFIX = "diffrepro-classifier-"

_DTYPES = {None: torch.float32, "float32": torch.float32, "float64": torch.float64}


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def classifier_extractor_name(weights_path: str | os.PathLike[str]) -> str:
    """The torch-fidelity extractor name for a classifier weights file (content hash based)."""
    path = os.fspath(weights_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"classifier weights file not found: {path!r}")
    return EXTRACTOR_NAME_PREFIX + _sha256_file(path)[:16]


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor around a :class:`SmallClassifier` loaded from safetensors.

    The weights come from the ``feature_extractor_weights_path`` keyword (torch-fidelity's
    mechanism) or, when that is ``None``, from the file bound at registration
    (:func:`register_classifier_extractor` registers a subclass per weights file).
    When the class is bound to a file hash, a weights file with other contents is rejected.
    """

    #: bound by :func:`register_classifier_extractor` subclasses
    weights_path: str | None = None
    weights_sha256: str | None = None

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
        path = feature_extractor_weights_path if feature_extractor_weights_path is not None else self.weights_path
        if path is None:
            raise ValueError(
                f"feature extractor {name!r} needs a classifier weights file (feature_extractor_weights_path)"
            )
        path = os.fspath(path)
        if self.weights_sha256 is not None:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"classifier weights file not found: {path!r}")
            actual = _sha256_file(path)
            if actual != self.weights_sha256:
                raise ValueError(
                    f"feature extractor {name!r} was registered for a classifier file with sha256 "
                    f"{self.weights_sha256[:16]}..., but {path!r} has sha256 {actual[:16]}...; "
                    "register it with register_classifier_extractor()"
                )
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


def is_classifier_extractor(name: str) -> bool:
    """Whether ``name`` is registered in torch-fidelity as a classifier extractor."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    cls = FEATURE_EXTRACTORS_REGISTRY.get(name)
    return isinstance(cls, type) and issubclass(cls, ClassifierFeatureExtractor)


def register_classifier_extractor(weights_path: str | os.PathLike[str]) -> str:
    """Register the classifier in ``weights_path`` with torch-fidelity; return the extractor name.

    The name is ``"diffrepro-classifier-<first 16 hex of the file's sha256>"``: unique per
    weights file contents. Registering the same file again (or a byte-identical copy)
    returns the same name without error. The file is validated (loaded) on registration.
    """
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    path = os.path.abspath(os.fspath(weights_path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"classifier weights file not found: {path!r}")
    sha = _sha256_file(path)
    name = EXTRACTOR_NAME_PREFIX + sha[:16]
    existing = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if existing is not None:
        if not (isinstance(existing, type) and issubclass(existing, ClassifierFeatureExtractor)):
            raise ValueError(f"torch-fidelity feature extractor {name!r} is already registered as {existing!r}")
        if existing.weights_sha256 != sha:  # pragma: no cover - 64-bit prefix collision
            raise ValueError(f"feature extractor name collision for {path!r}: {name!r}")
        existing.weights_path = path  # the latest location of these bytes
        return name
    classifier = load_classifier(path)  # raises ValueError naming the file when it is not a classifier
    if classifier.in_channels not in (1, 3):
        raise ValueError(f"classifier weights file {path!r}: in_channels must be 1 or 3, got {classifier.in_channels}")
    cls = type(
        f"ClassifierFeatureExtractor_{sha[:16]}",
        (ClassifierFeatureExtractor,),
        {"weights_path": path, "weights_sha256": sha, "__module__": __name__},
    )
    register_feature_extractor(name, cls)
    return name
