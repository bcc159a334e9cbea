"""Signal-to-noise ratio of the forward diffusion over a data set (Deja et al. 2022, Fig. 1, 8).

For an image ``x0`` (in the model's range, ``[-1, 1]``) the forward marginal is
``q(x_t | x0) = N(sqrt(ab_t) x0, (1 - ab_t) I)``. Deja et al. define the SNR as the squared mean
of the signal divided by its variance; per pixel that is ``ab_t x0^2 / (1 - ab_t)`` and, taking the
image's signal power as the mean over its pixels and channels,

    ``SNR_t(x0) = ab_t * mean(x0^2) / (1 - ab_t) = mean(x0^2) * SNR_t``,

where ``SNR_t = ab_t / (1 - ab_t)`` is the schedule-only value
(:func:`diffrepro.diffusion.schedules.snr`, the SNR of an image with ``mean(x0^2) = 1``).

Averaging over images ("We average SNR over the x0's") gives
``mean_i SNR_t(x0_i) = mean_i(mean(x0_i^2)) * SNR_t``; Figure 1 plots the **log of this
average** (``log_snr_mean`` below, the figure's curve) and its discrete derivative. The average
of per-image logs, ``mean_i log SNR_t(x0_i) = mean_i log mean(x0_i^2) + log SNR_t``, is returned
too (``mean_log_snr``); it is never larger (Jensen). Both are the schedule's log-SNR shifted by a
data-dependent constant, so their discrete derivatives are identical and do not depend on the
data: the data only moves the zero crossing.

Everything is computed in float64 from the closed form above, vectorised over steps and images
(no ``[N, T]`` array and no loop over ``T``). Steps are 0-based like the schedules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from ..diffusion.schedules import log_snr as schedule_log_snr
from ..diffusion.schedules import snr as schedule_snr

__all__ = ["signal_power", "snr_curve", "first_nonpositive"]


def _batches(images: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    if isinstance(images, Tensor):
        yield images
        return
    for item in images:
        if isinstance(item, (tuple, list)):
            item = item[0]
        if not isinstance(item, Tensor):
            raise TypeError(f"expected image tensors (or (images, ...) tuples), got {type(item).__name__}")
        yield item


def signal_power(images: Tensor | Iterable[Any]) -> Tensor:
    """Per-image ``mean(x0^2)`` over all non-batch dimensions, a float64 CPU tensor ``[N]``.

    ``images`` is a ``[N, ...]`` tensor or an iterable of such batches (e.g. a DataLoader; for
    tuples/lists the first element is taken), in the model's value range (``[-1, 1]``).
    """
    powers = []
    for batch in _batches(images):
        if batch.ndim < 2:
            raise ValueError(f"image batches must be [N, ...] with at least 2 dims, got {tuple(batch.shape)}")
        powers.append(batch.detach().to(torch.float64).pow(2).flatten(1).mean(dim=1).cpu())
    if not powers:
        raise ValueError("no images given")
    return torch.cat(powers)


def first_nonpositive(curve: Tensor) -> int | None:
    """First 0-based index with ``curve <= 0`` (``None`` if there is none)."""
    idx = (curve <= 0).nonzero()
    return int(idx[0, 0]) if idx.numel() else None


def snr_curve(alphas_cumprod: Tensor, images: Tensor | Iterable[Any]) -> dict[str, Any]:
    """Data-set SNR of the forward marginal per step (see the module docstring).

    Args:
        alphas_cumprod: ``ab_t``, 1-D, 0-based (``GaussianDiffusion.alphas_cumprod``).
        images: ``[N, ...]`` tensor or iterable of batches in ``[-1, 1]`` (:func:`signal_power`).

    Returns a dict of float64 CPU tensors of length ``T`` (derivatives ``T - 1``) and scalars:

    * ``t``: ``0..T-1``; ``num_images``: ``N``;
    * ``snr``, ``log_snr``: schedule-only ``ab/(1-ab)`` and its log (``mean(x0^2) = 1``);
    * ``mean_signal_power``: ``mean_i mean(x0_i^2)``;
    * ``snr_mean``: ``mean_i SNR_t(x0_i)``;
    * ``log_snr_mean``: ``log(snr_mean)``, **the curve Deja et al. plot (Fig. 1, 8)**;
    * ``mean_log_snr``: ``mean_i log SNR_t(x0_i)`` (``-inf`` if some image is all zeros);
    * ``d_log_snr_mean``: ``log_snr_mean[t+1] - log_snr_mean[t]`` (the figure's right column;
      equal to ``d_mean_log_snr`` and to the schedule's ``diff(log_snr)``);
    * ``d_mean_log_snr``: same for ``mean_log_snr``; ``d_snr_mean``: ``diff(snr_mean)``;
    * ``crossing_step``: first ``t`` with ``log_snr_mean <= 0`` (``None`` if never);
      ``crossing_fraction``: ``crossing_step / T`` (``None`` if never);
    * ``mean_log_crossing_step``: same for ``mean_log_snr``.
    """
    sched_snr = schedule_snr(alphas_cumprod).cpu()
    sched_log = schedule_log_snr(alphas_cumprod).cpu()
    num_steps = int(sched_snr.numel())
    power = signal_power(images)
    mean_power = power.mean()
    snr_mean = mean_power * sched_snr
    log_snr_mean = torch.log(mean_power) + sched_log
    mean_log_snr = torch.log(power).mean() + sched_log
    crossing = first_nonpositive(log_snr_mean)
    return {
        "t": torch.arange(num_steps),
        "num_images": int(power.numel()),
        "snr": sched_snr,
        "log_snr": sched_log,
        "mean_signal_power": float(mean_power),
        "snr_mean": snr_mean,
        "log_snr_mean": log_snr_mean,
        "mean_log_snr": mean_log_snr,
        "d_log_snr_mean": torch.diff(log_snr_mean),
        "d_mean_log_snr": torch.diff(mean_log_snr),
        "d_snr_mean": torch.diff(snr_mean),
        "crossing_step": crossing,
        "crossing_fraction": None if crossing is None else crossing / num_steps,
        "mean_log_crossing_step": first_nonpositive(mean_log_snr),
    }
