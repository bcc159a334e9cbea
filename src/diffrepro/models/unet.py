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
* output head ``GroupNorm -> SiLU -> conv3x3(zero-init)``, so a fresh model outputs 0.

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

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "UNet",
    "ATTENTION_IMPLS",
    "BLOCK_TYPES",
    "TIME_CONDITIONING",
    "TimestepBlock",
    "count_parameters",
    "timestep_embedding",
    "group_norm",
    "math_attention",
    "set_attention",
]

#: Allowed values of :func:`set_attention`: PyTorch's fused kernel or the explicit formula.
ATTENTION_IMPLS = ("sdpa", "math")

#: Allowed values of ``UNet(block=...)``.
BLOCK_TYPES = ("resnet", "mbconv")
#: Allowed values of ``UNet(time_conditioning=...)`` and of the blocks' argument of that name.
TIME_CONDITIONING = ("scale_shift", "additive")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (optionally only those requiring grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _num_groups(channels: int, max_groups: int) -> int:
    """Largest divisor of ``channels`` that is ``<= max_groups``."""
    for g in range(min(channels, max_groups), 0, -1):
        if channels % g == 0:
            return g
    return 1


def group_norm(channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with a group count that always divides ``channels``."""
    return nn.GroupNorm(_num_groups(channels, max_groups), channels)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding ``[cos(t w_i), sin(t w_i)]``, ``w_i = max_period^(-i/half)``; shape ``[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def check_time_conditioning(value: str) -> str:
    if value not in TIME_CONDITIONING:
        raise ValueError(
            f"time_conditioning must be one of {', '.join(map(repr, TIME_CONDITIONING))}; got {value!r}"
        )
    return value


class TimestepBlock(nn.Module):
    """A block whose ``forward`` takes ``(x, emb)``: the time embedding as second argument."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def condition(self, h: Tensor, emb: Tensor, norm: nn.Module) -> Tensor:
        """Apply ``norm`` to ``h`` with time conditioning from ``self.emb`` (scale-shift or additive)."""
        e = self.emb(F.silu(emb))[:, :, None, None]
        if self.time_conditioning == "additive":
            return norm(h + e)
        scale, shift = e.chunk(2, dim=1)
        return norm(h) * (1.0 + scale) + shift


class ResBlock(TimestepBlock):
    """Residual block with scale-shift (default) or additive (DDPM) time conditioning."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        emb_ch: int,
        dropout: float,
        num_groups: int,
        time_conditioning: str = "scale_shift",
    ) -> None:
        super().__init__()
        self.time_conditioning = check_time_conditioning(time_conditioning)
        self.norm1 = group_norm(in_ch, num_groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_ch, (2 if time_conditioning == "scale_shift" else 1) * out_ch)
        self.norm2 = group_norm(out_ch, num_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.condition(h, emb, self.norm2)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


def math_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` over the last two dimensions, written out (no fused kernel)."""
    weights = torch.softmax(q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5), dim=-1)
    return weights @ v


def set_attention(module: nn.Module, impl: str) -> nn.Module:
    """Make every attention block inside ``module`` use ``impl`` (``"sdpa"`` or ``"math"``); returns ``module``.

    The choice is an attribute of each block, not a parameter: state dicts are unchanged."""
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"attention must be one of {', '.join(map(repr, ATTENTION_IMPLS))}; got {impl!r}")
    for m in module.modules():
        if isinstance(m, AttentionBlock):
            m.attention = impl
    return module


class AttentionBlock(nn.Module):
    """Multi-head spatial self-attention with a residual connection."""

    #: ``"sdpa"`` (:func:`F.scaled_dot_product_attention`) or ``"math"`` (:func:`math_attention`)
    attention = "sdpa"

    def __init__(self, channels: int, num_heads: int, num_groups: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = group_norm(channels, num_groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        heads, d = self.num_heads, c // self.num_heads
        # contiguous: PyTorch's fused SDPA kernels need unit stride in the last dimension, which the transposed
        # view of an NCHW tensor lacks; without the copy SDPA silently runs its unfused math fallback
        # (measured: 3.5x slower for the paper's 28x28 attention on a CPU)
        qkv = self.qkv(self.norm(x)).reshape(b, 3, heads, d, h * w).transpose(-1, -2).contiguous()
        q, k, v = qkv.unbind(dim=1)  # each [B, heads, L, d]
        out = math_attention(q, k, v) if self.attention == "math" else F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Stage(nn.Module):
    """A ResBlock optionally followed by attention, or a resampling layer."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


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
    ) -> None:
        super().__init__()
        check_time_conditioning(time_conditioning)
        if block not in BLOCK_TYPES:
            raise ValueError(f"block must be one of {', '.join(map(repr, BLOCK_TYPES))}; got {block!r}")
        if block == "mbconv":
            _positive_int("expansion", expansion)
            if isinstance(se_ratio, bool) or not 0.0 < float(se_ratio) <= 1.0:
                raise ValueError(f"se_ratio must be in (0, 1], got {se_ratio!r}")
        _positive_int("image_size", image_size)
        _positive_int("in_channels", in_channels)
        _positive_int("out_channels", out_channels)
        _positive_int("base_channels", base_channels)
        _positive_int("num_res_blocks", num_res_blocks)
        _positive_int("num_heads", num_heads)
        _positive_int("num_groups", num_groups)
        channel_mult = tuple(channel_mult)
        if not channel_mult:
            raise ValueError("channel_mult must not be empty")
        for m in channel_mult:
            _positive_int("channel_mult entries", m)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        num_levels = len(channel_mult)
        factor = 2 ** (num_levels - 1)
        if image_size % factor:
            raise ValueError(
                f"image_size={image_size} must be divisible by 2**(len(channel_mult)-1)={factor}"
            )
        resolutions = [image_size // 2**i for i in range(num_levels)]
        attention_resolutions = tuple(int(r) for r in attention_resolutions)
        for r in attention_resolutions:
            if r not in resolutions:
                raise ValueError(
                    f"attention_resolutions entry {r} is not reachable; feature-map sizes are {resolutions}"
                )
        attn_channels = {base_channels * channel_mult[i] for i, r in enumerate(resolutions) if r in attention_resolutions}
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

        emb_ch = 4 * base_channels
        self.time_embed = nn.Sequential(
            nn.Linear(base_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch)
        )

        if block == "mbconv":
            from .mbconv import MBConvBlock  # local import: mbconv.py builds on this module

            def res(cin: int, cout: int) -> TimestepBlock:
                return MBConvBlock(
                    cin, cout, emb_ch, self.dropout, num_groups, expansion, self.se_ratio, time_conditioning
                )

        else:

            def res(cin: int, cout: int) -> TimestepBlock:
                return ResBlock(cin, cout, emb_ch, self.dropout, num_groups, time_conditioning)

        def attn(c: int) -> AttentionBlock:
            return AttentionBlock(c, num_heads, num_groups)

        # Encoder
        self.input_blocks = nn.ModuleList([_Stage(nn.Conv2d(in_channels, base_channels, 3, padding=1))])
        skip_chans = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, base_channels * mult)]
                ch = base_channels * mult
                if resolutions[level] in attention_resolutions:
                    layers.append(attn(ch))
                self.input_blocks.append(_Stage(*layers))
                skip_chans.append(ch)
            if level != num_levels - 1:
                self.input_blocks.append(_Stage(Downsample(ch)))
                skip_chans.append(ch)

        # Middle
        self.middle_block = _Stage(res(ch, ch), attn(ch), res(ch, ch))

        # Decoder
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), base_channels * mult)]
                ch = base_channels * mult
                if resolutions[level] in attention_resolutions:
                    layers.append(attn(ch))
                if level != 0 and i == num_res_blocks:
                    layers.append(Upsample(ch))
                self.output_blocks.append(_Stage(*layers))
        assert not skip_chans

        self.out = nn.Sequential(
            group_norm(ch, num_groups), nn.SiLU(), _zero(nn.Conv2d(ch, out_channels, 3, padding=1))
        )

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.base_channels).to(self.time_embed[0].weight.dtype))
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)
