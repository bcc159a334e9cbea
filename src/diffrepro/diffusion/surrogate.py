"""Surrogate diffusion (coursework Algorithm 4): start the reverse process at ``t_mid`` from a noised
surrogate sample.

A surrogate model (a GAN, or a DDGM at half resolution upsampled to full size) draws ``x~0``; it is
noised with the diffusion kernel ``q(x_{t_mid} | x~0)`` and treated as if it came from the forward
process: the DDGM's ancestral reverse process continues from there with ``t_mid`` network calls.

Indexing. ``t_mid`` counts reverse steps, ``0 <= t_mid <= T``. In this package's 0-based steps the
reverse step ``t`` maps the state at index ``t`` to index ``t - 1`` (index ``-1`` being the data), so
the state handed over is at index ``t_mid - 1``: ``x = sqrt(ab[t_mid-1]) x~0 + sqrt(1 - ab[t_mid-1]) z``,
followed by reverse steps ``t_mid - 1, ..., 0``.

* ``t_mid = 0`` returns the surrogate's samples unchanged (no network call);
* ``t_mid = T`` starts from the prior ``x ~ N(0, I)`` itself (``q(x_T | x~0)`` is N(0, I) up to
  ``sqrt(ab[T-1])``, 0.006 for the linear schedule with T = 1000) and draws exactly the noise of
  :meth:`GaussianDiffusion.sample`, so with the same generator it reproduces ordinary sampling.

A low-resolution DDGM as the surrogate ("DDPM-16", coursework Sec. 4.6: it "executes only" its part of the
process) runs its own reverse steps ``T - 1, ..., t_mid`` only (:func:`lowres_handover`, ``T - t_mid`` calls)
and hands over its estimate of the data at that step (``x^0``, the last call's prediction), which is upsampled
to the data resolution and enters Algorithm 4 as ``x~0``. The coursework does not say what crosses the
resolution boundary; the denoised estimate is what Algorithm 4 noises for every other surrogate, whereas the
noisy low-resolution state, upsampled bilinearly, would hand the base model spatially correlated noise of the
wrong variance. With ``t_mid = 0`` the low-resolution chain runs all ``T`` steps (its last prediction is its
sample) and the base model none; with ``t_mid = T`` it runs none.

Fewer steps (:func:`surrogate_chain`, the paper-shape smoke run's cut). Both halves can run on a respaced process
(improved DDPM's respacing) of K evenly spaced steps that always holds the two steps of the hand-over, ``t_mid``
(the low-resolution chain's last call) and ``t_mid - 1`` (the state the base model starts from): the functions
below then take that process and the hand-over index in it. The papers' Algorithm 4 is every step (``steps=None``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .gaussian_diffusion import GaussianDiffusion, ModelFn
from .respace import RespacedDiffusion
from .samplers import chain_timesteps

__all__ = ["chain_steps", "lowres_handover", "surrogate_chain", "surrogate_reverse", "t_mid_steps"]


def t_mid_steps(fractions: list[float], num_timesteps: int) -> list[int]:
    """``round(f * T)`` for every fraction, in the given order; a clear error for repeats."""
    steps = [int(round(float(f) * num_timesteps)) for f in fractions]
    if len(set(steps)) != len(steps):
        raise ValueError(f"t_mid fractions {fractions} give repeated steps {steps} for T={num_timesteps}")
    return steps


def surrogate_chain(diffusion: GaussianDiffusion, t_mid: int, steps: int | None) -> tuple[GaussianDiffusion, int]:
    """The process surrogate diffusion runs on for hand-over at ``t_mid`` and the hand-over index in it.

    ``steps=None`` (or ``>= T``): ``(diffusion, t_mid)``, every step. ``K``: the respaced process on
    ``space_timesteps(T, K)`` plus the hand-over steps ``t_mid - 1`` and ``t_mid`` (those in ``0..T-1``), and ``m``,
    the number of its steps below ``t_mid``: :func:`surrogate_reverse` with ``m`` noises to original step
    ``t_mid - 1`` and takes ``m`` steps, :func:`lowres_handover` with ``m`` stops after the call at original step
    ``t_mid``. The network still sees original steps (the respaced process maps them).
    """
    kept = chain_steps(diffusion.num_timesteps, t_mid, steps)
    if len(kept) == diffusion.num_timesteps:
        return diffusion, int(t_mid)
    return RespacedDiffusion(diffusion, kept), sum(1 for s in kept if s < int(t_mid))


def chain_steps(num_timesteps: int, t_mid: int, steps: int | None) -> list[int]:
    """The original steps, ascending, that surrogate diffusion with hand-over at ``t_mid`` runs on
    (:func:`surrogate_chain`): all ``T`` for ``steps=None`` or ``steps >= T``, else ``space_timesteps(T, steps)``
    plus ``t_mid - 1`` and ``t_mid``. The base model calls those below ``t_mid``, a low-resolution surrogate the
    others."""
    T, t_mid = int(num_timesteps), int(t_mid)
    if not 0 <= t_mid <= T:
        raise ValueError(f"t_mid must be in [0, {T}], got {t_mid}")
    handover = [s for s in (t_mid - 1, t_mid) if 0 <= s < T]
    return chain_timesteps(T, "respaced", None if steps is None else min(int(steps), T), handover)


def surrogate_reverse(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x0_tilde: Tensor,
    t_mid: int,
    *,
    variance: str = "fixed_small",
    generator: torch.Generator | None,
    progress: Callable[[int], None] | None = None,
    clip_denoised: bool = True,
) -> Tensor:
    """Noise the surrogate samples ``x0_tilde`` (in [-1, 1]) to ``t_mid`` and run the reverse process to 0.

    Calls ``model`` exactly ``t_mid`` times; noise comes from ``generator`` (on its device, then moved
    to ``x0_tilde``'s), first the ``q`` draw, then one draw per reverse step. Output clamped to [-1, 1].
    """
    T = diffusion.num_timesteps
    t_mid = int(t_mid)
    if not 0 <= t_mid <= T:
        raise ValueError(f"t_mid must be in [0, {T}], got {t_mid}")
    device = x0_tilde.device
    with torch.inference_mode():
        x0_tilde = x0_tilde.float()
        if t_mid == 0:
            return x0_tilde.clamp(-1.0, 1.0)
        gen_device = generator.device if generator is not None else device
        noise = torch.randn(x0_tilde.shape, generator=generator, device=gen_device).to(device)
        if t_mid == T:
            x = noise
        else:
            t = torch.full((x0_tilde.shape[0],), t_mid - 1, dtype=torch.long, device=device)
            x = diffusion.q_sample(x0_tilde, t, noise)
        for i, step in enumerate(range(t_mid - 1, -1, -1)):
            t = torch.full((x.shape[0],), step, dtype=torch.long, device=device)
            x = diffusion.p_sample(model, x, t, variance=variance, generator=generator, clip_denoised=clip_denoised)
            if progress is not None:
                progress(i)
        return x.clamp(-1.0, 1.0)


def lowres_handover(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    shape: tuple[int, ...],
    t_mid: int,
    *,
    variance: str = "fixed_small",
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    clip_denoised: bool = True,
) -> Tensor:
    """The low-resolution surrogate's ``x~0`` for hand-over at ``t_mid``: ancestral steps ``T - 1, ..., t_mid``
    from ``x ~ N(0, I)`` of ``shape`` (``T - t_mid`` calls of ``model``), returning the last call's prediction of
    ``x_0`` (clamped to [-1, 1]). ``t_mid = 0``: the ordinary sample (the last step's prediction is its output;
    the same generator gives :meth:`GaussianDiffusion.sample`'s result). ``t_mid = T``: no call, zeros (the
    base model starts from the prior and does not look at ``x~0``)."""
    T = diffusion.num_timesteps
    t_mid = int(t_mid)
    if not 0 <= t_mid <= T:
        raise ValueError(f"t_mid must be in [0, {T}], got {t_mid}")
    device = torch.device(device)
    with torch.inference_mode():
        if t_mid == T:
            return torch.zeros(shape, device=device)
        gen_device = generator.device if generator is not None else device
        x = torch.randn(shape, generator=generator, device=gen_device).to(device)
        pred = x
        for i, step in enumerate(range(T - 1, t_mid - 1, -1)):
            t = torch.full((shape[0],), step, dtype=torch.long, device=device)
            out = diffusion.p_mean_variance(model, x, t, variance=variance, clip_denoised=clip_denoised)
            pred = out["pred_x0"]
            if step > t_mid:  # the state the next call needs (the last call's noise draw would be unused)
                noise = torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(device)
                x = out["mean"] + torch.exp(0.5 * out["log_variance"]) * noise
            if progress is not None:
                progress(i)
        return pred.clamp(-1.0, 1.0)
