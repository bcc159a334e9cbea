"""Noise (beta) schedules for discrete-time Gaussian diffusion, and SNR helpers.

Implements

* the **linear** schedule of DDPM (Ho et al. 2020, Sec. 4): ``beta_t`` evenly spaced
  from ``1e-4`` to ``0.02`` for ``T = 1000``. For other ``T`` both ends are scaled by
  ``1000 / T`` (the convention of the improved-DDPM code) so the total amount of noise
  stays comparable;
* the **cosine** schedule of improved DDPM (Nichol & Dhariwal 2021, Eq. 17):
  ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)``,
  ``s = 0.008`` and ``beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1)`` clipped at ``0.999``
  (options ``s`` and ``max_beta``);
* **linear_range**: betas evenly spaced from option ``beta_start`` to option ``beta_end``
  with no ``1000 / T`` scaling, e.g. the coursework's short diffusion
  ``T = 100``, ``beta_start = 4e-4``, ``beta_end = 0.18``;
* **linear_combine** (the DAED code of Deja et al. 2022): the (``1000 / T``-scaled) linear
  schedule with ``betas[0]`` overwritten by option ``beta_1``, the noise level of the
  denoising auto-encoder that handles the first step.

Indices are 0-based: entry ``i`` of a schedule is the paper's ``beta_{i+1}``.
Schedules are returned as ``torch.float64`` tensors of shape ``[T]``.

New schedules plug in through :data:`SCHEDULES` (or the :func:`register_schedule`
decorator): a schedule is a function ``(num_steps, **options) -> betas``. Its options are
the parameters after ``num_steps``; :func:`get_beta_schedule` rejects any other keyword with
a :class:`ValueError` naming the option and the schedule.

SNR helpers (all take ``alphas_cumprod``, 0-based, float64): :func:`snr`, :func:`log_snr`,
:func:`log_snr_zero_crossing` and the DAED switching step :func:`split_step`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch

from ..options import check_options

__all__ = [
    "SCHEDULES",
    "ScheduleFn",
    "register_schedule",
    "get_beta_schedule",
    "schedule_options",
    "linear_beta_schedule",
    "cosine_beta_schedule",
    "linear_range_beta_schedule",
    "linear_combine_beta_schedule",
    "alphas_cumprod",
    "snr",
    "log_snr",
    "log_snr_zero_crossing",
    "split_step",
]

#: A schedule: ``fn(num_steps, **options) -> betas (float64, [num_steps])``.
ScheduleFn = Callable[..., torch.Tensor]

#: Registry ``name -> function(num_steps, **options) -> betas (float64, [T])``.
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


def _check_float(value: Any, what: str) -> float:
    """``value`` as a finite float (bools and non-numbers rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


@register_schedule("linear")
def linear_beta_schedule(num_steps: int) -> torch.Tensor:
    """DDPM linear schedule: ``beta`` from ``1e-4 * 1000/T`` to ``0.02 * 1000/T``."""
    num_steps = _check_num_steps(num_steps)
    scale = 1000.0 / num_steps
    if scale * 0.02 >= 1.0:
        raise ValueError(
            f"linear schedule needs num_steps > 20 (got {num_steps}): the last beta 0.02 * 1000 / T would be >= 1"
        )
    return torch.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=torch.float64)


@register_schedule("cosine")
def cosine_beta_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved-DDPM cosine schedule (Nichol & Dhariwal 2021, Eq. 17).

    Options: offset ``s`` (``>= 0``, default ``0.008``) and the clipping level ``max_beta``
    (``0 < max_beta < 1``, default ``0.999``; for the default ``s`` the unclipped last beta is
    ``1 - f(1)/f((T-1)/T) ~= 1`` for every ``T``, so the last step is always clipped).
    """
    num_steps = _check_num_steps(num_steps)
    s = _check_float(s, "cosine option s")
    max_beta = _check_float(max_beta, "cosine option max_beta")
    if s < 0:
        raise ValueError(f"cosine option s must be >= 0, got {s}")
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"cosine option max_beta must satisfy 0 < max_beta < 1, got {max_beta}")

    def f(frac: float) -> float:
        return math.cos((frac + s) / (1.0 + s) * math.pi / 2.0) ** 2

    betas = [min(1.0 - f((i + 1) / num_steps) / f(i / num_steps), max_beta) for i in range(num_steps)]
    return torch.tensor(betas, dtype=torch.float64)


@register_schedule("linear_range")
def linear_range_beta_schedule(num_steps: int, *, beta_start: float, beta_end: float) -> torch.Tensor:
    """Betas evenly spaced from ``beta_start`` to ``beta_end`` (no ``1000/T`` scaling).

    The coursework's short diffusion is ``T = 100``, ``beta_start = 4e-4``, ``beta_end = 0.18``.
    Requires ``0 < beta_start <= beta_end < 1``.
    """
    num_steps = _check_num_steps(num_steps)
    beta_start = _check_float(beta_start, "linear_range option beta_start")
    beta_end = _check_float(beta_end, "linear_range option beta_end")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            f"linear_range needs 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


@register_schedule("linear_combine")
def linear_combine_beta_schedule(num_steps: int, *, beta_1: float) -> torch.Tensor:
    """DAED schedule: the linear schedule with ``betas[0]`` replaced by ``beta_1``.

    ``beta_1`` (``0 < beta_1 < 1``) is the noise level of the denoising auto-encoder that
    replaces the first diffusion step; the other entries are exactly
    :func:`linear_beta_schedule` ``(num_steps)``.
    """
    beta_1 = _check_float(beta_1, "linear_combine option beta_1")
    if not 0.0 < beta_1 < 1.0:
        raise ValueError(f"linear_combine option beta_1 must satisfy 0 < beta_1 < 1, got {beta_1}")
    betas = linear_beta_schedule(num_steps).clone()
    betas[0] = beta_1
    return betas


def schedule_options(name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``(accepted, required)`` option names of schedule ``name``.

    ``None`` when the schedule function takes ``**kwargs`` (any option is passed through).
    """
    fn = _lookup(name)
    params = list(inspect.signature(fn).parameters.values())[1:]  # skip num_steps
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    accepted = tuple(p.name for p in named)
    required = tuple(p.name for p in named if p.default is inspect.Parameter.empty)
    return accepted, required


def _lookup(name: str) -> ScheduleFn:
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SCHEDULES))
        raise ValueError(f"unknown beta schedule {name!r}; known schedules: {known}") from None


def get_beta_schedule(name: str, num_steps: int, **options: Any) -> torch.Tensor:
    """Return the betas (``float64``, shape ``[num_steps]``) of the named schedule.

    ``options`` are passed to the schedule as keywords, e.g.
    ``get_beta_schedule("linear_range", 100, beta_start=4e-4, beta_end=0.18)``.

    Raises:
        ValueError: if ``name`` is not a registered schedule, if an option is not accepted by
            that schedule (the message names the option and the schedule), if a required option
            is missing, or if the schedule returns the wrong shape.
    """
    fn = _lookup(name)
    spec = schedule_options(name)
    if spec is not None:
        accepted, required = spec
        check_options(f"beta schedule {name!r}", options, accepted, required)
    betas = fn(num_steps, **options).to(torch.float64)
    if betas.shape != (num_steps,):
        raise ValueError(f"schedule {name!r} returned shape {tuple(betas.shape)}, expected ({num_steps},)")
    return betas


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` computed in float64."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def _as_alpha_bar(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    if ab.ndim != 1 or ab.numel() == 0:
        raise ValueError(f"alphas_cumprod must be a non-empty 1-D tensor, got shape {tuple(ab.shape)}")
    return ab


def snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio of the forward marginal: ``alpha_bar_t / (1 - alpha_bar_t)``."""
    ab = _as_alpha_bar(alphas_cumprod)
    return ab / (1.0 - ab)


def log_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """``log SNR_t = log(alpha_bar_t) - log1p(-alpha_bar_t)`` (float64)."""
    ab = _as_alpha_bar(alphas_cumprod)
    return torch.log(ab) - torch.log1p(-ab)


def log_snr_zero_crossing(alphas_cumprod: torch.Tensor) -> int:
    """First 0-based index ``t`` with ``log SNR_t <= 0`` (i.e. ``alpha_bar_t <= 1/2``).

    Raises:
        ValueError: if the log-SNR never reaches 0.
    """
    below = (log_snr(alphas_cumprod) <= 0).nonzero()
    if below.numel() == 0:
        raise ValueError("log-SNR never crosses 0: alpha_bar stays above 1/2 for every step")
    return int(below[0, 0])


def split_step(alphas_cumprod: torch.Tensor, beta_1: float) -> int:
    """DAED switching step ``s = argmin_t |alpha_bar_t - (1 - beta_1)|`` (0-based).

    Sampling a DAED runs the diffusion generator down to step ``s`` and hands over to the
    denoising auto-encoder whose noise level is ``beta_1``. Ties go to the smallest ``t``.
    """
    beta_1 = _check_float(beta_1, "beta_1")
    if not 0.0 < beta_1 < 1.0:
        raise ValueError(f"beta_1 must satisfy 0 < beta_1 < 1, got {beta_1}")
    ab = _as_alpha_bar(alphas_cumprod)
    dist = (ab - (1.0 - beta_1)).abs()
    # first index of the minimum (torch.argmin does not promise which tie it returns)
    return int((dist == dist.min()).nonzero()[0, 0])
