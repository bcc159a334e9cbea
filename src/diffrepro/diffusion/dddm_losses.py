"""Per-example distance metrics d(a, b) of the DDDM loss (Zhang et al. 2024, Sec. 4, Fig. 2 ablation).

Every metric maps two batches ``[B, ...]`` to a ``[B]`` tensor (one value per example):

* ``l1``: mean absolute difference over all non-batch dims;
* ``l2``: mean squared difference over all non-batch dims;
* ``pseudo_huber`` (option ``c``): ``sqrt(||a - b||_2^2 + c^2) - c`` with the L2 norm over the whole
  example (as in iCT, Song & Dhariwal 2023); ``~ ||a-b||^2 / (2c)`` for small and ``~ ||a-b|| - c``
  for large differences;
* ``lpips`` (option ``net``: ``vgg``, the default, or ``alex``): LPIPS v0.1 of the ``lpips`` package
  (Zhang et al. 2018) on inputs in [-1, 1], bilinearly resized to 224x224 when narrower than 256
  pixels and grey images repeated to 3 channels, as the public DDDM code does (it uses piq's VGG16
  LPIPS; piq's average pooling instead of max pooling is not reproduced);
* ``pseudo_lpips`` (options ``c``, ``net``): ``sqrt(LPIPS(a, b) + c^2) - c`` (the paper's Eq. 7).

Both pseudo metrics are evaluated as ``x / (sqrt(x + c^2) + c)``, equal to ``sqrt(x + c^2) - c`` but free
of float32 cancellation when ``x << c^2`` (small differences, late in training).

LPIPS needs the torchvision ImageNet backbone weights, which these machines cannot download: a real
LPIPS is built only when torchvision's weight file is in the torch hub cache
(``torch.hub.get_dir()/checkpoints/<file>``), else :class:`LpipsWeightsMissingError` says which file
to put where. ``allow_random_backbone=True`` (tests only) builds LPIPS on a randomly initialised
backbone instead; such a metric has ``reportable = False`` and nothing computed with it may be reported.
Weight files are read with ``torch.load(weights_only=True)`` (no arbitrary unpickling).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DiffreproError

__all__ = [
    "METRICS",
    "LPIPS_NETS",
    "LpipsWeightsMissingError",
    "Metric",
    "build_metric",
    "normalize_metric",
    "metric_label",
    "lpips_backbone_path",
]

#: Metric names accepted by :func:`build_metric`.
METRICS: tuple[str, ...] = ("l1", "l2", "pseudo_huber", "lpips", "pseudo_lpips")
#: LPIPS backbones: name -> torchvision builder and weights enum names.
LPIPS_NETS: dict[str, tuple[str, str]] = {"vgg": ("vgg16", "VGG16_Weights"), "alex": ("alexnet", "AlexNet_Weights")}
DEFAULT_LPIPS_NET = "vgg"
#: Inputs narrower than this are resized to LPIPS_SIZE (public DDDM code).
LPIPS_RESIZE_BELOW = 256
LPIPS_SIZE = 224


class LpipsWeightsMissingError(DiffreproError, FileNotFoundError):
    """The ImageNet backbone weights LPIPS needs are not in the torch hub cache."""


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)


def normalize_metric(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``"l1"`` or ``{"name": ..., **options}`` -> an explicit, validated ``{"name": ..., **options}``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"a metric is a name or a mapping with a 'name', got {spec!r}")
    name = spec["name"]
    if name not in METRICS:
        raise ValueError(f"unknown DDDM metric {name!r}; expected one of {', '.join(METRICS)}")
    allowed = {"l1": set(), "l2": set(), "pseudo_huber": {"c"}, "lpips": {"net"}, "pseudo_lpips": {"c", "net"}}[name]
    extra = sorted(set(spec) - allowed - {"name"})
    if extra:
        raise ValueError(
            f"metric {name!r} takes no option(s) {', '.join(extra)} (options: {', '.join(sorted(allowed)) or 'none'})"
        )
    out: dict[str, Any] = {"name": name}
    if "c" in allowed:
        if "c" not in spec:
            raise ValueError(f"metric {name!r} needs the option c (> 0)")
        c = spec["c"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
            raise ValueError(f"metric {name!r}: c must be a positive number, got {c!r}")
        out["c"] = float(c)
    if "net" in allowed:
        net = spec.get("net", DEFAULT_LPIPS_NET)
        if net not in LPIPS_NETS:
            raise ValueError(f"metric {name!r}: net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
        out["net"] = net
    return out


def metric_label(spec: str | dict[str, Any]) -> str:
    """Short label of a metric, e.g. ``pseudo_huber(c=0.03)``."""
    s = normalize_metric(spec)
    opts = ",".join(f"{k}={v}" for k, v in s.items() if k != "name")
    return f"{s['name']}({opts})" if opts else s["name"]


class Metric:
    """A per-example distance ``metric(a, b) -> Tensor[B]``; ``reportable`` is False for test-only metrics."""

    def __init__(self, spec: dict[str, Any], *, reportable: bool = True) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.reportable = reportable

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(f"metric {self.name}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
        return self.distance(a, b)

    def distance(self, a: Tensor, b: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Metric({metric_label(self.spec)}, reportable={self.reportable})"


class _L1(Metric):
    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return _flat(a - b).abs().mean(dim=1)


class _L2(Metric):
    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return _flat(a - b).pow(2).mean(dim=1)


def pseudo(sq: Tensor, c: float) -> Tensor:
    """``sqrt(sq + c^2) - c``, computed as ``sq / (sqrt(sq + c^2) + c)`` (no cancellation when ``sq << c^2``)."""
    return sq / (torch.sqrt(sq + c * c) + c)


class _PseudoHuber(Metric):
    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return pseudo(_flat(a - b).pow(2).sum(dim=1), self.spec["c"])


class _Lpips(Metric):
    """LPIPS (``pseudo=False``) or Pseudo-LPIPS (``pseudo=True``) on a frozen ``lpips.LPIPS`` network."""

    def __init__(self, spec: dict[str, Any], network: torch.nn.Module, *, pseudo: bool, reportable: bool) -> None:
        super().__init__(spec, reportable=reportable)
        self.network = network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.pseudo = pseudo

    @staticmethod
    def prepare(x: Tensor) -> Tensor:
        """[-1, 1] images -> 3-channel float32, resized to 224 when narrower than 256 (public DDDM code)."""
        x = x.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            raise ValueError(f"LPIPS needs 1 or 3 channels, got {x.shape[1]}")
        if x.shape[-1] < LPIPS_RESIZE_BELOW:
            x = F.interpolate(x, size=(LPIPS_SIZE, LPIPS_SIZE), mode="bilinear", align_corners=False)
        return x

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        net_device = next(self.network.parameters()).device
        if net_device != a.device:
            self.network.to(a.device)
        value = self.network(self.prepare(a), self.prepare(b)).reshape(a.shape[0])
        return pseudo(value, self.spec["c"]) if self.pseudo else value


def lpips_backbone_path(net: str) -> Path:
    """Where torchvision keeps the ImageNet weights of LPIPS backbone ``net`` (``vgg`` or ``alex``)."""
    import torchvision.models as tvm

    weights = getattr(tvm, LPIPS_NETS[net][1]).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _lpips_network(net: str, *, random_backbone: bool) -> torch.nn.Module:
    """``lpips.LPIPS`` v0.1 with the package's calibrated linear layers and the ImageNet (or a random) backbone."""
    import warnings

    import lpips
    import torchvision.models as tvm

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    lin_path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    lin_state = torch.load(lin_path, map_location="cpu", weights_only=True)
    # lin0..linN and the ModuleList `lins` alias the same layers; the file names them lin0..linN
    missing = [k for k in model.state_dict() if re.match(r"lin\d+\.", k) and k not in lin_state]
    if missing:
        raise ValueError(f"{lin_path} lacks LPIPS linear-layer weights {missing[:3]}")
    model.load_state_dict(lin_state, strict=False)
    if random_backbone:
        return model
    path = lpips_backbone_path(net)
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    backbone = getattr(tvm, LPIPS_NETS[net][0])(weights=None).features
    backbone.load_state_dict(features, strict=True)
    # lpips' slices hold torchvision's feature layers under their original indices ("slice2.3" = features[3])
    for slice_ in model.net.children():
        for idx, layer in slice_.named_children():
            layer.load_state_dict(backbone[int(idx)].state_dict())
    return model


def build_metric(spec: str | dict[str, Any], *, allow_random_backbone: bool = False) -> Metric:
    """The metric named by ``spec`` (``"l1"``, ``"l2"``, ``"lpips"`` or ``{"name": ..., "c": ..., "net": ...}``).

    LPIPS metrics need the backbone weight file (:func:`lpips_backbone_path`); without it they raise
    :class:`LpipsWeightsMissingError`, unless ``allow_random_backbone`` (tests only), which builds a
    random backbone and marks the metric ``reportable = False``.
    """
    s = normalize_metric(spec)
    name = s["name"]
    if name == "l1":
        return _L1(s)
    if name == "l2":
        return _L2(s)
    if name == "pseudo_huber":
        return _PseudoHuber(s)
    path = lpips_backbone_path(s["net"])
    if path.is_file():
        network = _lpips_network(s["net"], random_backbone=False)
        return _Lpips(s, network, pseudo=name == "pseudo_lpips", reportable=True)
    if not allow_random_backbone:
        raise LpipsWeightsMissingError(
            f"metric {name} needs the ImageNet weights of torchvision's {LPIPS_NETS[s['net']][0]} "
            f"(LPIPS backbone '{s['net']}'), which cannot be downloaded here: put the file "
            f"{path.name} (from {_weights_url(s['net'])}) at {path} (the torch hub cache, "
            "torch.hub.get_dir()/checkpoints; set $TORCH_HOME to move it), or choose the metric "
            "l1, l2 or pseudo_huber"
        )
    network = _lpips_network(s["net"], random_backbone=True)
    return _Lpips(s, network, pseudo=name == "pseudo_lpips", reportable=False)


def _weights_url(net: str) -> str:
    import torchvision.models as tvm

    return getattr(tvm, LPIPS_NETS[net][1]).IMAGENET1K_V1.url
