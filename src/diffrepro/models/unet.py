"""U-Net noise-prediction network in the style of DDPM / improved DDPM.

Architecture (Ho et al. 2020, Appendix B; Nichol & Dhariwal 2021; as described in
``REFERENCE_NOTES.md``):

* sinusoidal timestep embedding of width ``base_channels`` (max period 10000, Transformer
  positional encoding) followed by ``Linear(ch, 4ch) -> SiLU -> Linear(4ch, 4ch)``;
* residual blocks ``GroupNorm -> SiLU -> conv3x3 -> GroupNorm * (1 + scale) + shift ->
  SiLU -> Dropout -> conv3x3(zero-init)`` with a 1x1 skip convolution when the channel
  count changes (scale-shift conditioning from the time embedding);
* multi-head self-attention blocks (GroupNorm, 1x1 qkv conv,
  :func:`torch.nn.functional.scaled_dot_product_attention`, zero-init 1x1 output
  projection, residual) at the listed spatial resolutions and in the middle block; the explicit
  ``softmax(Q K^T / sqrt(d)) V`` of :func:`math_attention` computes the same (to float rounding)
  and is chosen per model with :func:`set_attention` (the ``speed.attention`` switch);
* down-sampling by stride-2 3x3 conv, up-sampling by nearest-neighbour x2 + 3x3 conv;
* improved-diffusion skip wiring: every encoder block output is stored and the decoder has
  ``num_res_blocks + 1`` blocks per level, each consuming one concatenated skip;
* output head ``GroupNorm -> SiLU -> conv3x3(zero-init)``, so a fresh model outputs 0;
* ``cond_channels > 0`` (the DDDM's cross-attention conditioning, Zhang et al. 2024 Sec. 5.1 after ADM): a
  conditioning image passes :class:`ConditionEncoder` (one feature map per attention resolution) and every
  self-attention block outside the middle is followed by a :class:`~.layers.CrossAttentionBlock` reading the
  features of its resolution (zero-initialised output, so a fresh block is the identity).
* ``num_classes > 0`` (class-conditional, as ADM's ImageNet models and the DDDM's ImageNet 64 run, Zhang et al.
  2024 Sec. 5.1: "all models on ImageNet 64x64 are conditioned on class labels"): a learned embedding of the
  label, of the time embedding's width, is added to the time embedding (ADM's ``label_emb``), so every block
  sees it through the same scale-shift (or additive) conditioning; ``forward(x, t, y=labels)``.

``time_conditioning="additive"`` switches every block to the original DDPM conditioning
(Ho et al. 2020): the projected time embedding ``Linear(SiLU(emb))`` of width ``out_ch`` is
*added* to the first convolution's output before the second GroupNorm, instead of the
scale-shift ``GroupNorm(h) * (1 + scale) + shift`` of improved DDPM (``use_scale_shift_norm``).
With it the DDPM CIFAR-10 configuration has DDPM's published 35.7M parameters.

``block="mbconv"`` replaces every residual block (encoder, middle and decoder) by the
MBConv inverted-residual block with squeeze-excitation of the coursework report, section 4.4
(:class:`~diffrepro.models.mbconv.MBConvBlock`, expansion 4, SE ratio 0.25 by default).
Named settings from the papers are in :mod:`diffrepro.models.architectures`.

GroupNorm uses the largest divisor of the channel count not exceeding ``num_groups`` so
tiny test configurations are valid. All reshapes use ``reshape`` (channels-last safe).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import (
    AttentionBlock,
    CrossAttentionBlock,
    Downsample,
    ResBlock,
    TimestepBlock,
    Upsample,
    check_time_conditioning,
    group_norm,
    positive_int,
    timestep_embedding,
    zero_module,
)
from .mbconv import MBConvBlock

__all__ = ["BLOCK_TYPES", "UNet", "count_parameters"]

#: Allowed values of ``UNet(block=...)``.
BLOCK_TYPES = ("resnet", "mbconv")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (optionally only those requiring grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class _Stage(nn.Module):
    """A ResBlock optionally followed by attention (and cross-attention to the condition), or a resampling
    layer."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, emb: Tensor, cond: dict[int, Tensor] | None = None) -> Tensor:
        for layer in self.layers:
            if isinstance(layer, TimestepBlock):
                x = layer(x, emb)
            elif isinstance(layer, CrossAttentionBlock):
                assert cond is not None
                x = layer(x, cond[x.shape[-1]])
            else:
                x = layer(x)
        return x


class ConditionEncoder(nn.Module):
    """Features of a conditioning image for cross-attention: a 3x3 convolution to ``base_channels`` and SiLU at
    the image's resolution, then for each attention resolution an area-average down to it and a 1x1 convolution
    to that level's channel count."""

    def __init__(self, in_channels: int, base_channels: int, channels_at: dict[int, int]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        self.resolutions = tuple(sorted(channels_at, reverse=True))
        self.heads = nn.ModuleDict({str(r): nn.Conv2d(base_channels, channels_at[r], 1) for r in self.resolutions})

    def forward(self, c: Tensor) -> dict[int, Tensor]:
        h = F.silu(self.stem(c))
        return {r: self.heads[str(r)](F.adaptive_avg_pool2d(h, r)) for r in self.resolutions}


class UNet(nn.Module):
    """Epsilon-prediction U-Net; ``forward(x [B,C,H,W], t [B]) -> [B, out_channels, H, W]``."""

    def __init__(
        self,
        *,
        image_size: int,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (16,),
        num_heads: int = 4,
        dropout: float = 0.0,
        num_groups: int = 32,
        block: str = "resnet",
        expansion: int = 4,
        se_ratio: float = 0.25,
        time_conditioning: str = "scale_shift",
        cond_channels: int = 0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        check_time_conditioning(time_conditioning)
        if block not in BLOCK_TYPES:
            raise ValueError(f"block must be one of {', '.join(map(repr, BLOCK_TYPES))}; got {block!r}")
        if block == "mbconv":
            positive_int("expansion", expansion)
            if isinstance(se_ratio, bool) or not 0.0 < float(se_ratio) <= 1.0:
                raise ValueError(f"se_ratio must be in (0, 1], got {se_ratio!r}")
        positive_int("image_size", image_size)
        positive_int("in_channels", in_channels)
        positive_int("out_channels", out_channels)
        positive_int("base_channels", base_channels)
        positive_int("num_res_blocks", num_res_blocks)
        positive_int("num_heads", num_heads)
        positive_int("num_groups", num_groups)
        channel_mult = tuple(channel_mult)
        if not channel_mult:
            raise ValueError("channel_mult must not be empty")
        for m in channel_mult:
            positive_int("channel_mult entries", m)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        num_levels = len(channel_mult)
        factor = 2 ** (num_levels - 1)
        if image_size % factor:
            raise ValueError(f"image_size={image_size} must be divisible by 2**(len(channel_mult)-1)={factor}")
        resolutions = [image_size // 2**i for i in range(num_levels)]
        attention_resolutions = tuple(int(r) for r in attention_resolutions)
        for r in attention_resolutions:
            if r not in resolutions:
                raise ValueError(
                    f"attention_resolutions entry {r} is not reachable; feature-map sizes are {resolutions}"
                )
        attn_channels = {
            base_channels * channel_mult[i] for i, r in enumerate(resolutions) if r in attention_resolutions
        }
        attn_channels.add(base_channels * channel_mult[-1])  # middle block
        for c in sorted(attn_channels):
            if c % num_heads:
                raise ValueError(f"num_heads={num_heads} must divide the attention channel count {c}")

        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.base_channels = base_channels
        self.channel_mult = channel_mult
        self.num_res_blocks = num_res_blocks
        self.attention_resolutions = attention_resolutions
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.num_groups = num_groups
        self.block = block
        self.expansion = expansion
        self.se_ratio = float(se_ratio)
        self.time_conditioning = time_conditioning
        if isinstance(cond_channels, bool) or not isinstance(cond_channels, int) or cond_channels < 0:
            raise ValueError(f"cond_channels must be a non-negative int, got {cond_channels!r}")
        if cond_channels and not attention_resolutions:
            raise ValueError(
                "cond_channels > 0 needs attention_resolutions: cross-attention sits beside self-attention"
            )
        #: channels of the conditioning image that cross-attention reads (0: none, ``forward(x, t)``)
        self.cond_channels = cond_channels
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
        #: classes of the label embedding (0: unconditional, ``forward`` takes no ``y``)
        self.num_classes = num_classes

        emb_ch = 4 * base_channels
        self.time_embed = nn.Sequential(nn.Linear(base_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        if num_classes:
            self.label_embed = nn.Embedding(num_classes, emb_ch)

        if block == "mbconv":

            def res(cin: int, cout: int) -> TimestepBlock:
                return MBConvBlock(
                    cin, cout, emb_ch, self.dropout, num_groups, expansion, self.se_ratio, time_conditioning
                )

        else:

            def res(cin: int, cout: int) -> TimestepBlock:
                return ResBlock(cin, cout, emb_ch, self.dropout, num_groups, time_conditioning)

        def attn(c: int) -> list[nn.Module]:  # self-attention, then cross-attention to the condition
            cross = [CrossAttentionBlock(c, num_heads, num_groups)] if cond_channels else []
            return [AttentionBlock(c, num_heads, num_groups), *cross]

        if cond_channels:
            self.cond_encoder = ConditionEncoder(
                cond_channels,
                base_channels,
                {r: base_channels * channel_mult[i] for i, r in enumerate(resolutions) if r in attention_resolutions},
            )

        # Encoder
        self.input_blocks = nn.ModuleList([_Stage(nn.Conv2d(in_channels, base_channels, 3, padding=1))])
        skip_chans = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, base_channels * mult)]
                ch = base_channels * mult
                if resolutions[level] in attention_resolutions:
                    layers.extend(attn(ch))
                self.input_blocks.append(_Stage(*layers))
                skip_chans.append(ch)
            if level != num_levels - 1:
                self.input_blocks.append(_Stage(Downsample(ch)))
                skip_chans.append(ch)

        # Middle
        self.middle_block = _Stage(res(ch, ch), AttentionBlock(ch, num_heads, num_groups), res(ch, ch))

        # Decoder
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), base_channels * mult)]
                ch = base_channels * mult
                if resolutions[level] in attention_resolutions:
                    layers.extend(attn(ch))
                if level != 0 and i == num_res_blocks:
                    layers.append(Upsample(ch))
                self.output_blocks.append(_Stage(*layers))
        assert not skip_chans

        self.out = nn.Sequential(
            group_norm(ch, num_groups), nn.SiLU(), zero_module(nn.Conv2d(ch, out_channels, 3, padding=1))
        )

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """``cond``: the conditioning image ``[B, cond_channels, H', W']`` of a model built with
        ``cond_channels`` (read by cross-attention at every attention resolution); None otherwise. ``y``: the
        int64 class labels ``[B]`` (in ``0..num_classes-1``) of a model built with ``num_classes``; None
        otherwise."""
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if (cond is None) != (self.cond_channels == 0):
            raise ValueError(
                f"this U-Net takes {'a' if self.cond_channels else 'no'} conditioning image "
                f"(cond_channels={self.cond_channels}), got {'none' if cond is None else tuple(cond.shape)}"
            )
        if (y is None) != (self.num_classes == 0):
            raise ValueError(
                f"this U-Net takes {'class labels' if self.num_classes else 'no class labels'} "
                f"(num_classes={self.num_classes}), got {'none' if y is None else tuple(y.shape)}"
            )
        feats = self.cond_encoder(cond) if cond is not None else None
        emb = self.time_embed(timestep_embedding(t, self.base_channels).to(self.time_embed[0].weight.dtype))
        if y is not None:
            if y.shape != (x.shape[0],):
                raise ValueError(f"class labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
            emb = emb + self.label_embed(y).to(emb.dtype)
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb, feats)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, feats)
        return self.out(h)
