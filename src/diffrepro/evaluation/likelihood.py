"""Bits per dimension of a set of images under a DDGM: the exact variational bound over all T steps
(:func:`~diffrepro.diffusion.losses.calc_bpd_loop`), computed batch by batch and kept per image in float64,
so that a step can report the mean, its standard error and the share of each timestep's term."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion.gaussian_diffusion import GaussianDiffusion
from ..diffusion.losses import calc_bpd_loop
from ..imaging import to_model_range
from ..runlog import Progress

__all__ = ["BoundTerms", "images_bpd"]


@dataclass(frozen=True)
class BoundTerms:
    """The bound per image in bits/dim (float64 on the CPU): ``total`` and ``prior`` ``[N]``, the per-step
    terms ``vb`` ``[N, T]``."""

    total: Tensor
    prior: Tensor
    vb: Tensor


def images_bpd(
    diffusion: GaussianDiffusion,
    model: torch.nn.Module,
    images_u8: Tensor,
    variance: str,
    *,
    batch_size: int,
    generator: torch.Generator,
    device: str,
    desc: str,
) -> BoundTerms:
    """The bound of each uint8 image of ``images_u8`` [N, C, H, W] under ``model`` with reverse variance
    ``variance``, in batches of ``min(batch_size, N)`` drawing their noise from ``generator`` in order."""
    n = images_u8.shape[0]
    bs = min(batch_size, n)
    totals, priors, terms = [], [], []
    T = diffusion.num_timesteps
    # progress per network call (T per batch: at paper shapes one batch alone takes minutes)
    with Progress((n + bs - 1) // bs * T, desc=desc, log_every=max(1, T // 4), unit="call") as bar:
        for start in range(0, n, bs):
            x0 = to_model_range(images_u8[start : start + bs]).to(device)
            out = calc_bpd_loop(diffusion, model, x0, variance, generator=generator, progress=lambda _t: bar.update(1))
            totals.append(out["total_bpd"].double().cpu())
            priors.append(out["prior_bpd"].double().cpu())
            terms.append(out["vb"].double().cpu())
    return BoundTerms(total=torch.cat(totals), prior=torch.cat(priors), vb=torch.cat(terms))
