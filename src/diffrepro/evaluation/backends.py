"""Metric backends: the network whose features the sample-quality metrics are computed on.

* ``inception``: the standard FID Inception (TF inception-2015-12-05) through torch-fidelity, from the
  weights the ``convert-inception`` step wrote (:mod:`diffrepro.evaluation.inception`): pool3 features
  for FID, KID and precision/recall, ``mixed_6/conv`` features for sFID, ``logits_unbiased`` (the Inception
  Score) only when the weights hold the classifier layer; its description names the weights and whether they
  hold it;
* ``classifier``: the in-pipeline classifier (:mod:`diffrepro.evaluation.feature_extractors`): its
  penultimate features, and its logits for a classifier-logit Inception-style score (not the IS).

:meth:`Backend.features` runs a torch-fidelity extractor over uint8 images in batches under
``torch.inference_mode`` (channels_last, on the GPU when the device says so) and reports images/s.
Features are keyed by role: ``pool`` (FID/KID/precision-recall), ``spatial`` (sFID), ``logits`` (score).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..tensorfile import read_metadata, recorded_content_sha256

__all__ = ["BACKENDS", "Backend", "load_backend"]

BACKENDS = ("inception", "classifier")
#: what each backend's score is, when it has one
SCORE_DEFINITIONS = {
    "inception": "Inception Score (torch-fidelity's definition on the Inception's logits_unbiased)",
    "classifier": "classifier-logit Inception-style score (not the Inception Score)",
}
LABELS = {"inception": "Inception", "classifier": "classifier"}


@dataclass
class Backend:
    """One loaded feature extractor and the layer that stands for each role."""

    name: str
    extractor: nn.Module
    layers: dict[str, str]  # role (pool, spatial, logits) -> the extractor's feature name
    weights: str
    weights_sha256: str
    device: str = "cpu"
    batch_size: int = 100
    description: str = ""
    last_images_per_second: float = field(default=float("nan"))

    @property
    def score_definition(self) -> str | None:
        return SCORE_DEFINITIONS[self.name] if "logits" in self.layers else None

    def features(
        self, images: torch.Tensor, *, desc: str = "features", log: Callable[[str], None] | None = None
    ) -> dict[str, torch.Tensor]:
        """Features of uint8 images ``[N, C, H, W]`` (C = 1 or 3) by role, float32 on the CPU."""
        from tqdm import tqdm

        if (
            not torch.is_tensor(images)
            or images.dtype != torch.uint8
            or images.dim() != 4
            or images.shape[1] not in (1, 3)
        ):
            desc_ = f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"{desc}: expected uint8 images [N, 1 or 3, H, W], got {desc_}")
        roles = list(self.layers)
        out: dict[str, list[torch.Tensor]] = {r: [] for r in roles}
        n = images.shape[0]
        start = time.perf_counter()
        with (
            torch.inference_mode(),
            tqdm(total=n, desc=f"{self.name} {desc}", unit="img", leave=False, mininterval=5.0) as bar,
        ):
            for i in range(0, n, self.batch_size):
                batch = images[i : i + self.batch_size]
                if batch.shape[1] == 1:
                    batch = batch.expand(-1, 3, -1, -1)
                batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
                values = self.extractor(batch)
                for role, value in zip(roles, values):
                    out[role].append(value.reshape(value.shape[0], -1).float().cpu())
                bar.update(batch.shape[0])
        seconds = time.perf_counter() - start
        self.last_images_per_second = n / max(seconds, 1e-9)
        if log is not None:
            log(
                f"{self.name} {desc}: {n} images in {seconds:.1f} s ({self.last_images_per_second:.1f} img/s, "
                f"{self.device}, batch {self.batch_size})"
            )
        return {role: torch.cat(chunks) for role, chunks in out.items()}


def load_backend(name: str, weights: str | os.PathLike[str], *, device: str = "cpu", batch_size: int = 100) -> Backend:
    """The backend ``name`` with its weights file (converted Inception or classifier safetensors)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown metric backend {name!r}; expected one of {', '.join(BACKENDS)}")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        hint = " (run the convert-inception step)" if name == "inception" else " (run the train-classifier step)"
        raise FileNotFoundError(f"{name} backend: weights file not found: {path!r}{hint}")
    if name == "inception":
        from .inception import EXTRACTOR_NAME, LOGITS, POOL, SPATIAL, InceptionFID, weights_description

        metadata = read_metadata(path)
        has_logits = metadata.get("has_logits") == "true"
        layers = {"pool": POOL, "spatial": SPATIAL, **({"logits": LOGITS} if has_logits else {})}
        extractor = InceptionFID(EXTRACTOR_NAME, list(layers.values()), feature_extractor_weights_path=path)
        description = weights_description(metadata)
    else:
        from .feature_extractors import FEATURE_LAYER, LOGITS_LAYER, ClassifierFeatureExtractor

        layers = {"pool": FEATURE_LAYER, "logits": LOGITS_LAYER}
        extractor = ClassifierFeatureExtractor(
            "diffrepro-classifier", list(layers.values()), feature_extractor_weights_path=path
        )
        description = "in-pipeline classifier, penultimate features"
    extractor = extractor.to(device).to(memory_format=torch.channels_last).eval()
    return Backend(
        name=name,
        extractor=extractor,
        layers=layers,
        weights=path,
        weights_sha256=recorded_content_sha256(path),
        device=device,
        batch_size=int(batch_size),
        description=description,
    )
