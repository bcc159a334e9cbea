"""Timestep respacing (improved DDPM, Nichol & Dhariwal 2021, Sec. 4, Eqs. 10-11).

A diffusion trained on ``T`` steps can be sampled on a subsequence ``S = (S_0 < ... < S_{K-1})``
of its (0-based) timesteps. The respaced process keeps the marginals of the kept steps,
``alpha_bar'_i = alpha_bar_{S_i}``, which fixes its noise levels

    beta'_i = 1 - alpha_bar_{S_i} / alpha_bar_{S_{i-1}}      (alpha_bar before S_0 taken as 1)

and every derived table (``beta_tilde'``, posterior coefficients, ...) follows from these
betas through :class:`~diffrepro.diffusion.gaussian_diffusion.GaussianDiffusion`. The network
was trained on the original indices, so it is always called with ``S_i`` instead of ``i``
(:meth:`RespacedDiffusion.wrap_model`; :meth:`RespacedDiffusion.p_mean_variance` and
:meth:`RespacedDiffusion.loss_simple` do it themselves). A ``learned_range`` model then
interpolates between ``log beta'_i`` and ``log beta_tilde'_i`` without further changes
(improved DDPM, Sec. 4).

:func:`space_timesteps` chooses ``K`` evenly spaced steps with the rule of the public
improved-DDPM code: a fractional stride ``(T - 1) / (K - 1)`` is accumulated from 0 and each
position is rounded with Python's :func:`round` (round-half-to-even), so the first and last
steps ``0`` and ``T - 1`` are always kept. For ``K = 1`` the public code keeps step ``0``; we
keep ``T - 1`` instead, because a sampler that starts from pure noise needs the noisiest step
(a one-step sampler then maps ``x_{T-1}`` to ``x0_hat`` directly).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import torch
from torch import Tensor

from .gaussian_diffusion import GaussianDiffusion, ModelFn

__all__ = ["space_timesteps", "RespacedDiffusion", "TimestepMappedModel"]


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


def _index(value: object) -> int:
    """An integer timestep from an int, a numpy integer or a 0-d integer tensor."""
    if isinstance(value, bool):
        raise ValueError(f"timesteps must be integers, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"timesteps must be integers, got {value!r}") from None


def space_timesteps(num_timesteps: int, count: int) -> list[int]:
    """``count`` evenly spaced indices of ``0 .. num_timesteps - 1``, sorted ascending.

    ``K = count`` steps at ``round(sum of i strides)`` with stride ``(T - 1) / (K - 1)``
    (accumulated as in the public improved-DDPM code; see the module docstring), so the
    result contains ``0`` and ``T - 1`` when ``K >= 2`` and equals ``[T - 1]`` when ``K = 1``.

    Raises:
        ValueError: unless ``1 <= count <= num_timesteps``.
    """
    T = _check_int("num_timesteps", num_timesteps)
    K = _check_int("count", count)
    if T < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {T!r}")
    if not 1 <= K <= T:
        raise ValueError(f"count must satisfy 1 <= count <= num_timesteps={T}, got {K!r}")
    if K == 1:
        return [T - 1]
    stride = (T - 1) / (K - 1)
    steps: list[int] = []
    pos = 0.0
    for _ in range(K):
        steps.append(round(pos))
        pos += stride
    # stride >= 1 makes the rounded positions strictly increasing; the accumulated float
    # lands on T - 1 up to round-off, far from a rounding boundary.
    assert steps[0] == 0 and steps[-1] == T - 1 and all(a < b for a, b in zip(steps, steps[1:])), steps
    return steps


class TimestepMappedModel:
    """Calls ``model(x, timestep_map[t])``: respaced index ``t`` -> original index.

    ``timestep_map`` is moved to ``t``'s device on each call. Attribute ``model`` is the
    wrapped network, ``diffusion`` the :class:`RespacedDiffusion` that made the wrapper.
    """

    def __init__(self, model: ModelFn, timestep_map: Tensor, diffusion: RespacedDiffusion | None = None) -> None:
        self.model = model
        self.timestep_map = timestep_map
        self.diffusion = diffusion

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        original = self.timestep_map.to(t.device)[t.long()]
        return self.model(x, original)

    def __repr__(self) -> str:
        return f"TimestepMappedModel({self.model!r}, K={self.timestep_map.numel()})"


class RespacedDiffusion(GaussianDiffusion):
    """The diffusion ``base`` restricted to the kept timesteps ``timesteps`` (module docstring).

    Args:
        base: the trained diffusion (``T`` steps). If it is itself a
            :class:`RespacedDiffusion`, ``timesteps`` index *its* steps and the maps compose,
            so the network still receives indices of the original process.
        timesteps: the kept (0-based) indices of ``base``; any order, duplicates rejected.

    Attributes:
        timestep_map: ``LongTensor [K]`` of original indices, ``timestep_map[i] = S_i``.
        use_timesteps: the same indices as a tuple of ints, relative to ``base``.
        base_num_timesteps: ``T`` of ``base``.

    Index ``i`` of this process (``0 .. K-1``) is what samplers pass around; the network
    sees ``timestep_map[i]``. Call :meth:`wrap_model` before handing a model to code that
    calls it directly (anything but ``p_mean_variance``/``p_sample``/``sample``/``loss_simple``).
    """

    def __init__(self, base: GaussianDiffusion, timesteps: Iterable[int]) -> None:
        if not isinstance(base, GaussianDiffusion):
            raise TypeError(f"base must be a GaussianDiffusion, got {type(base).__name__}")
        steps = [_index(s) for s in timesteps]
        T = base.num_timesteps
        if not steps:
            raise ValueError("timesteps must not be empty")
        if len(set(steps)) != len(steps):
            raise ValueError(f"timesteps contain duplicates: {sorted(steps)}")
        bad = [s for s in steps if not 0 <= s < T]
        if bad:
            raise ValueError(f"timesteps {bad} lie outside 0..{T - 1}")
        steps = sorted(steps)

        ab = base.alphas_cumprod  # float64
        kept = ab[torch.tensor(steps, dtype=torch.long)]
        prev = torch.cat([kept.new_ones(1), kept[:-1]])
        betas = 1.0 - kept / prev
        super().__init__(betas)

        self.base_num_timesteps = T
        self.use_timesteps: tuple[int, ...] = tuple(steps)
        local = torch.tensor(steps, dtype=torch.long)
        if isinstance(base, RespacedDiffusion):
            self.timestep_map = base.timestep_map[local].clone()
        else:
            self.timestep_map = local

    @classmethod
    def evenly_spaced(cls, base: GaussianDiffusion, count: int) -> RespacedDiffusion:
        """``RespacedDiffusion(base, space_timesteps(base.num_timesteps, count))``."""
        return cls(base, space_timesteps(base.num_timesteps, count))

    def wrap_model(self, model: ModelFn) -> TimestepMappedModel:
        """A callable that maps respaced indices to original ones before calling ``model``.

        Idempotent: a wrapper made by this diffusion is returned unchanged.
        """
        if isinstance(model, TimestepMappedModel) and model.diffusion is self:
            return model
        return TimestepMappedModel(model, self.timestep_map, self)

    def p_mean_variance(
        self,
        model: ModelFn,
        x_t: Tensor,
        t: Tensor,
        variance: str = "fixed_small",
        clip_denoised: bool = True,
    ) -> dict[str, Tensor]:
        """:meth:`GaussianDiffusion.p_mean_variance` with the network called at original indices."""
        return super().p_mean_variance(self.wrap_model(model), x_t, t, variance=variance, clip_denoised=clip_denoised)

    def loss_simple(self, model: ModelFn, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """:meth:`GaussianDiffusion.loss_simple` with the network called at original indices."""
        return super().loss_simple(self.wrap_model(model), x0, t, noise)

    def __repr__(self) -> str:
        return f"RespacedDiffusion(K={self.num_timesteps}, T={self.base_num_timesteps})"
