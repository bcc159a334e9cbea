"""Timestep samplers: how training draws ``t`` and reweights the loss so it stays unbiased.

A sampler holds a distribution ``p`` over the ``T`` timesteps. :meth:`TimestepSampler.sample`
draws ``t ~ p`` for a batch and returns the importance weights ``1 / (T p_t)``: for any
per-timestep loss ``L_t``, ``E_{t ~ p}[L_t / (T p_t)] = (1/T) sum_t L_t``, the objective with
``t`` uniform. Samplers (see :data:`TIMESTEP_SAMPLERS` and :func:`build_timestep_sampler`):

* ``uniform`` -- ``p_t = 1/T``, all weights 1;
* ``dae_weighted`` (DAED, Deja et al. 2022) -- unnormalised weights 1 for every ``t`` except
  ``w_0 = beta_1 * T`` (option ``beta_1``, the noise level of the denoising auto-encoder), so
  ``p_0 = beta_1 T / (T - 1 + beta_1 T)``; option ``denoiser_share`` sets ``p_0`` instead (the rest
  uniform);
* ``loss_second_moment`` (improved DDPM, Nichol & Dhariwal 2021, Sec. 3.3) --
  ``p_t`` proportional to ``sqrt(E[L_t^2])`` over the last ``history`` (default 10) losses seen
  at each ``t``, mixed with uniform, ``p = (1 - u) p + u / T`` with ``u = uniform_prob``
  (default 0.001); uniform until every ``t`` has ``history`` entries. :meth:`update` feeds it
  the per-example losses of each step;
* ``loss_second_moment_plus2`` -- the same sampler with :attr:`extra_forward_evaluations` = 2:
  the training loop spends two extra forward-only loss evaluations per step (coursework variant)
  to refresh the history faster.

Determinism: sampling consumes only the ``torch.Generator`` passed to :meth:`sample` (one
``torch.rand`` call of ``batch_size`` float64 numbers, mapped through the inverse CDF of ``p``).
Sampler state (:meth:`state_dict`) holds tensors only, so checkpoints can store it in
safetensors; restoring it gives draw-for-draw identical sampling.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from ..options import check_options

__all__ = [
    "TIMESTEP_SAMPLERS",
    "TimestepSampler",
    "UniformSampler",
    "DAEWeightedSampler",
    "LossSecondMomentSampler",
    "build_timestep_sampler",
]

TIMESTEP_SAMPLERS = ("uniform", "dae_weighted", "loss_second_moment", "loss_second_moment_plus2")


def _check_num_timesteps(num_timesteps: int) -> int:
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        raise ValueError(f"num_timesteps must be a positive int, got {num_timesteps!r}")
    return num_timesteps


def _check_real(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite real number, got {value!r}")
    return float(value)


class TimestepSampler:
    """Base class: a distribution ``p`` over ``num_timesteps`` steps and importance weights.

    Subclasses implement :meth:`probabilities`; adaptive ones also :meth:`update`,
    :meth:`state_dict` and :meth:`load_state_dict`.
    """

    #: Registry name of the sampler.
    name: str = "base"
    #: Extra forward-only loss evaluations per training step the loop should spend to refresh
    #: this sampler's history (the coursework's "+2" variant sets 2).
    extra_forward_evaluations: int = 0

    def __init__(self, num_timesteps: int) -> None:
        self.num_timesteps = _check_num_timesteps(num_timesteps)

    # -- distribution -------------------------------------------------------------------
    def probabilities(self) -> torch.Tensor:
        """``p`` as a float64 tensor ``[T]`` on the CPU that sums to 1."""
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``t ~ p`` for a batch.

        Returns:
            ``(t, weights)``: ``t`` int64 ``[batch_size]`` and ``weights = 1 / (T p_t)`` float32
            ``[batch_size]``, both on ``generator.device``. Multiply per-example losses by the
            weights to keep the uniform-``t`` objective unbiased.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"sample() needs an explicit torch.Generator for determinism, got {type(generator).__name__}"
            )
        p = self.probabilities().to(torch.float64)
        cdf = torch.cumsum(p, 0)
        cdf = cdf / cdf[-1]  # exact 1 at the end: u < 1 always lands inside
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64, device=generator.device)
        t = torch.searchsorted(cdf.to(u.device), u, right=True).clamp_(max=self.num_timesteps - 1)
        weights = 1.0 / (self.num_timesteps * p.to(u.device)[t])
        return t.to(torch.long), weights.to(torch.float32)

    def weights(self) -> torch.Tensor:
        """Importance weight ``1 / (T p_t)`` of every step (float64 ``[T]``)."""
        return 1.0 / (self.num_timesteps * self.probabilities())

    # -- adaptation -----------------------------------------------------------------------
    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Record per-example ``losses`` at timesteps ``t``; a no-op for static samplers."""

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors describing the sampler's adaptive state (empty for static samplers)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict` output; unexpected or missing keys raise ``ValueError``."""
        self._check_keys(state, ())

    def _check_keys(self, state: dict[str, torch.Tensor], expected: tuple[str, ...]) -> None:
        keys = set(state)
        if keys != set(expected):
            raise ValueError(f"{self.name} sampler state: expected keys {sorted(expected)}, got {sorted(keys)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_timesteps={self.num_timesteps})"


class UniformSampler(TimestepSampler):
    """``t`` uniform on ``{0, ..., T-1}``; all weights are 1."""

    name = "uniform"

    def probabilities(self) -> torch.Tensor:
        return torch.full((self.num_timesteps,), 1.0 / self.num_timesteps, dtype=torch.float64)


class DAEWeightedSampler(TimestepSampler):
    """DAED sampler: weight 1 for every ``t`` except ``w_0 = beta_1 * T``; ``p ∝ w``.

    ``p_0 = beta_1 T / (T - 1 + beta_1 T)``, so for ``beta_1 T < 1`` the DAE step (``t = 0``) is
    drawn less often than the others and its loss is weighted up by ``1 / (T p_0)``.

    ``denoiser_share`` (optional) sets ``p_0`` directly and spreads the rest uniformly,
    ``p_t = (1 - share) / (T - 1)``: the importance weights ``1 / (T p_t)`` keep the objective the same
    in expectation, but the DAE sees ``share`` of the examples. The paper's sampler (``None``) gives the
    DAE of a short CPU run a few dozen examples (``p_0 = 0.001`` at ``beta_1 = 0.001``), so CPU presets
    set the share that lets it see as many as in the paper's run.
    """

    name = "dae_weighted"

    def __init__(self, num_timesteps: int, *, beta_1: float, denoiser_share: float | None = None) -> None:
        super().__init__(num_timesteps)
        beta_1 = _check_real(beta_1, "dae_weighted option beta_1")
        if not 0.0 < beta_1 < 1.0:
            raise ValueError(f"dae_weighted option beta_1 must satisfy 0 < beta_1 < 1, got {beta_1}")
        self.beta_1 = beta_1
        self.denoiser_share = denoiser_share
        if denoiser_share is None:
            w = torch.ones(self.num_timesteps, dtype=torch.float64)
            w[0] = beta_1 * self.num_timesteps
            self._p = w / w.sum()
            return
        share = _check_real(denoiser_share, "dae_weighted option denoiser_share")
        if not 0.0 < share < 1.0 or self.num_timesteps < 2:
            raise ValueError(
                f"dae_weighted option denoiser_share must satisfy 0 < share < 1 with T >= 2, got {denoiser_share} "
                f"(T = {self.num_timesteps})"
            )
        p = torch.full((self.num_timesteps,), (1.0 - share) / (self.num_timesteps - 1), dtype=torch.float64)
        p[0] = share
        self._p = p

    def probabilities(self) -> torch.Tensor:
        return self._p.clone()

    def __repr__(self) -> str:
        return (
            f"DAEWeightedSampler(num_timesteps={self.num_timesteps}, beta_1={self.beta_1}, "
            f"denoiser_share={self.denoiser_share})"
        )


class LossSecondMomentSampler(TimestepSampler):
    """Improved-DDPM importance sampler: ``p_t ∝ sqrt(mean of the last `history` L_t^2)``.

    Until every ``t`` has ``history`` recorded losses, ``p`` is uniform. Afterwards
    ``p = (1 - uniform_prob) * q + uniform_prob / T`` with ``q_t ∝ sqrt(mean_k L_{t,k}^2)``
    (uniform if all recorded losses are 0). Each ``t`` keeps a ring buffer of its last
    ``history`` losses; :meth:`update` writes a batch into the buffers in batch order.

    State (:meth:`state_dict`): ``loss_history`` float64 ``[T, history]`` and ``loss_counts``
    int64 ``[T]`` (losses ever recorded per ``t``; the ring position is ``count % history``).
    """

    name = "loss_second_moment"

    def __init__(
        self,
        num_timesteps: int,
        *,
        history: int = 10,
        uniform_prob: float = 0.001,
        extra_forward_evaluations: int = 0,
    ) -> None:
        super().__init__(num_timesteps)
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be a positive int, got {history!r}")
        uniform_prob = _check_real(uniform_prob, "uniform_prob")
        if not 0.0 <= uniform_prob <= 1.0:
            raise ValueError(f"uniform_prob must be in [0, 1], got {uniform_prob}")
        if (
            isinstance(extra_forward_evaluations, bool)
            or not isinstance(extra_forward_evaluations, int)
            or extra_forward_evaluations < 0
        ):
            raise ValueError(f"extra_forward_evaluations must be a non-negative int, got {extra_forward_evaluations!r}")
        self.history = history
        self.uniform_prob = uniform_prob
        self.extra_forward_evaluations = extra_forward_evaluations
        self._loss_history = torch.zeros(num_timesteps, history, dtype=torch.float64)
        self._loss_counts = torch.zeros(num_timesteps, dtype=torch.int64)

    # -- distribution -------------------------------------------------------------------
    def warmed_up(self) -> bool:
        """Whether every timestep has a full history."""
        return bool((self._loss_counts >= self.history).all())

    def probabilities(self) -> torch.Tensor:
        T = self.num_timesteps
        uniform = torch.full((T,), 1.0 / T, dtype=torch.float64)
        if not self.warmed_up():
            return uniform
        q = self._loss_history.pow(2).mean(dim=1).sqrt()
        total = q.sum()
        if not torch.isfinite(total) or total <= 0:
            return uniform
        q = q / total
        p = (1.0 - self.uniform_prob) * q + self.uniform_prob / T
        return p / p.sum()

    # -- adaptation -----------------------------------------------------------------------
    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Push per-example ``losses`` (shape ``[B]``) into the ring buffers of ``t`` (``[B]``).

        Entries are recorded in batch order; when one batch holds more than ``history`` losses
        for the same ``t``, only its last ``history`` of them are kept.
        """
        t = torch.as_tensor(t).detach().to("cpu")
        losses = torch.as_tensor(losses).detach().to("cpu", torch.float64)
        if t.ndim != 1 or losses.shape != t.shape:
            raise ValueError(
                f"update() needs 1-D t and losses of the same length, got shapes "
                f"{tuple(t.shape)} and {tuple(losses.shape)}"
            )
        if t.numel() == 0:
            return
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"t must be an integer tensor, got dtype {t.dtype}")
        t = t.to(torch.int64)
        T, H = self.num_timesteps, self.history
        if int(t.min()) < 0 or int(t.max()) >= T:
            raise ValueError(f"timesteps must lie in [0, {T - 1}], got range [{int(t.min())}, {int(t.max())}]")
        if not torch.isfinite(losses).all():
            raise ValueError("update() got non-finite losses; refusing to poison the loss history")

        order = torch.sort(t, stable=True).indices  # group by t, keeping batch order inside groups
        ts, ls = t[order], losses[order]
        n = torch.bincount(t, minlength=T)
        starts = torch.cumsum(n, 0) - n
        rank = torch.arange(ts.numel()) - starts[ts]  # occurrence index of each loss within its t
        keep = rank >= n[ts] - H  # only the last H of a group can survive this batch
        ts, ls, rank = ts[keep], ls[keep], rank[keep]
        pos = (self._loss_counts[ts] + rank) % H  # distinct within each t
        self._loss_history[ts, pos] = ls
        self._loss_counts += n

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "loss_history": self._loss_history.clone(),
            "loss_counts": self._loss_counts.clone(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._check_keys(state, ("loss_history", "loss_counts"))
        hist = torch.as_tensor(state["loss_history"])
        counts = torch.as_tensor(state["loss_counts"])
        if hist.shape != self._loss_history.shape or counts.shape != self._loss_counts.shape:
            raise ValueError(
                f"{self.name} sampler state has shapes {tuple(hist.shape)}/{tuple(counts.shape)}, "
                f"expected {tuple(self._loss_history.shape)}/{tuple(self._loss_counts.shape)}"
            )
        if counts.is_floating_point() or (counts < 0).any():
            raise ValueError("loss_counts must be non-negative integers")
        self._loss_history = hist.detach().to("cpu", torch.float64).clone()
        self._loss_counts = counts.detach().to("cpu", torch.int64).clone()

    def __repr__(self) -> str:
        return (
            f"LossSecondMomentSampler(num_timesteps={self.num_timesteps}, history={self.history}, "
            f"uniform_prob={self.uniform_prob}, extra_forward_evaluations={self.extra_forward_evaluations})"
        )


def _make_plus2(num_timesteps: int, *, history: int = 10, uniform_prob: float = 0.001) -> LossSecondMomentSampler:
    sampler = LossSecondMomentSampler(
        num_timesteps, history=history, uniform_prob=uniform_prob, extra_forward_evaluations=2
    )
    sampler.name = "loss_second_moment_plus2"
    return sampler


def _make_second_moment(
    num_timesteps: int, *, history: int = 10, uniform_prob: float = 0.001
) -> LossSecondMomentSampler:
    return LossSecondMomentSampler(num_timesteps, history=history, uniform_prob=uniform_prob)


_BUILDERS = {
    "uniform": UniformSampler,
    "dae_weighted": DAEWeightedSampler,
    "loss_second_moment": _make_second_moment,
    "loss_second_moment_plus2": _make_plus2,
}
assert tuple(_BUILDERS) == TIMESTEP_SAMPLERS


def build_timestep_sampler(name: str, num_timesteps: int, **options: Any) -> TimestepSampler:
    """Build the sampler ``name`` (one of :data:`TIMESTEP_SAMPLERS`) for ``num_timesteps`` steps.

    Options: ``dae_weighted`` needs ``beta_1``; ``loss_second_moment`` and
    ``loss_second_moment_plus2`` accept ``history`` (default 10) and ``uniform_prob``
    (default 0.001); ``uniform`` takes none.

    Raises:
        ValueError: unknown sampler name (the message lists the known ones), unknown or
            missing option (named in the message), or an invalid value.
    """
    try:
        builder = _BUILDERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown timestep sampler {name!r}; known samplers: {', '.join(TIMESTEP_SAMPLERS)}") from None
    params = list(inspect.signature(builder).parameters.values())[1:]  # skip num_timesteps
    accepted = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    required = [
        p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    check_options(f"timestep sampler {name!r}", options, accepted, required)
    return builder(num_timesteps, **options)
