"""A small CNN classifier used as the feature extractor for FID/KID/PRC and a
classifier-logit Inception-style score on small (MNIST/CIFAR-sized) images.

``SmallClassifier`` maps float images in ``[-1, 1]`` (NCHW, at ``image_size``) to
logits; :meth:`SmallClassifier.features_and_logits` also returns the penultimate
``feature_dim``-dimensional features (after ReLU) used by the distribution metrics.

Architecture: a 3x3 stem conv, then stages of two ``conv3x3 - GroupNorm - ReLU``
blocks, each stage but the last followed by 2x2 average pooling (the map is halved
while it stays >= 4 pixels, at most 3 times), global average pooling,
``Linear -> ReLU`` to ``feature_dim`` ("features"), dropout, ``Linear`` to
``num_classes``. GroupNorm (not BatchNorm) keeps the network's output independent
of the batch composition in both train and eval mode.

Weights are stored as safetensors with the constructor kwargs as JSON in the
file metadata (key ``config``); :func:`load_classifier` never unpickles.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

__all__ = ["SmallClassifier", "load_classifier", "CLASSIFIER_FORMAT"]

#: Value of the ``format`` metadata entry written by ``save_classifier``.
CLASSIFIER_FORMAT = "diffrepro.small_classifier/v1"

_CONFIG_KEYS = ("in_channels", "num_classes", "image_size", "width", "feature_dim")


def _groups(channels: int) -> int:
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1  # pragma: no cover


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.GroupNorm(_groups(cout), cout),
        nn.ReLU(inplace=True),
    )


class SmallClassifier(nn.Module):
    """Small CNN classifier; see the module docstring for the architecture."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        width: int = 32,
        feature_dim: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        for key, value in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("image_size", image_size),
            ("width", width),
            ("feature_dim", feature_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SmallClassifier: {key} must be a positive int, got {value!r}")
        if num_classes < 2:
            raise ValueError(f"SmallClassifier: num_classes must be >= 2, got {num_classes}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"SmallClassifier: dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.width = int(width)
        self.feature_dim = int(feature_dim)
        self.dropout_p = float(dropout)

        # number of 2x downsamplings: halve while the map stays >= 4 px, at most 3 times
        n_down, size = 0, self.image_size
        while n_down < 3 and size >= 8:
            size //= 2
            n_down += 1

        layers: list[nn.Module] = [_conv_block(self.in_channels, self.width)]
        ch = self.width
        for stage in range(n_down + 1):
            out_ch = self.width * (2 ** min(stage, 2))
            layers += [_conv_block(ch, out_ch), _conv_block(out_ch, out_ch)]
            ch = out_ch
            if stage < n_down:
                layers.append(nn.AvgPool2d(2))
        self.trunk = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc_features = nn.Linear(ch, self.feature_dim)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def config(self) -> dict[str, Any]:
        """Constructor kwargs (JSON-serialisable): ``SmallClassifier(**m.config())`` rebuilds ``m``."""
        return {
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout_p,
        }

    def _check_input(self, x: torch.Tensor) -> None:
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(
                f"SmallClassifier expects a float tensor [B, {self.in_channels}, H, W] in [-1, 1], got {shape}"
            )
        if not x.is_floating_point():
            raise ValueError(f"SmallClassifier expects a floating-point tensor in [-1, 1], got dtype {x.dtype}")

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features [B, feature_dim], logits [B, num_classes])``."""
        self._check_input(x)
        h = self.pool(self.trunk(x)).flatten(1)
        features = torch.relu(self.fc_features(h))
        logits = self.head(self.dropout(features))
        return features, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def _parse_config(raw: str | None, path: str) -> dict[str, Any]:
    if raw is None:
        raise ValueError(f"classifier weights file {path!r} has no 'config' entry in its safetensors metadata")
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"classifier weights file {path!r}: metadata 'config' is not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"classifier weights file {path!r}: metadata 'config' must be a JSON object, got {cfg!r}")
    missing = [k for k in _CONFIG_KEYS if k not in cfg]
    unknown = sorted(set(cfg) - set(_CONFIG_KEYS) - {"dropout"})
    if missing or unknown:
        raise ValueError(
            f"classifier weights file {path!r}: bad metadata 'config' (missing keys {missing}, unknown keys {unknown})"
        )
    return cfg


def load_classifier(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> SmallClassifier:
    """Load a :class:`SmallClassifier` written by ``save_classifier`` (safetensors; no pickle).

    Raises ``ValueError`` naming the file when it is not a safetensors file, its metadata
    lacks a valid ``config`` or the tensors do not match the configured architecture.
    The model is returned in eval mode with gradients disabled.
    """
    from ..tensorfile import read

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"classifier weights file not found: {path!r}")
    state, metadata = read(path)  # content hash checked
    cfg = _parse_config(metadata.get("config"), path)
    try:
        model = SmallClassifier(**cfg)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"classifier weights file {path!r}: bad metadata 'config' {cfg!r}: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"classifier weights file {path!r}: tensors do not match config {cfg!r}: {exc}") from exc
    model.to(map_location)
    model.requires_grad_(False)
    return model.eval()
