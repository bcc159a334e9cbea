"""Directly Denoising Diffusion Models (Zhang et al. 2024): network, loss and sampler.

The network ``f_theta(x_t, t, x_bar)`` is a U-Net with ``C`` output channels: a direct (raw, unclamped)
estimate of ``x0``. It sees ``x_bar`` in one of two ways (``dddm.conditioning``): ``"concat"``, ``2C`` input
channels fed ``[x_t, x_bar]`` (simple, the small presets' choice); or ``"cross_attention"``, the paper's
(Sec. 5.1: "Following ADM, we employ cross-attention modules not only at the 16x16 resolution but also at the
8x8 resolution, through which we incorporate the conditioning image into the network"): ``C`` input channels
and cross-attention from every attention resolution of the U-Net to features of ``x_bar`` at that resolution
(:class:`~diffrepro.models.unet.ConditionEncoder`). The paper does not describe the conditioning encoder; ours
is one 3x3 convolution, an area-average to each resolution and a 1x1 convolution per resolution.

Loss (Eq. 5 and Algorithm 1, with the public code's weighting): for a training image ``x0``,
``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps`` with ``t`` uniform on ``0..T-1`` (0-based),
``f = f_theta(x_t, t, x_bar)`` and ``loss = w d(f, x0) + (1 - w) d(f, x_bar)``, where ``x_bar`` is
the model's own estimate for that image from the previous epoch and ``w = 1 / (epoch + 1)``.

Sampling (:func:`dddm_sample`). The paper's Sec. 3 "Sampling": "both x_T and x_bar are sampled from
N(0, I). Subsequently, these noise vectors and embedding of T are passed through the DDDM model";
Eq. 4 defines x_bar^(n) as "the estimated ground truth data at the n-th training epoch or n-th
sampling iteration", and multi-step sampling refines that estimate ("samples generated from the
previous time step are also taken into consideration, guiding the generation process iteratively").
Algorithm 2 is not in the text we have; the authors' code (``p_sample_loop`` of TheLuoFengLab/DDDM)
feeds the *same* x_T and the same time T at every iteration, and the project's reference notes say
the same. So the default ``method="fixed_point"`` is: x_T, x_bar ~ N(0, I); repeat N times
``x_bar <- f(x_T, T-1, x_bar)`` (T-1 is the last 0-based training step; the public code passes T,
one past the trained range). ``method="renoise"`` is the alternative for ambiguous readings:
N evenly spaced times t_i from T-1 down to 0; ``x_t = x_T`` for i = 0, else
``x_t = q_sample(x_bar, t_i, fresh noise)``; ``x_bar <- f(x_t, t_i, x_bar)``. Either way the network
is called exactly N times per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..models.precision import with_precision
from ..models.unet import UNet
from ..sections import UNetConfig

__all__ = [
    "SAMPLE_METHODS",
    "CONDITIONING",
    "build_dddm_unet",
    "check_conditioning",
    "loss_weight",
    "dddm_forward",
    "q_sample",
    "dddm_loss",
    "dddm_sample",
    "sample_times",
]

#: How the network sees x_bar: stacked with x_t as input channels, or through cross-attention (the paper's)
CONDITIONING: tuple[str, ...] = ("concat", "cross_attention")
#: Values of ``dddm_sample(method=...)``.
SAMPLE_METHODS: tuple[str, ...] = ("fixed_point", "renoise")

NetworkFn = Callable[[Tensor, Tensor], Tensor]


def build_dddm_unet(
    unet_cfg: UNetConfig | Mapping[str, Any],
    *,
    image_size: int,
    channels: int,
    conditioning: str = "concat",
    num_classes: int = 0,
) -> UNet:
    """The DDDM network: a :class:`UNet` from a ``unet`` config section (typed, or as written: the schema's
    defaults are filled in), ``C`` outputs; ``2C`` inputs (``conditioning="concat"``) or ``C`` inputs and a
    ``C``-channel conditioning image read by cross-attention at ``unet.attention_resolutions``
    (``"cross_attention"``); ``num_classes > 0``: class-conditional (a label embedding added to the time
    embedding, :class:`UNet`), the paper's ImageNet 64 models."""
    check_conditioning(conditioning)
    u = unet_cfg if isinstance(unet_cfg, UNetConfig) else UNetConfig.from_dict(unet_cfg)
    cross = conditioning == "cross_attention"
    if cross and not u.attention_resolutions:
        raise ValueError("DDDM cross-attention conditioning needs unet.attention_resolutions (where it attends)")
    return UNet(
        image_size=image_size,
        in_channels=channels if cross else 2 * channels,
        cond_channels=channels if cross else 0,
        out_channels=channels,
        base_channels=u.base_channels,
        channel_mult=tuple(u.channel_mult),
        num_res_blocks=u.num_res_blocks,
        attention_resolutions=tuple(u.attention_resolutions),
        num_heads=u.num_heads,
        dropout=u.dropout,
        block=u.block,
        time_conditioning=u.time_conditioning,
        num_classes=num_classes,
    )


def loss_weight(epoch: int) -> float:
    """``w = 1 / (epoch + 1)`` for a 0-based epoch: the weight of ``d(f, x0)``; ``1 - w`` weighs ``d(f, x_bar)``."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    return 1.0 / (epoch + 1)


def check_conditioning(conditioning: str) -> str:
    if conditioning not in CONDITIONING:
        raise ValueError(f"unknown DDDM conditioning {conditioning!r}; expected one of {', '.join(CONDITIONING)}")
    return conditioning


def dddm_forward(
    model: Callable[..., Tensor],
    x_t: Tensor,
    t: Tensor,
    x_bar: Tensor,
    conditioning: str = "concat",
    y: Tensor | None = None,
) -> Tensor:
    """``f_theta(x_t, t, x_bar)``: ``model(cat([x_t, x_bar], dim=1), t)`` (``"concat"``) or
    ``model(x_t, t, cond=x_bar)`` (``"cross_attention"``); a class-conditional network also gets the labels
    ``y`` (``model(..., y=y)``)."""
    if x_t.shape != x_bar.shape:
        raise ValueError(f"x_t {tuple(x_t.shape)} and x_bar {tuple(x_bar.shape)} differ in shape")
    labels = {} if y is None else {"y": y}
    if check_conditioning(conditioning) == "cross_attention":
        return model(x_t, t, cond=x_bar, **labels)
    return model(torch.cat([x_t, x_bar], dim=1), t, **labels)


def _gather(table: Tensor, t: Tensor, like: Tensor) -> Tensor:
    return table.to(t.device)[t.long()].to(like.dtype).reshape(t.shape[0], *([1] * (like.ndim - 1)))


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """``sqrt(ab_t) x0 + sqrt(1 - ab_t) noise`` (0-based ``t``; ``alphas_cumprod`` float64 ``[T]``)."""
    ab = alphas_cumprod.to(torch.float64)
    return _gather(ab.sqrt(), t, x0) * x0 + _gather((1.0 - ab).sqrt(), t, x0) * noise


def dddm_loss(
    model: NetworkFn,
    x0: Tensor,
    x_bar: Tensor,
    t: Tensor,
    noise: Tensor,
    alphas_cumprod: Tensor,
    metric: Callable[[Tensor, Tensor], Tensor],
    w: float,
    conditioning: str = "concat",
    y: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-example ``w d(f, x0) + (1 - w) d(f, x_bar)`` and ``f`` (the model's x0 estimate, with grad);
    ``y``: the images' class labels (a class-conditional network).

    A term whose weight is exactly 0 is not evaluated (its value would be multiplied by 0).
    """
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    f = dddm_forward(model, x_t, t, x_bar, conditioning, y)
    loss = torch.zeros(x0.shape[0], dtype=f.dtype, device=f.device)
    if w > 0.0:
        loss = loss + w * metric(f, x0)
    if w < 1.0:
        loss = loss + (1.0 - w) * metric(f, x_bar)
    return loss, f


def sample_times(steps: int, num_timesteps: int, method: str = "fixed_point") -> list[int]:
    """The 0-based network time of each of the ``steps`` calls of :func:`dddm_sample`."""
    if method not in SAMPLE_METHODS:
        raise ValueError(f"unknown DDDM sampling method {method!r}; expected one of {', '.join(SAMPLE_METHODS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if method == "fixed_point" or steps == 1:
        return [num_timesteps - 1] * steps
    return [round(v) for v in torch.linspace(num_timesteps - 1, 0, steps, dtype=torch.float64).tolist()]


def dddm_sample(
    model: NetworkFn,
    shape: Sequence[int],
    *,
    steps: int,
    num_timesteps: int,
    generator: torch.Generator,
    device: str | torch.device = "cpu",
    method: str = "fixed_point",
    alphas_cumprod: Tensor | None = None,
    precision: str = "fp32",
    clip: bool = False,
    conditioning: str = "concat",
    labels: Tensor | None = None,
) -> Tensor:
    """``steps``-step DDDM sampling (see the module docstring); returns the final x_bar (float32, raw).
    ``labels``: the class of each sample ``[B]`` (int64; a class-conditional network), the same at every call.

    x_T, then the initial x_bar, then (``renoise`` only) one fresh noise per later step are drawn from
    the CPU ``generator``, so a given generator state gives the same x_T for every ``steps``.
    ``clip`` clamps every estimate to [-1, 1] before it is fed back (the public code does; default off).
    """
    times = sample_times(steps, num_timesteps, method)
    if method == "renoise" and steps > 1 and alphas_cumprod is None:
        raise ValueError("method='renoise' needs alphas_cumprod")
    network = with_precision(model, precision, device)
    shape = tuple(shape)
    if labels is not None:
        if labels.shape != (shape[0],):
            raise ValueError(f"labels must have shape ({shape[0]},), got {tuple(labels.shape)}")
        labels = labels.to(device)
    with torch.inference_mode():
        x_T = torch.randn(shape, generator=generator).to(device)
        x_bar = torch.randn(shape, generator=generator).to(device)
        for i, t_i in enumerate(times):
            t = torch.full((shape[0],), t_i, dtype=torch.long, device=device)
            if method == "renoise" and i > 0:
                noise = torch.randn(shape, generator=generator).to(device)
                x_t = q_sample(x_bar, t, noise, alphas_cumprod)
            else:
                x_t = x_T
            x_bar = dddm_forward(network, x_t, t, x_bar, conditioning, labels).float()
            if clip:
                x_bar = x_bar.clamp(-1.0, 1.0)
    return x_bar
