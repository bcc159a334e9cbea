"""MBConv (inverted-residual) block with squeeze-excitation for the diffusion U-Net.

Source: the coursework report "Surrogate diffusion and IW-Diff" (``shared/papers/
surrogate-diffusion-and-iwdiff-coursework.txt``), section 4.4 "Different Model
Architectures": *"We then decide to change normal residual blocks to MBConv blocks with
squeeze-excitation (SE) used in CoAtNet (Zihang et al. (2021)). MBConv was initially used by
Sandler et al. (2018) in MobileNetV2, it utilizes depthwise 3x3 and 1x1 convolutions instead
of standard 3x3 convolutions. [...] We set the expansion rate of MBConv to 4, and the
expansion rate of SE to 0.25 in all our experiments."*  Table 4.3 lists the two MBConv
networks (MBConv64, MBConv96; see :mod:`diffrepro.models.architectures`).

The report gives no figure or code for the block, so the layout below is ours. It follows
MobileNetV2 / EfficientNet / CoAtNet and keeps the conventions of the standard
:class:`~diffrepro.models.layers.ResBlock` (pre-activation GroupNorm, scale-shift time
conditioning, zero-initialised last layer) so the two are drop-in replacements with the same
``forward(x, emb)`` signature::

    h = GroupNorm(x) -> SiLU -> conv1x1 (in_ch -> hidden = expansion * in_ch)        # expand
    h = GroupNorm(h) * (1 + scale) + shift   with (scale, shift) = Linear(SiLU(emb))  # time
        (or GroupNorm(h + Linear(SiLU(emb))) with time_conditioning="additive", as DDPM)
    h = SiLU(h) -> depthwise conv3x3 (groups = hidden) -> SiLU                        # spatial
    h = SqueezeExcitation(h)   # avg-pool -> 1x1 (hidden -> se) -> SiLU -> 1x1 (se -> hidden) -> sigmoid gate
    h = Dropout(h) -> conv1x1 (hidden -> out_ch), zero-initialised                   # project
    return skip(x) + h         # skip = identity, or a 1x1 conv when in_ch != out_ch

* The expansion width is relative to the block's input channels (MobileNetV2, EfficientNet);
  in the U-Net decoder the input is the concatenation of the feature map and its skip.
* The SE bottleneck has ``max(1, int(in_ch * se_ratio))`` channels, i.e. the SE ratio is
  relative to the block's *input* channels as in EfficientNet (``se_ratio=0.25``), not to the
  expanded width.
* Because the projection is zero-initialised, a freshly built block is exactly ``skip(x)``:
  the identity when ``in_ch == out_ch``, else the 1x1 skip convolution.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import TimestepBlock, check_time_conditioning, group_norm, positive_int, zero_module

__all__ = ["MBConvBlock", "SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """Channel gate of Hu et al. (2018): ``x * sigmoid(W2 SiLU(W1 mean_hw(x)))``.

    ``channels`` is the width of the gated tensor, ``squeeze_channels`` the bottleneck width.
    """

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        positive_int("channels", channels)
        positive_int("squeeze_channels", squeeze_channels)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)

    def gate(self, x: Tensor) -> Tensor:
        """Per-channel gate in (0, 1), shape ``[B, C, 1, 1]``."""
        s = x.mean(dim=(2, 3), keepdim=True)
        return self.expand(F.silu(self.reduce(s))).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class MBConvBlock(TimestepBlock):
    """Inverted-residual block with SE and time conditioning (see the module docstring)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        emb_ch: int,
        dropout: float,
        num_groups: int,
        expansion: int = 4,
        se_ratio: float = 0.25,
        time_conditioning: str = "scale_shift",
    ) -> None:
        super().__init__()
        self.time_conditioning = check_time_conditioning(time_conditioning)
        positive_int("expansion", expansion)
        if not 0.0 < float(se_ratio) <= 1.0:
            raise ValueError(f"se_ratio must be in (0, 1], got {se_ratio!r}")
        hidden = expansion * in_ch
        self.hidden_channels = hidden
        self.norm1 = group_norm(in_ch, num_groups)
        self.expand = nn.Conv2d(in_ch, hidden, 1)
        self.emb = nn.Linear(emb_ch, (2 if time_conditioning == "scale_shift" else 1) * hidden)
        self.norm2 = group_norm(hidden, num_groups)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.se = SqueezeExcitation(hidden, max(1, int(in_ch * se_ratio)))
        self.dropout = nn.Dropout(dropout)
        self.project = zero_module(nn.Conv2d(hidden, out_ch, 1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.expand(F.silu(self.norm1(x)))
        h = self.condition(h, emb, self.norm2)
        h = F.silu(self.depthwise(F.silu(h)))
        h = self.project(self.dropout(self.se(h)))
        return self.skip(x) + h
