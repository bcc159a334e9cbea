"""Noise (beta) schedules for discrete-time Gaussian diffusion.

Implements

* the **linear** schedule of DDPM (Ho et al. 2020, Sec. 4): ``beta_t`` evenly spaced
  from ``1e-4`` to ``0.02`` for ``T = 1000``. For other ``T`` both ends are scaled by
  ``1000 / T`` (the convention of the improved-DDPM code) so the total amount of noise
  stays comparable;
* the **cosine** schedule of improved DDPM (Nichol & Dhariwal 2021, Eq. 17):
  ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)``,
  ``s = 0.008`` and ``beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1)`` clipped at ``0.999``.

Indices are 0-based: entry ``i`` of a schedule is the paper's ``beta_{i+1}``.
Schedules are returned as ``torch.float64`` tensors of shape ``[T]``.

New schedules plug in through :data:`SCHEDULES` (or the :func:`register_schedule`
decorator): a schedule is a function ``num_steps -> betas``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = [
    "SCHEDULES",
    "ScheduleFn",
    "register_schedule",
    "get_beta_schedule",
    "linear_beta_schedule",
    "cosine_beta_schedule",
    "alphas_cumprod",
]

ScheduleFn = Callable[[int], torch.Tensor]

#: Registry ``name -> function(num_steps) -> betas (float64, [T])``.
SCHEDULES: dict[str, ScheduleFn] = {}


def register_schedule(name: str) -> Callable[[ScheduleFn], ScheduleFn]:
    """Decorator registering ``fn`` under ``name`` in :data:`SCHEDULES`."""

    def decorator(fn: ScheduleFn) -> ScheduleFn:
        if name in SCHEDULES:
            raise ValueError(f"beta schedule {name!r} is already registered")
        SCHEDULES[name] = fn
        return fn

    return decorator


def _check_num_steps(num_steps: int) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    return num_steps


@register_schedule("linear")
def linear_beta_schedule(num_steps: int) -> torch.Tensor:
    """DDPM linear schedule: ``beta`` from ``1e-4 * 1000/T`` to ``0.02 * 1000/T``."""
    num_steps = _check_num_steps(num_steps)
    scale = 1000.0 / num_steps
    if scale * 0.02 >= 1.0:
        raise ValueError(
            f"linear schedule needs num_steps > 20 (got {num_steps}): the last beta "
            f"0.02 * 1000 / T would be >= 1"
        )
    return torch.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=torch.float64)


@register_schedule("cosine")
def cosine_beta_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved-DDPM cosine schedule (Nichol & Dhariwal 2021, Eq. 17)."""
    num_steps = _check_num_steps(num_steps)

    def f(frac: float) -> float:
        return math.cos((frac + s) / (1.0 + s) * math.pi / 2.0) ** 2

    betas = [
        min(1.0 - f((i + 1) / num_steps) / f(i / num_steps), max_beta) for i in range(num_steps)
    ]
    return torch.tensor(betas, dtype=torch.float64)


def get_beta_schedule(name: str, num_steps: int) -> torch.Tensor:
    """Return the betas (``float64``, shape ``[num_steps]``) of the named schedule.

    Raises:
        ValueError: if ``name`` is not a registered schedule.
    """
    try:
        fn = SCHEDULES[name]
    except KeyError:
        known = ", ".join(sorted(SCHEDULES))
        raise ValueError(f"unknown beta schedule {name!r}; known schedules: {known}") from None
    betas = fn(num_steps).to(torch.float64)
    if betas.shape != (num_steps,):
        raise ValueError(
            f"schedule {name!r} returned shape {tuple(betas.shape)}, expected ({num_steps},)"
        )
    return betas


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` computed in float64."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)
