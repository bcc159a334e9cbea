"""Reconstruction error of a DDGM from step ``t`` (Deja et al. 2022, Fig. 2 and 3).

For each step ``t`` an image ``x0`` is noised with the forward marginal,
``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps`` (:meth:`GaussianDiffusion.q_sample`), and the
model's ancestral reverse process (:meth:`GaussianDiffusion.p_sample`) is run from ``t`` down to
``0`` (``t + 1`` model calls; 0-based ``t``, so ``t = 0`` is the single last denoising step). The
result, clamped to ``[-1, 1]`` as :meth:`GaussianDiffusion.sample` does, is compared with ``x0``:

* MAE and MS-SSIM are both computed on images mapped to ``[0, 1]``
  (:func:`~diffrepro.analysis.image_quality.to_unit_range`), so the MAE is a fraction of the
  intensity range (half the ``[-1, 1]`` value) and MS-SSIM uses ``data_range = 1`` with the
  small-image settings of :func:`~diffrepro.analysis.image_quality.ms_ssim_settings`;
* per-step rows hold the mean over images and its standard error (``std(ddof=1) / sqrt(n)``,
  ``nan`` for a single image).

Fig. 3 (in-domain vs out-of-domain) is two calls with the same model and different ``x0``.

The paper studies the first 20% of the steps; :func:`first_fraction_steps` gives evenly spaced
0-based steps there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .image_quality import mae, ms_ssim, ms_ssim_settings, to_unit_range

__all__ = ["first_fraction_steps", "reconstruction_error"]


def first_fraction_steps(num_steps: int, fraction: float = 0.2, count: int = 10) -> list[int]:
    """``count`` evenly spaced 0-based steps in the first ``fraction`` of ``num_steps``.

    The first fraction holds the steps ``0 .. n - 1`` with ``n = max(1, floor(fraction * T))``;
    the result is ``0, k, 2k, ..., (count - 1) k`` with the integer stride
    ``k = max(1, (n - 1) // (count - 1))``, cut to values ``< n`` (so all of ``0 .. n - 1`` when
    ``count >= n``). E.g. ``T = 1000`` -> ``0, 22, ..., 198``; ``T = 500`` -> ``0, 11, ..., 99``.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must satisfy 0 < fraction <= 1, got {fraction}")
    n = max(1, int(math.floor(fraction * num_steps + 1e-9)))
    if count == 1:
        return [0]
    stride = max(1, (n - 1) // (count - 1))
    return [i * stride for i in range(count) if i * stride < n]


def _mean_sem(values: Tensor) -> tuple[float, float]:
    values = values.to(torch.float64)
    n = values.numel()
    mean = float(values.mean())
    sem = float(values.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    return mean, sem


def reconstruction_error(
    diffusion: Any,
    model: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    steps: Sequence[int],
    *,
    variance: str = "fixed_small",
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    clip_denoised: bool = True,
) -> list[dict[str, float]]:
    """MAE and MS-SSIM between ``x0`` and the reverse process started from ``x_t``, per step.

    Args:
        diffusion: a :class:`~diffrepro.diffusion.GaussianDiffusion` (``q_sample``, ``p_sample``,
            ``num_timesteps``).
        model: eps-predicting ``model(x_t, t)`` already on ``device``; put it in eval mode first
            (its train/eval mode is not touched).
        x0: ``[N, C, H, W]`` images in ``[-1, 1]`` (any device; moved batch by batch).
        steps: 0-based starting steps ``t`` (each in ``0 .. T-1``), e.g.
            :func:`first_fraction_steps`; processed in the given order.
        variance: reverse variance passed to ``p_sample`` (``fixed_small`` etc.).
        generator: source of all randomness (forward noise, then the reverse-step noise, per
            step and batch in order); the result is a deterministic function of its state on a
            given device. Noise is drawn on the generator's device and moved to ``device``.
        batch_size: images per batch (results depend on it only through the order of draws).
        clip_denoised: clamp the predicted ``x0`` to ``[-1, 1]`` inside each step.

    Returns:
        One row per step: ``{"t", "n", "mae", "mae_sem", "ms_ssim", "ms_ssim_sem"}`` (means over
        the ``n`` images and their standard errors; metrics on ``[0, 1]`` images, see module
        docstring). Runs under :func:`torch.inference_mode`.
    """
    if not isinstance(x0, Tensor) or x0.ndim != 4:
        raise ValueError(f"x0 must be a [N, C, H, W] tensor, got {getattr(x0, 'shape', type(x0))}")
    if x0.shape[0] < 1:
        raise ValueError("x0 holds no images")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    num_steps = int(diffusion.num_timesteps)
    steps = [int(t) for t in steps]
    for t in steps:
        if not 0 <= t < num_steps:
            raise ValueError(f"step {t} outside 0..{num_steps - 1}")
    device = torch.device(device)
    win_size, weights = ms_ssim_settings(x0.shape[-2], x0.shape[-1])
    gen_device = generator.device if generator is not None else device

    rows: list[dict[str, float]] = []
    with torch.inference_mode():
        for t in steps:
            maes, ssims = [], []
            for start in range(0, x0.shape[0], batch_size):
                xb = x0[start : start + batch_size].to(device)
                n = xb.shape[0]
                noise = torch.randn(xb.shape, generator=generator, device=gen_device, dtype=xb.dtype)
                x = diffusion.q_sample(xb, torch.full((n,), t, dtype=torch.long, device=device), noise.to(device))
                for s in range(t, -1, -1):
                    ts = torch.full((n,), s, dtype=torch.long, device=device)
                    x = diffusion.p_sample(
                        model, x, ts, variance=variance, generator=generator, clip_denoised=clip_denoised
                    )
                rec = to_unit_range(x.clamp(-1.0, 1.0))
                ref = to_unit_range(xb)
                maes.append(mae(ref, rec).cpu())
                ssims.append(ms_ssim(ref, rec, 1.0, win_size=win_size, weights=weights).cpu())
            mae_mean, mae_sem = _mean_sem(torch.cat(maes))
            ssim_mean, ssim_sem = _mean_sem(torch.cat(ssims))
            rows.append(
                {
                    "t": t,
                    "n": int(x0.shape[0]),
                    "mae": mae_mean,
                    "mae_sem": mae_sem,
                    "ms_ssim": ssim_mean,
                    "ms_ssim_sem": ssim_sem,
                }
            )
    return rows
