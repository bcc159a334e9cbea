"""Discrete-time Gaussian diffusion (DDPM) with epsilon-prediction.

Implements, with 0-based time indices (index ``t`` is the paper's ``t + 1``):

* forward marginal ``q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I)``
  (Ho et al. 2020, Eq. 4), sampled by reparameterisation;
* forward posterior ``q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde_t I)`` with
  ``mu_tilde = beta_t sqrt(ab_{t-1}) / (1 - ab_t) x_0 + (1 - ab_{t-1}) sqrt(alpha_t) / (1 - ab_t) x_t``
  and ``beta_tilde_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t`` (Eqs. 6-7);
* ``x_0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)`` (inverse of Eq. 4, used with Eq. 11);
* the reverse step ``p(x_{t-1} | x_t) = N(mu_tilde(x_t, x0_hat), sigma_t^2 I)`` with
  ``sigma_t^2 = beta_tilde_t`` ("fixed_small") or ``beta_t`` ("fixed_large"), Sec. 3.2;
  and the improved-DDPM learned interpolation
  ``log sigma_t^2 = v log beta_t + (1 - v) log beta_tilde_t`` ("learned_range",
  Nichol & Dhariwal 2021, Eq. 15) where the model outputs ``2C`` channels ``[eps, v']``
  with ``v = (v' + 1) / 2``;
* ``L_simple = E || eps - eps_theta(x_t, t) ||^2`` (Eq. 14);
* ancestral sampling (Algorithm 2), no noise added at the last step (``t = 0``).

All per-step coefficients are precomputed in float64 and cast to the dtype and device of
the input when gathered (:func:`_extract`). As in the public improved-DDPM code,
``posterior_log_variance_clipped`` replaces the (``-inf``) value at ``t = 0`` by the value at
``t = 1``, and "fixed_large" uses ``beta_tilde_1`` instead of ``beta_0`` at ``t = 0``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .schedules import alphas_cumprod as _alphas_cumprod

__all__ = ["GaussianDiffusion", "VARIANCE_TYPES", "ModelFn"]

#: Reverse-process variance choices accepted by :meth:`GaussianDiffusion.p_mean_variance`.
VARIANCE_TYPES: tuple[str, ...] = ("fixed_small", "fixed_large", "learned_range")

ModelFn = Callable[[Tensor, Tensor], Tensor]


def _extract(arr: Tensor, t: Tensor, shape: Sequence[int], dtype: torch.dtype | None = None) -> Tensor:
    """Gather ``arr[t]`` and reshape to ``[B, 1, ..., 1]`` broadcastable against ``shape``.

    ``arr`` is a 1-D (float64) table; the result lives on ``t.device`` with dtype ``dtype``
    (float32 when not given).
    """
    dtype = torch.float32 if dtype is None else dtype
    if t.device.type == "mps":  # MPS has no float64
        arr = arr.to(torch.float32)
    out = arr.to(device=t.device)[t.long()].to(dtype)
    return out.reshape(t.shape[0], *([1] * (len(shape) - 1)))


def _check_variance(variance: str) -> str:
    if variance not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCE_TYPES)}")
    return variance


class GaussianDiffusion:
    """Gaussian diffusion process defined by a beta schedule (see module docstring).

    Args:
        betas: 1-D tensor (or sequence) of ``T`` noise levels in ``(0, 1)``.
    """

    def __init__(self, betas: Tensor | Sequence[float]) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie in the open interval (0, 1)")
        self.betas = betas
        self.num_timesteps = int(betas.numel())

        alphas = 1.0 - betas
        self.alphas = alphas
        self.alphas_cumprod = _alphas_cumprod(betas)
        self.alphas_cumprod_prev = torch.cat([betas.new_ones(1), self.alphas_cumprod[:-1]])
        self.alphas_cumprod_next = torch.cat([self.alphas_cumprod[1:], betas.new_zeros(1)])

        # q(x_t | x_0)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        self.log_one_minus_alphas_cumprod = torch.log1p(-self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = (1.0 / self.alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / self.alphas_cumprod - 1.0).sqrt()

        # q(x_{t-1} | x_t, x_0)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        if self.num_timesteps > 1:
            first = self.posterior_variance[1:2]
        else:  # degenerate T=1: nothing to borrow from; fall back to beta_0
            first = betas[:1]
        self.posterior_log_variance_clipped = torch.log(torch.cat([first, self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * alphas.sqrt() / (1.0 - self.alphas_cumprod)

        # "fixed_large" reverse variance: betas with the t=0 entry replaced by beta_tilde_1.
        self.fixed_large_variance = torch.cat([first, betas[1:]])
        self.fixed_large_log_variance = torch.log(self.fixed_large_variance)
        self.log_betas = torch.log(betas)

    # ------------------------------------------------------------------ helpers
    def _t(self, t: Tensor | int, x: Tensor) -> Tensor:
        """Validate ``t`` and return it as a LongTensor ``[B]`` on ``x.device``."""
        if not isinstance(t, Tensor):
            t = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape [{x.shape[0]}], got {tuple(t.shape)}")
        return t.to(device=x.device, dtype=torch.long)

    def _split_output(self, out: Tensor, x_t: Tensor, variance: str) -> tuple[Tensor, Tensor | None]:
        """Split a model output into ``(eps, v)``; ``v`` is ``None`` for fixed variances."""
        c = x_t.shape[1]
        if variance == "learned_range":
            if out.shape[1] != 2 * c or out.shape[2:] != x_t.shape[2:]:
                raise ValueError(
                    f"learned_range needs a model output with {2 * c} channels, got shape {tuple(out.shape)}"
                )
            return out[:, :c], out[:, c:]
        if out.shape == x_t.shape:
            return out, None
        if out.shape[1] == 2 * c and out.shape[2:] == x_t.shape[2:]:
            return out[:, :c], None
        raise ValueError(f"model output shape {tuple(out.shape)} does not match input {tuple(x_t.shape)}")

    # ------------------------------------------------------------- forward process
    def q_mean_variance(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and log-variance of ``q(x_t | x_0)`` (variance terms are ``[B,1,..]``)."""
        t = self._t(t, x0)
        mean = _extract(self.sqrt_alphas_cumprod, t, x0.shape, x0.dtype) * x0
        var = _extract(1.0 - self.alphas_cumprod, t, x0.shape, x0.dtype)
        log_var = _extract(self.log_one_minus_alphas_cumprod, t, x0.shape, x0.dtype)
        return mean, var, log_var

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """Draw ``x_t ~ q(x_t | x_0)`` as ``sqrt(ab_t) x_0 + sqrt(1 - ab_t) noise``."""
        t = self._t(t, x0)
        if noise is None:
            noise = torch.randn_like(x0)
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} != x0 shape {tuple(x0.shape)}")
        return (
            _extract(self.sqrt_alphas_cumprod, t, x0.shape, x0.dtype) * x0
            + _extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape, x0.dtype) * noise
        )

    def q_posterior_mean_variance(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance (``beta_tilde``) and clipped log-variance of ``q(x_{t-1} | x_t, x_0)``."""
        t = self._t(t, x_t)
        mean = (
            _extract(self.posterior_mean_coef1, t, x_t.shape, x_t.dtype) * x0
            + _extract(self.posterior_mean_coef2, t, x_t.shape, x_t.dtype) * x_t
        )
        var = _extract(self.posterior_variance, t, x_t.shape, x_t.dtype)
        log_var = _extract(self.posterior_log_variance_clipped, t, x_t.shape, x_t.dtype)
        return mean, var, log_var

    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """``x_0 = sqrt(1/ab_t) x_t - sqrt(1/ab_t - 1) eps`` (inverse of :meth:`q_sample`)."""
        t = self._t(t, x_t)
        return (
            _extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape, x_t.dtype) * x_t
            - _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape, x_t.dtype) * eps
        )

    # ------------------------------------------------------------- reverse process
    def p_mean_variance(
        self,
        model: ModelFn,
        x_t: Tensor,
        t: Tensor,
        variance: str = "fixed_small",
        clip_denoised: bool = True,
    ) -> dict[str, Tensor]:
        """Parameters of ``p_theta(x_{t-1} | x_t)`` for an eps-predicting ``model(x_t, t)``.

        Returns a dict with ``mean``, ``variance``, ``log_variance`` (broadcastable to
        ``x_t``), ``pred_x0`` and ``eps`` (the model's noise prediction). With
        ``clip_denoised`` the predicted ``x_0`` is clamped to ``[-1, 1]`` before it enters
        the posterior mean.
        """
        _check_variance(variance)
        t = self._t(t, x_t)
        eps, v = self._split_output(model(x_t, t), x_t, variance)

        if variance == "fixed_small":
            var = _extract(self.posterior_variance, t, x_t.shape, x_t.dtype)
            log_var = _extract(self.posterior_log_variance_clipped, t, x_t.shape, x_t.dtype)
        elif variance == "fixed_large":
            var = _extract(self.fixed_large_variance, t, x_t.shape, x_t.dtype)
            log_var = _extract(self.fixed_large_log_variance, t, x_t.shape, x_t.dtype)
        else:  # learned_range
            assert v is not None
            min_log = _extract(self.posterior_log_variance_clipped, t, x_t.shape, x_t.dtype)
            max_log = _extract(self.log_betas, t, x_t.shape, x_t.dtype)
            frac = (v + 1.0) / 2.0
            log_var = frac * max_log + (1.0 - frac) * min_log
            var = torch.exp(log_var)

        pred_x0 = self.predict_x0_from_eps(x_t, t, eps)
        if clip_denoised:
            pred_x0 = pred_x0.clamp(-1.0, 1.0)
        mean, _, _ = self.q_posterior_mean_variance(pred_x0, x_t, t)
        return {"mean": mean, "variance": var, "log_variance": log_var, "pred_x0": pred_x0, "eps": eps}

    def loss_simple(self, model: ModelFn, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """Per-example ``L_simple``: mean over non-batch dims of ``(eps - eps_theta)^2``, shape ``[B]``.

        If the model outputs ``2C`` channels (learned variance), the first ``C`` are eps.
        """
        t = self._t(t, x0)
        if noise is None:
            noise = torch.randn_like(x0)
        x_t = self.q_sample(x0, t, noise)
        eps, _ = self._split_output(model(x_t, t), x_t, "fixed_small")
        return (noise - eps).float().pow(2).flatten(1).mean(dim=1)

    def p_sample(
        self,
        model: ModelFn,
        x_t: Tensor,
        t: Tensor,
        variance: str = "fixed_small",
        generator: torch.Generator | None = None,
        clip_denoised: bool = True,
    ) -> Tensor:
        """One ancestral step ``x_{t-1} = mean + sigma_t z`` (``z = 0`` where ``t == 0``).

        ``z`` is drawn on ``generator``'s device (CPU by default) and moved to ``x_t``'s,
        so results depend only on the generator state.
        """
        t = self._t(t, x_t)
        out = self.p_mean_variance(model, x_t, t, variance=variance, clip_denoised=clip_denoised)
        gen_device = generator.device if generator is not None else x_t.device
        noise = torch.randn(x_t.shape, generator=generator, device=gen_device, dtype=x_t.dtype)
        noise = noise.to(x_t.device)
        nonzero = (t != 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise

    def sample(
        self,
        model: ModelFn,
        shape: Sequence[int],
        *,
        variance: str = "fixed_small",
        generator: torch.Generator | None,
        device: torch.device | str = "cpu",
        progress: Callable[[int], None] | None = None,
        clip_denoised: bool = True,
        dtype: torch.dtype = torch.float32,
        on_state: Callable[[int, Tensor], None] | None = None,
    ) -> Tensor:
        """Ancestral sampling (DDPM Algorithm 2) from ``x_{T-1} ~ N(0, I)`` down to ``t = 0``.

        ``on_state(t, x_t)``, when given, sees the input of every reverse step ``t`` (``x_{T-1}``
        first): the state a DAED's denoiser takes over at split step ``t``
        (:func:`diffrepro.diffusion.daed.daed_sample` draws the same states from the same seed).

        Runs under :func:`torch.inference_mode`; all noise comes from ``generator`` so on a
        fixed device the result is a deterministic function of its seed. ``progress(i)`` is
        called after step ``i`` (``i = 0..T-1``). The model's train/eval mode is left
        untouched: call ``model.eval()`` first. Output is clamped to ``[-1, 1]``.
        """
        _check_variance(variance)
        device = torch.device(device)
        shape = tuple(int(s) for s in shape)
        with torch.inference_mode():
            gen_device = generator.device if generator is not None else device
            x = torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)
            for i, step in enumerate(range(self.num_timesteps - 1, -1, -1)):
                t = torch.full((shape[0],), step, dtype=torch.long, device=device)
                if on_state is not None:
                    on_state(step, x)
                x = self.p_sample(model, x, t, variance=variance, generator=generator, clip_denoised=clip_denoised)
                if progress is not None:
                    progress(i)
            return x.clamp(-1.0, 1.0)
