"""Named U-Net settings from the papers, with their published parameter counts.

Every entry of :data:`ARCHITECTURES` is a dict of :class:`~diffrepro.models.unet.UNet`
keyword arguments (``base_channels, channel_mult, num_res_blocks, attention_resolutions,
num_heads, dropout, block, expansion, se_ratio, time_conditioning``); the data set it was
used on (image size, image channels) and its source are in :data:`ARCHITECTURE_INFO`.
:data:`PAPER_PARAMETER_COUNTS` holds the published sizes (millions) for side-by-side tables
(:func:`parameter_count_table`).

Sources (files under ``shared/papers/``):

* **Coursework** "Surrogate diffusion and IW-Diff" (``surrogate-diffusion-and-iwdiff-coursework.txt``),
  section 4.1 (CIFAR-10 32x32, base 128, multipliers (1, 2, 2, 2), two residual blocks per
  resolution, self-attention at 16x16 and in the middle, "these parameters match those of the
  original DDPM") and section 4.4 / Table 4.3 (Default, DeepRes1, ShallowRes2, ShallowRes1,
  MBConv64, MBConv96; MBConv expansion 4, SE ratio 0.25). Not stated in the report and taken
  from DDPM (Ho et al. 2020, Appendix B) as section 4.1 says: dropout 0.1 (CIFAR-10),
  single-head attention, and additive time conditioning (the DDPM residual block). The
  parameter counts support the last choice: with additive conditioning all six of our counts
  are 4.1-4.6 % above Table 4.3 (the same ratio for standard and MBConv blocks), with the
  scale-shift conditioning of improved DDPM they are 11-39 % above and the ratio differs
  between block types. The remaining ~4.4 % is not explained by the report (it gives no code
  and its Fig. 4.1 is not in our copy); it is close to 2**20 / 10**6 = 1.049, so the table
  may count in units of 2**20, but that is a guess.
* **DDPM** (Ho et al. 2020, Appendix B; not in ``shared/papers``): the CIFAR-10 model "has 35.7
  million parameters"; the same network as the coursework Default.
* **Deja et al. 2022**, appendix A.4 and Table 6 (``deja2022-appendix-tables.txt``): 3 residual
  blocks per level, dropout 0.3; Fashion-MNIST base 64 x (1, 2, 2); CIFAR-10 base 128 x
  (1, 2, 2, 2) (Table 6 says depth 3 but lists four widths; their code uses (1, 2, 2, 2) at
  32 px); CelebA 64 px base 128 x (1, 2, 3, 4). Table 7 (Fashion-MNIST): DDGM 8.8M,
  "1.5x channels" 19.8M (base 96), "2x blocks" 15.1M (6 blocks), DAED 17.6M (two copies of
  the DDGM U-Net). Details from their code (github.com/KamilDeja/analysing_ddgm, based on
  openai/guided-diffusion; ``script_util.py`` defaults): scale-shift conditioning
  (``use_scale_shift_norm=True``), 4 heads (the paper text says three heads, which do not
  divide 64 channels; heads do not change the parameter count), ``attention_resolutions="16,8"``
  turned into down-sampling factors ``image_size // 16, image_size // 8``: at 32 and 64 px
  that is attention at 16x16 and 8x8; at 28 px the factors are 1 and 3, i.e. attention at
  28x28 only (factor 3 never occurs). With that quirk our Fashion-MNIST counts match
  Table 7 to the published 0.1M.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch

from .unet import UNet, count_parameters

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_INFO",
    "PAPER_PARAMETER_COUNTS",
    "PAPER_COMPOSITE_MODELS",
    "ArchitectureInfo",
    "architecture",
    "scaled_architecture",
    "build_architecture",
    "parameter_count",
    "parameter_count_table",
]


@dataclass(frozen=True)
class ArchitectureInfo:
    """Where a named architecture comes from and which images it was built for."""

    dataset: str
    image_size: int
    in_channels: int
    source: str


def _settings(
    *,
    base_channels: int,
    channel_mult: tuple[int, ...],
    num_res_blocks: int,
    attention_resolutions: tuple[int, ...],
    num_heads: int,
    dropout: float,
    block: str = "resnet",
    expansion: int = 4,
    se_ratio: float = 0.25,
    time_conditioning: str = "scale_shift",
) -> dict[str, Any]:
    return dict(
        base_channels=base_channels,
        channel_mult=channel_mult,
        num_res_blocks=num_res_blocks,
        attention_resolutions=attention_resolutions,
        num_heads=num_heads,
        dropout=dropout,
        block=block,
        expansion=expansion,
        se_ratio=se_ratio,
        time_conditioning=time_conditioning,
    )


_CW = "Coursework 'Surrogate diffusion and IW-Diff', sec. 4.1, 4.4, Table 4.3"
_DEJA6 = "Deja et al. 2022, appendix A.4, Table 6 (+ analysing_ddgm code defaults)"
_DEJA7 = "Deja et al. 2022, appendix A.6, Table 7 (+ analysing_ddgm code defaults)"


def _coursework(base: int, mult: tuple[int, ...], blocks: int, block: str = "resnet") -> dict[str, Any]:
    # CIFAR-10 32 px; attention at 16x16 (+ middle) as DDPM; dropout 0.1 as DDPM CIFAR-10;
    # DDPM's single-head attention and additive time embedding (see the module docstring).
    return _settings(
        base_channels=base,
        channel_mult=mult,
        num_res_blocks=blocks,
        attention_resolutions=(16,),
        num_heads=1,
        dropout=0.1,
        block=block,
        time_conditioning="additive",
    )


def _deja(base: int, mult: tuple[int, ...], blocks: int, attention: tuple[int, ...]) -> dict[str, Any]:
    # improved/guided-diffusion U-Net: scale-shift conditioning, 4 heads, dropout 0.3.
    return _settings(
        base_channels=base,
        channel_mult=mult,
        num_res_blocks=blocks,
        attention_resolutions=attention,
        num_heads=4,
        dropout=0.3,
    )


#: Named U-Net settings: ``UNet(image_size=..., in_channels=..., out_channels=..., **ARCHITECTURES[name])``.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    # Coursework Table 4.3 (CIFAR-10, 32 px).
    "coursework_default": _coursework(128, (1, 2, 2, 2), 2),
    "coursework_deepres1": _coursework(128, (1, 2, 2, 2), 1),
    "coursework_shallowres2": _coursework(128, (1, 2, 2), 2),
    "coursework_shallowres1": _coursework(128, (1, 2, 2), 1),
    "coursework_mbconv64": _coursework(64, (1, 2, 2, 2), 2, block="mbconv"),
    "coursework_mbconv96": _coursework(96, (1, 2, 2, 2), 2, block="mbconv"),
    # DDPM CIFAR-10 (Ho et al. 2020, App. B): the coursework Default network.
    "ddpm_cifar10": _coursework(128, (1, 2, 2, 2), 2),
    # Deja et al. 2022 Table 6.
    "deja_fashion_mnist": _deja(64, (1, 2, 2), 3, (28,)),
    "deja_cifar10": _deja(128, (1, 2, 2, 2), 3, (16, 8)),
    "deja_celeba64": _deja(128, (1, 2, 3, 4), 3, (16, 8)),
    # Deja et al. 2022 Table 7 (Fashion-MNIST DDGMs with about twice the parameters).
    "deja_fashion_mnist_ch1.5x": _deja(96, (1, 2, 2), 3, (28,)),
    "deja_fashion_mnist_blocks2x": _deja(64, (1, 2, 2), 6, (28,)),
}

_CIFAR = dict(dataset="CIFAR-10", image_size=32, in_channels=3)
_FMNIST = dict(dataset="Fashion-MNIST", image_size=28, in_channels=1)

#: Data set, image size, image channels and source of every named architecture.
ARCHITECTURE_INFO: dict[str, ArchitectureInfo] = {
    "coursework_default": ArchitectureInfo(**_CIFAR, source=_CW + ": Default"),
    "coursework_deepres1": ArchitectureInfo(**_CIFAR, source=_CW + ": DeepRes1"),
    "coursework_shallowres2": ArchitectureInfo(**_CIFAR, source=_CW + ": ShallowRes2"),
    "coursework_shallowres1": ArchitectureInfo(**_CIFAR, source=_CW + ": ShallowRes1"),
    "coursework_mbconv64": ArchitectureInfo(**_CIFAR, source=_CW + ": MBConv64"),
    "coursework_mbconv96": ArchitectureInfo(**_CIFAR, source=_CW + ": MBConv96"),
    "ddpm_cifar10": ArchitectureInfo(**_CIFAR, source="Ho et al. 2020 (DDPM), Appendix B: CIFAR-10 model"),
    "deja_fashion_mnist": ArchitectureInfo(**_FMNIST, source=_DEJA6 + ": FashionMNIST; Table 7: DDGM"),
    "deja_cifar10": ArchitectureInfo(**_CIFAR, source=_DEJA6 + ": CIFAR10"),
    "deja_celeba64": ArchitectureInfo(dataset="CelebA", image_size=64, in_channels=3, source=_DEJA6 + ": CelebA"),
    "deja_fashion_mnist_ch1.5x": ArchitectureInfo(**_FMNIST, source=_DEJA7 + ": DDGM 1.5x channels"),
    "deja_fashion_mnist_blocks2x": ArchitectureInfo(**_FMNIST, source=_DEJA7 + ": DDGM 2x blocks"),
}

#: Models made of several named U-Nets (for parameter tables): DAED = DAE U-Net + DDGM U-Net,
#: both with the DDGM architecture (Deja et al. 2022, sec. 5 and Table 7).
PAPER_COMPOSITE_MODELS: dict[str, tuple[str, ...]] = {
    "deja_fashion_mnist_daed": ("deja_fashion_mnist", "deja_fashion_mnist"),
}

#: Published parameter counts in millions (architecture or composite-model name -> count).
#: Epsilon-prediction networks (out_channels == in_channels) as in the cited runs.
PAPER_PARAMETER_COUNTS: dict[str, float] = {
    "coursework_default": 34.21,
    "coursework_deepres1": 23.27,
    "coursework_shallowres2": 24.76,
    "coursework_shallowres1": 17.02,
    "coursework_mbconv64": 11.51,
    "coursework_mbconv96": 25.68,
    "ddpm_cifar10": 35.7,
    "deja_fashion_mnist": 8.8,
    "deja_fashion_mnist_ch1.5x": 19.8,
    "deja_fashion_mnist_blocks2x": 15.1,
    "deja_fashion_mnist_daed": 17.6,
}

_UNET_KWARGS = frozenset(
    name for name, p in inspect.signature(UNet.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY
)


def _lookup(name: str) -> dict[str, Any]:
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture {name!r}; known architectures: {known}") from None


def architecture(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of the named settings with ``overrides`` (UNet keyword arguments) applied."""
    settings = copy.deepcopy(_lookup(name))
    unknown = sorted(set(overrides) - _UNET_KWARGS)
    if unknown:
        raise ValueError(
            f"unknown UNet argument(s) {', '.join(map(repr, unknown))} for architecture {name!r}; "
            f"allowed: {', '.join(sorted(_UNET_KWARGS))}"
        )
    settings.update(overrides)
    return settings


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def scaled_architecture(name: str, channel_scale: float = 1.0, block_scale: float = 1.0) -> dict[str, Any]:
    """Named settings with ``base_channels`` and ``num_res_blocks`` scaled.

    ``base_channels`` becomes ``channel_scale * base_channels`` rounded to the nearest multiple
    of ``num_heads`` (so attention stays valid), ``num_res_blocks`` becomes
    ``block_scale * num_res_blocks`` rounded (at least 1). ``scaled_architecture(
    "deja_fashion_mnist", channel_scale=1.5)`` is Deja Table 7's "1.5x channels" network and
    ``block_scale=2`` its "2x blocks" network.
    """
    for arg, value in (("channel_scale", channel_scale), ("block_scale", block_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{arg} must be a positive number, got {value!r}")
    settings = architecture(name)
    heads = settings["num_heads"]
    settings["base_channels"] = heads * max(1, _round_half_up(settings["base_channels"] * channel_scale / heads))
    settings["num_res_blocks"] = max(1, _round_half_up(settings["num_res_blocks"] * block_scale))
    return settings


def build_architecture(
    name: str,
    *,
    image_size: int | None = None,
    in_channels: int | None = None,
    out_channels: int | None = None,
    **overrides: Any,
) -> UNet:
    """Build the named U-Net; image size and channels default to its data set's.

    Construct it under ``with torch.device("meta"):`` to count parameters without memory.
    """
    settings = architecture(name, **overrides)
    info = ARCHITECTURE_INFO[name]
    in_channels = info.in_channels if in_channels is None else in_channels
    return UNet(
        image_size=info.image_size if image_size is None else image_size,
        in_channels=in_channels,
        out_channels=in_channels if out_channels is None else out_channels,
        **settings,
    )


def parameter_count(name: str, **overrides: Any) -> int:
    """Parameters of the named U-Net (or composite model), built on the meta device (no memory)."""
    if name in PAPER_COMPOSITE_MODELS:
        return sum(parameter_count(part, **overrides) for part in PAPER_COMPOSITE_MODELS[name])
    with torch.device("meta"):
        net = build_architecture(name, **overrides)
    return count_parameters(net)


def parameter_count_table() -> list[dict[str, Any]]:
    """One row per named architecture and composite model: our count vs the published one.

    Keys: ``name, dataset, ours_m, paper_m`` (``None`` where the paper gives none),
    ``rel_diff`` (``ours / paper - 1`` or ``None``), ``source``.
    """
    rows = []
    names = list(ARCHITECTURES) + list(PAPER_COMPOSITE_MODELS)
    for name in names:
        if name in PAPER_COMPOSITE_MODELS:
            parts = PAPER_COMPOSITE_MODELS[name]
            info = ARCHITECTURE_INFO[parts[0]]
            source = _DEJA7 + ": DAED (" + " + ".join(parts) + ")"
        else:
            info = ARCHITECTURE_INFO[name]
            source = info.source
        ours = parameter_count(name) / 1e6
        paper = PAPER_PARAMETER_COUNTS.get(name)
        rows.append(
            dict(
                name=name,
                dataset=info.dataset,
                ours_m=ours,
                paper_m=paper,
                rel_diff=None if paper is None else ours / paper - 1.0,
                source=source,
            )
        )
    return rows
