"""Reverse samplers: ancestral (DDPM), respaced ancestral (improved DDPM) and DDIM.

One entry point, :func:`generate`, with ``method`` in :data:`SAMPLING_METHODS`:

``"ancestral"``
    :meth:`GaussianDiffusion.sample` over all ``T`` steps (Ho et al. 2020, Algorithm 2).
``"respaced"``
    the same ancestral sampler run on :class:`~diffrepro.diffusion.respace.RespacedDiffusion`
    with ``steps`` evenly spaced timesteps (Nichol & Dhariwal 2021, Sec. 4). The reverse
    variance (``fixed_small``/``fixed_large``/``learned_range``) uses the respaced betas.
``"ddim"``
    DDIM (Song et al. 2021, Eq. 12) on ``steps`` evenly spaced timesteps ``S``. With
    ``a = alpha_bar_{S_i}`` and ``a' = alpha_bar_{S_{i-1}}`` (``a' = 1`` at the last step)::

        x0_hat = (x - sqrt(1 - a) eps_theta(x, S_i)) / sqrt(a)      (clamped to [-1, 1] if clip_denoised)
        eps    = (x - sqrt(a) x0_hat) / sqrt(1 - a)                  (re-derived from the clamped x0_hat)
        sigma  = eta * sqrt((1 - a') / (1 - a)) * sqrt(1 - a / a')
        x_prev = sqrt(a') x0_hat + sqrt(1 - a' - sigma^2) eps + sigma z

    ``eta = 0`` is the deterministic DDIM sampler; ``eta = 1`` on consecutive steps gives
    ``sigma^2 = beta_tilde`` and the DDPM posterior mean, i.e. ancestral sampling with the
    ``fixed_small`` variance. ``eta`` must lie in ``[0, 1]`` (then ``sigma^2 <= 1 - a'`` and
    the square root is real). No noise is added at the last step (there ``sigma = 0``).
    ``variance`` only tells how to read the model output (``learned_range`` models return
    ``2C`` channels, of which DDIM uses the first ``C``).

Randomness: ``x_T`` and every noise draw come from ``generator`` on the generator's device
(CPU by default) and are moved to ``device``, so on a fixed device the output is a function
of the seed. DDIM with ``eta > 0`` draws one standard-normal tensor per step, in the same
order as :meth:`GaussianDiffusion.sample`, so DDIM with ``eta = 1`` on all ``T`` steps
reproduces ancestral ``fixed_small`` sampling draw for draw (up to float round-off); with
``eta = 0`` nothing is drawn after ``x_T``.

Every sampler runs under :func:`torch.inference_mode`, calls the network exactly once per
step (``T`` for ancestral, ``steps`` otherwise, plus the ``visit`` steps of a respaced chain:
:func:`chain_timesteps`), calls ``progress(i)`` after step ``i``
and returns images clamped to ``[-1, 1]``. The network always receives indices of the
original ``T``-step process. It does not switch the model to eval mode: do that first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .gaussian_diffusion import GaussianDiffusion, ModelFn, _check_variance, _extract
from .respace import RespacedDiffusion, space_timesteps

__all__ = [
    "SAMPLING_METHODS",
    "generate",
    "ddim_sample",
    "ddim_coefficients",
    "respaced_diffusion",
    "check_steps",
    "chain_timesteps",
]

#: Names accepted by :func:`generate`'s ``method``.
SAMPLING_METHODS: tuple[str, ...] = ("ancestral", "respaced", "ddim")


def check_steps(num_timesteps: int, steps: int | None) -> int:
    """Validate a step count against ``T = num_timesteps``; ``None`` means ``T``.

    Raises:
        ValueError: unless ``steps`` is ``None`` or an int with ``1 <= steps <= T``.
    """
    if steps is None:
        return num_timesteps
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ValueError(f"steps must be an int or None, got {steps!r}")
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must satisfy 1 <= steps <= T={num_timesteps}, got {steps!r}")
    return steps


def respaced_diffusion(diffusion: GaussianDiffusion, steps: int | None) -> GaussianDiffusion:
    """``diffusion`` itself for ``steps in (None, T)``, else its evenly spaced respacing."""
    k = check_steps(diffusion.num_timesteps, steps)
    if k == diffusion.num_timesteps:
        return diffusion
    return RespacedDiffusion(diffusion, space_timesteps(diffusion.num_timesteps, k))


def chain_timesteps(num_timesteps: int, method: str, steps: int | None, visit: Sequence[int] = ()) -> list[int]:
    """The original timesteps, ascending, at which :func:`generate` calls the network (one call each):
    all ``T`` for ``ancestral``; for ``respaced`` the evenly spaced ``steps`` plus every step of ``visit``
    (a chain that must pass through given steps, as a post-hoc DAED's generator passes its split steps);
    for ``ddim`` the evenly spaced ``steps`` (``visit`` is not available there)."""
    T = int(num_timesteps)
    k = check_steps(T, steps)
    bad = [v for v in visit if not 0 <= int(v) < T]
    if bad:
        raise ValueError(f"visit: timesteps {bad} lie outside 0..{T - 1}")
    if method == "ancestral" or k == T and method == "respaced":
        return list(range(T))
    if method == "ddim":
        if visit:
            raise ValueError("visit is only available for ancestral and respaced sampling, not 'ddim'")
        return space_timesteps(T, k)
    if method == "respaced":
        return sorted(set(space_timesteps(T, k)) | {int(v) for v in visit})
    raise ValueError(f"unknown sampling method {method!r}; expected one of {', '.join(SAMPLING_METHODS)}")


def ddim_coefficients(alphas_cumprod: Tensor, eta: float) -> dict[str, Tensor]:
    """Per-step DDIM coefficients (float64) for a step sequence with these ``alpha_bar``.

    ``alphas_cumprod[i]`` is ``alpha_bar`` at the ``i``-th kept step (ascending); step ``i``
    moves from it to ``i - 1`` (to ``alpha_bar = 1`` for ``i = 0``). Returns
    ``sigma`` (``eta * sqrt((1-a')/(1-a) * (1-a/a'))``), ``coef_x0`` (``sqrt(a')``) and
    ``coef_eps`` (``sqrt(1 - a' - sigma^2)``), each of shape ``[K]``.
    """
    eta = _check_eta(eta)
    a = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    a_prev = torch.cat([a.new_ones(1), a[:-1]])
    sigma = eta * ((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)).sqrt()
    coef_eps = (1.0 - a_prev - sigma.pow(2)).clamp_min(0.0).sqrt()  # >= 0 up to round-off when eta <= 1
    return {"sigma": sigma, "coef_x0": a_prev.sqrt(), "coef_eps": coef_eps}


def _check_eta(eta: float) -> float:
    try:
        value = float(eta)
    except (TypeError, ValueError):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    return value


def _randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def ddim_sample(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    shape: Sequence[int],
    *,
    steps: int | None = None,
    eta: float = 0.0,
    variance: str = "fixed_small",
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    clip_denoised: bool = True,
    dtype: torch.dtype = torch.float32,
    x_T: Tensor | None = None,
) -> Tensor:
    """DDIM sampling (module docstring) on ``steps`` evenly spaced steps of ``diffusion``.

    ``x_T`` (shape ``shape``) replaces the initial draw when given; otherwise it is drawn
    from ``generator``. Returns images clamped to ``[-1, 1]``.
    """
    _check_variance(variance)
    eta = _check_eta(eta)
    proc = respaced_diffusion(diffusion, steps)
    coefs = ddim_coefficients(proc.alphas_cumprod, eta)
    sigma = coefs["sigma"].tolist()
    coef_x0 = coefs["coef_x0"].tolist()
    coef_eps = coefs["coef_eps"].tolist()
    device = torch.device(device)
    shape = tuple(int(s) for s in shape)
    with torch.inference_mode():
        if x_T is None:
            x = _randn(shape, generator, device, dtype)
        else:
            if tuple(x_T.shape) != shape:
                raise ValueError(f"x_T shape {tuple(x_T.shape)} != shape {shape}")
            x = x_T.to(device=device, dtype=dtype)
        for i, step in enumerate(range(proc.num_timesteps - 1, -1, -1)):
            t = torch.full((shape[0],), step, dtype=torch.long, device=device)
            out = proc.p_mean_variance(model, x, t, variance=variance, clip_denoised=clip_denoised)
            x0 = out["pred_x0"]
            # eps consistent with the (possibly clamped) x0_hat
            eps = (_extract(proc.sqrt_recip_alphas_cumprod, t, x.shape, x.dtype) * x - x0) / _extract(
                proc.sqrt_recipm1_alphas_cumprod, t, x.shape, x.dtype
            )
            x_next = coef_x0[step] * x0 + coef_eps[step] * eps
            if eta > 0.0:
                noise = _randn(shape, generator, device, dtype)
                if step > 0:
                    x_next = x_next + sigma[step] * noise
            x = x_next
            if progress is not None:
                progress(i)
        return x.clamp(-1.0, 1.0)


def generate(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    shape: Sequence[int],
    *,
    method: str,
    variance: str,
    steps: int | None,
    eta: float,
    generator: torch.Generator | None,
    device: torch.device | str,
    progress: Callable[[int], None] | None = None,
    clip_denoised: bool = True,
    dtype: torch.dtype = torch.float32,
    on_state: Callable[[int, Tensor], None] | None = None,
    visit: Sequence[int] = (),
) -> Tensor:
    """Draw samples of shape ``shape`` with the named reverse sampler (module docstring).

    Args:
        diffusion: the trained ``T``-step diffusion.
        model: ``model(x_t, t) -> eps`` (``2C`` channels for ``learned_range``), called
            with original timestep indices.
        method: one of :data:`SAMPLING_METHODS`.
        variance: reverse variance for ``ancestral``/``respaced``; for ``ddim`` only how
            the output is read.
        steps: number of (evenly spaced) steps; ``None`` means all ``T``. ``ancestral``
            accepts only ``None`` or ``T``.
        eta: DDIM's stochasticity in ``[0, 1]``; ignored by the other methods.
        on_state: ``ancestral`` and ``respaced``: called with ``(t, x_t)`` before every reverse
            step, ``t`` an original timestep (see :meth:`GaussianDiffusion.sample`).
        visit: ``respaced``: original timesteps the chain must pass through besides its evenly
            spaced ones (:func:`chain_timesteps`); ``ancestral`` passes through every step.

    Returns:
        Tensor of shape ``shape`` in ``[-1, 1]`` on ``device``.

    Raises:
        ValueError: unknown ``method``/``variance``, ``steps`` out of ``1..T`` (or not ``T``
            for ``ancestral``), ``eta`` outside ``[0, 1]`` for ``ddim``.
    """
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {method!r}; expected one of {', '.join(SAMPLING_METHODS)}")
    _check_variance(variance)
    T = diffusion.num_timesteps
    k = check_steps(T, steps)
    common = dict(
        variance=variance,
        generator=generator,
        device=device,
        progress=progress,
        clip_denoised=clip_denoised,
        dtype=dtype,
    )
    if (on_state is not None or visit) and method == "ddim":
        raise ValueError("on_state and visit are only available for ancestral and respaced sampling, not 'ddim'")
    if method == "ancestral":
        if k != T:
            raise ValueError(
                f"ancestral sampling runs all T={T} steps; got steps={steps!r} "
                f"(use method 'respaced' or 'ddim' for fewer)"
            )
        return diffusion.sample(model, shape, on_state=on_state, **common)
    if method == "respaced":
        kept = chain_timesteps(T, method, steps, visit)
        if len(kept) == T:
            return diffusion.sample(model, shape, on_state=on_state, **common)
        respaced = RespacedDiffusion(diffusion, kept)
        mapped = None
        if on_state is not None:
            original = respaced.timestep_map.tolist()

            def mapped(i: int, x: Tensor) -> None:
                on_state(original[i], x)

        return respaced.sample(model, shape, on_state=mapped, **common)
    return ddim_sample(diffusion, model, shape, steps=k, eta=eta, **common)
