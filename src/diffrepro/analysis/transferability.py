"""Denoising a noised image: a DDGM's reverse process from ``s`` against a DAE in one pass
(Deja et al. 2022, Sec. 6.3, Table 2 and Fig. 6).

Protocol (:func:`compare_denoisers`), for images ``x0`` in ``[-1, 1]`` and ONE noise draw
``eps`` per image shared by every denoiser:

* each denoiser ``d`` sees ``x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s) eps``
  (:func:`~diffrepro.diffusion.daed.dae_input`) with its own schedule ``ab`` and split step
  ``s_d``; for a DAE of noise level ``beta_1`` the step of a DDGM is ``split_step(ab, beta_1)``
  on that DDGM's schedule, so all denoisers remove the same amount of noise, and with equal
  schedules they see the very same ``x_s``;
* a **DDGM** (``kind="ddgm"``) runs its ancestral reverse process from ``s`` down to ``0``
  (:func:`reverse_from`: ``s + 1`` network calls per batch, ``p_sample`` with the model's
  variance, the step noise from the denoiser's own generator), the result clamped to ``[-1, 1]``;
* a **DAE** (``kind="dae"``) maps ``x_s`` to ``x0`` in one network call per batch
  (:func:`~diffrepro.diffusion.daed.dae_predict`, clamped to ``[-1, 1]``);
* per image, MAE and MS-SSIM against ``x0`` on ``[0, 1]`` images
  (:func:`~diffrepro.analysis.image_quality.to_unit_range`, ``data_range = 1``, the small-image
  settings of :func:`~diffrepro.analysis.image_quality.ms_ssim_settings`), exactly as
  :mod:`diffrepro.analysis.reconstruction` does for Fig. 2 and 3; summaries are the mean over
  images and its standard error (``std(ddof=1) / sqrt(n)``, ``nan`` for one image).

The published Table 2 and its layout are in :mod:`diffrepro.reporting.table2`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..diffusion.daed import dae_input, dae_predict
from ..diffusion.respace import RespacedDiffusion
from ..diffusion.samplers import chain_timesteps
from .image_quality import mae, ms_ssim, ms_ssim_settings, to_unit_range
from .reconstruction import _mean_sem

__all__ = ["Denoiser", "Comparison", "compare_denoisers", "denoise", "reverse_from", "reverse_steps"]

ModelFn = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Denoiser:
    """One way of denoising ``x_s``.

    ``kind``: ``"ddgm"`` (reverse process from ``split_step``) or ``"dae"`` (one call).
    ``model``: eps-predicting ``model(x, t)`` on the compute device, in eval mode.
    ``diffusion``: the model's :class:`~diffrepro.diffusion.GaussianDiffusion` (the DAE's is its
    generator's). ``variance`` and ``generator`` (the reverse-step noise) are used by DDGMs only.
    """

    name: str
    kind: str
    model: ModelFn
    diffusion: Any
    split_step: int
    variance: str = "fixed_small"
    generator: torch.Generator | None = None
    clip_denoised: bool = True
    steps: int | None = None  # a DDGM's reverse steps from split_step (None: all split_step + 1, the papers')

    def __post_init__(self) -> None:
        if self.kind not in ("ddgm", "dae"):
            raise ValueError(f"denoiser {self.name!r}: kind must be 'ddgm' or 'dae', got {self.kind!r}")
        s, T = self.split_step, int(self.diffusion.num_timesteps)
        if isinstance(s, bool) or int(s) != s or not 0 <= int(s) < T:
            raise ValueError(f"denoiser {self.name!r}: split step {s!r} outside 0..{T - 1}")
        self.split_step = int(s)


def reverse_from(
    diffusion: Any,
    model: ModelFn,
    x_s: Tensor,
    s: int,
    *,
    variance: str,
    generator: torch.Generator | None,
    clip_denoised: bool = True,
    steps: int | None = None,
) -> Tensor:
    """The ancestral reverse process from ``x_s`` (0-based step ``s``) down to ``x_0``: ``s + 1``
    calls of ``diffusion.p_sample``, result clamped to ``[-1, 1]`` (as in
    :func:`~diffrepro.analysis.reconstruction.reconstruction_error`). ``steps = K < s + 1``: the respaced
    process (improved DDPM's respacing) on :func:`reverse_steps` instead, ``K`` or ``K + 1`` calls (the paper-shape
    smoke run's cut, ``analysis.reverse_steps``)."""
    kept = reverse_steps(s, steps)
    if len(kept) < int(s) + 1:
        diffusion = RespacedDiffusion(diffusion, kept)  # maps its indices back to the original steps for the model
    x = x_s
    n = x.shape[0]
    for step in range(len(kept) - 1, -1, -1):
        t = torch.full((n,), step, dtype=torch.long, device=x.device)
        x = diffusion.p_sample(model, x, t, variance=variance, generator=generator, clip_denoised=clip_denoised)
    return x.clamp(-1.0, 1.0)


def reverse_steps(s: int, steps: int | None) -> list[int]:
    """The original steps, ascending, that the reverse process from step ``s`` visits: ``0 .. s`` for ``steps``
    None or ``>= s + 1``; else ``space_timesteps(s + 1, steps)`` and ``s`` itself (where ``x_s`` enters)."""
    s = int(s)
    return chain_timesteps(s + 1, "respaced", None if steps is None else min(int(steps), s + 1), [s])


def denoise(den: Denoiser, x_s: Tensor) -> Tensor:
    """``den``'s reconstruction of ``x0`` from ``x_s`` (``[-1, 1]``)."""
    if den.kind == "dae":
        return dae_predict(den.model, den.diffusion, x_s, den.split_step, clip=True)
    return reverse_from(
        den.diffusion,
        den.model,
        x_s,
        den.split_step,
        variance=den.variance,
        generator=den.generator,
        clip_denoised=den.clip_denoised,
        steps=den.steps,
    )


@dataclass
class Comparison:
    """Per-image metrics of each denoiser (float64 ``[N]``, on ``[0, 1]`` images) and, for the
    first ``keep`` images, the noisy inputs and reconstructions (``[-1, 1]``, CPU)."""

    names: list[str]
    kinds: dict[str, str]
    split_steps: dict[str, int]
    mae: dict[str, Tensor]
    ms_ssim: dict[str, Tensor]
    noisy: dict[str, Tensor] = field(default_factory=dict)
    reconstructions: dict[str, Tensor] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """One row per denoiser: name, kind, split_step, n, mae_mean, mae_sem, ms_ssim_mean, ms_ssim_sem."""
        rows = []
        for name in self.names:
            mae_mean, mae_sem = _mean_sem(self.mae[name])
            ssim_mean, ssim_sem = _mean_sem(self.ms_ssim[name])
            rows.append(
                {
                    "name": name,
                    "kind": self.kinds[name],
                    "split_step": self.split_steps[name],
                    "n": int(self.mae[name].numel()),
                    "mae_mean": mae_mean,
                    "mae_sem": mae_sem,
                    "ms_ssim_mean": ssim_mean,
                    "ms_ssim_sem": ssim_sem,
                }
            )
        return rows


def compare_denoisers(
    x0: Tensor,
    denoisers: Sequence[Denoiser],
    noise: Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    keep: int = 0,
) -> Comparison:
    """Noise ``x0`` once per image and denoise it with each of ``denoisers`` (module docstring).

    Args:
        x0: ``[N, C, H, W]`` images in ``[-1, 1]`` (any device; moved batch by batch).
        denoisers: distinct names; their models already on ``device`` and in eval mode.
        noise: the shared draw ``eps``, same shape as ``x0`` (e.g. ``torch.randn`` from a seeded
            generator); batch ``b`` of every denoiser uses the same rows of it.
        batch_size: images per network call (a DAE makes exactly ``ceil(N / batch_size)`` calls).
        keep: how many leading images' noisy inputs and reconstructions to return.

    Runs under :func:`torch.inference_mode`. Denoisers are run one after the other over all
    batches, so a DDGM's reverse-step noise depends only on its own generator.
    """
    if not isinstance(x0, Tensor) or x0.ndim != 4 or x0.shape[0] < 1:
        raise ValueError(f"x0 must be a non-empty [N, C, H, W] tensor, got {getattr(x0, 'shape', type(x0))}")
    if not isinstance(noise, Tensor) or noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {getattr(noise, 'shape', None)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    names = [d.name for d in denoisers]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"denoisers need distinct names, got {names}")
    device = torch.device(device)
    win_size, weights = ms_ssim_settings(x0.shape[-2], x0.shape[-1])
    keep = max(0, min(int(keep), x0.shape[0]))
    result = Comparison(
        names=names,
        kinds={d.name: d.kind for d in denoisers},
        split_steps={d.name: d.split_step for d in denoisers},
        mae={},
        ms_ssim={},
    )
    with torch.inference_mode():
        for den in denoisers:
            maes, ssims, noisy, recs = [], [], [], []
            for start in range(0, x0.shape[0], batch_size):
                xb = x0[start : start + batch_size].to(device)
                eb = noise[start : start + batch_size].to(device=device, dtype=xb.dtype)
                x_s = dae_input(den.diffusion, xb, den.split_step, eb)
                rec = denoise(den, x_s)
                ref = to_unit_range(xb)
                out = to_unit_range(rec)
                maes.append(mae(ref, out).cpu())
                ssims.append(ms_ssim(ref, out, 1.0, win_size=win_size, weights=weights).cpu())
                if start < keep:
                    noisy.append(x_s[: keep - start].cpu())
                    recs.append(rec[: keep - start].cpu())
            result.mae[den.name] = torch.cat(maes)
            result.ms_ssim[den.name] = torch.cat(ssims)
            if keep:
                result.noisy[den.name] = torch.cat(noisy)
                result.reconstructions[den.name] = torch.cat(recs)
    return result
