"""Training objectives and the variational bound (VLB) of DDPM, in one place.

Conventions: time indices are 0-based (index ``t`` is the paper's ``t + 1``), so index 0
is the decoder step ``p(x_0 | x_1)`` and index ``T - 1`` the last forward step. Images are
uint8 values mapped to ``[-1, 1]``; every "bits per dimension" (bpd) quantity is a
per-example mean over the non-batch dimensions divided by ``ln 2``.

The negative VLB of a diffusion model decomposes as (Ho et al. 2020, Eq. 5; Nichol &
Dhariwal 2021, Eqs. 4-7)::

    L_vlb = L_0 + sum_{t=1}^{T-1} L_t + L_T
    L_0   = -log p_theta(x_0 | x_1)                        (discretised Gaussian decoder)
    L_t   = KL( q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t) )     (paper's t = 2..T)
    L_T   = KL( q(x_T | x_0) || N(0, I) )                   (prior term, no parameters)

Functions:

* :func:`normal_kl`, :func:`approx_standard_normal_cdf`,
  :func:`discretized_gaussian_log_likelihood` - elementwise building blocks;
* :func:`vlb_terms` - the per-step term ``L_t`` in bpd from a model *output* (so a training
  step calls the network once), reusing :meth:`GaussianDiffusion.p_mean_variance`;
* :func:`prior_bpd` - ``L_T`` in bpd;
* :func:`calc_bpd_loop` - the exact bound over all ``T`` steps (evaluation);
* :func:`training_loss` - the objectives in :data:`OBJECTIVES`:
  ``"simple"`` (DDPM Eq. 14), ``"vlb"`` (rescaled KL as in the improved-DDPM code),
  ``"hybrid"`` (improved DDPM, Sec. 3.1) and ``"iwdiff"`` (coursework Algorithm 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .gaussian_diffusion import VARIANCE_TYPES, GaussianDiffusion

__all__ = [
    "OBJECTIVES",
    "normal_kl",
    "approx_standard_normal_cdf",
    "discretized_gaussian_log_likelihood",
    "vlb_terms",
    "prior_bpd",
    "calc_bpd_loop",
    "training_loss",
]

#: Objectives accepted by :func:`training_loss`.
OBJECTIVES: tuple[str, ...] = ("simple", "vlb", "hybrid", "iwdiff")

_LN2 = math.log(2.0)
_LOG_EPS = 1e-12  # floor inside the logs of the discretised decoder

ModelFn = Callable[[Tensor, Tensor], Tensor]


def _check_variance(variance: str) -> str:
    if variance not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCE_TYPES)}")
    return variance


def _check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    return objective


def _mean_flat(x: Tensor) -> Tensor:
    """Mean over all non-batch dimensions, shape ``[B]``."""
    return x.flatten(1).mean(dim=1)


def _randn(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise drawn on ``generator``'s device and moved to ``like``'s."""
    gen_device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=gen_device, dtype=like.dtype).to(like.device)


# ----------------------------------------------------------------------------- building blocks
def normal_kl(mean1: Tensor | float, logvar1: Tensor | float, mean2: Tensor | float, logvar2: Tensor | float) -> Tensor:
    """Elementwise ``KL(N(mean1, e^logvar1) || N(mean2, e^logvar2))`` in nats.

    ``KL = 0.5 * (-1 + logvar2 - logvar1 + exp(logvar1 - logvar2)
    + (mean1 - mean2)^2 * exp(-logvar2))``. Arguments broadcast; at least one must be a
    tensor.
    """
    ref = next((a for a in (mean1, logvar1, mean2, logvar2) if isinstance(a, Tensor)), None)
    if ref is None:
        raise TypeError("normal_kl needs at least one tensor argument")
    logvar1, logvar2 = (
        a if isinstance(a, Tensor) else torch.tensor(a, dtype=ref.dtype, device=ref.device) for a in (logvar1, logvar2)
    )
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """Fast approximation of the standard normal CDF (as in the improved-DDPM code).

    ``Phi(x) ~= 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``; the absolute error is
    below about ``2e-4`` on the whole real line. It is monotone, ``0`` at ``-inf`` and ``1``
    at ``+inf``.
    """
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """Elementwise log-probability of 8-bit data under a discretised Gaussian.

    ``x`` holds uint8 values mapped to ``[-1, 1]`` (bin centres ``2k/255 - 1``), ``means`` and
    ``log_scales`` (``log sigma``) broadcast against it. Each bin has width ``2/255``::

        log p(x) = log[ Phi((x + 1/255 - mu)/sigma) - Phi((x - 1/255 - mu)/sigma) ]

    except that the first bin (``x = -1``) is open to ``-inf``
    (``log Phi((x + 1/255 - mu)/sigma)``) and the last (``x = 1``) open to ``+inf``
    (``log(1 - Phi((x - 1/255 - mu)/sigma))``), so the 256 probabilities sum to one.
    ``Phi`` is :func:`approx_standard_normal_cdf`; every log argument is floored at
    ``1e-12`` for stability.
    """
    if not (x.shape == means.shape == log_scales.shape):
        x, means, log_scales = torch.broadcast_tensors(x, means, log_scales)
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=_LOG_EPS))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=_LOG_EPS))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=_LOG_EPS))
    return torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta),
    )


# ----------------------------------------------------------------------------- the bound
def vlb_terms(
    diffusion: GaussianDiffusion,
    model_output: Tensor,
    x0: Tensor,
    x_t: Tensor,
    t: Tensor,
    variance: str,
    *,
    stop_grad_mean: bool = False,
    clip_denoised: bool = False,
) -> dict[str, Tensor]:
    """Per-example VLB term ``L_t`` (bits/dim) from the network output at ``(x_t, t)``.

    With ``p = p_theta(x_{t-1} | x_t)`` from
    ``diffusion.p_mean_variance(lambda x, tt: model_output, x_t, t, variance)``::

        vb = mean_dims KL(q(x_{t-1} | x_t, x0) || p) / ln 2                     for t > 0
        vb = -mean_dims log N_disc(x0; mean_p, sigma_p) / ln 2                    for t == 0

    (``N_disc`` is :func:`discretized_gaussian_log_likelihood` with
    ``log_scales = 0.5 * log_variance``). With ``stop_grad_mean=True`` (hybrid objective)
    the eps part of the output (the first ``C`` channels, or all of them for a ``C``-channel
    output) is detached, so only the variance channels receive gradient from ``vb``.

    Returns a dict with ``vb``, ``kl``, ``decoder_nll`` (all ``[B]``, bits/dim; ``kl`` and
    ``decoder_nll`` are evaluated at every ``t``, ``vb`` selects between them), the model's
    ``mean``, ``log_variance``, ``pred_x0`` and ``eps`` (eps detached when
    ``stop_grad_mean``).
    """
    _check_variance(variance)
    t = diffusion._t(t, x_t)
    if stop_grad_mean:
        c = x_t.shape[1]
        model_output = torch.cat([model_output[:, :c].detach(), model_output[:, c:]], dim=1)
    out = diffusion.p_mean_variance(lambda _x, _t: model_output, x_t, t, variance=variance, clip_denoised=clip_denoised)
    true_mean, _, true_log_var = diffusion.q_posterior_mean_variance(x0, x_t, t)
    kl = _mean_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])) / _LN2
    log_scales = (0.5 * out["log_variance"]).expand_as(x0)
    decoder_nll = -_mean_flat(discretized_gaussian_log_likelihood(x0, out["mean"], log_scales)) / _LN2
    vb = torch.where(t == 0, decoder_nll, kl)
    return {
        "vb": vb,
        "kl": kl,
        "decoder_nll": decoder_nll,
        "mean": out["mean"],
        "log_variance": out["log_variance"],
        "pred_x0": out["pred_x0"],
        "eps": out["eps"],
    }


def prior_bpd(diffusion: GaussianDiffusion, x0: Tensor) -> Tensor:
    """Prior term ``KL(q(x_T | x0) || N(0, I))`` in bits/dim, shape ``[B]``.

    Per dimension ``KL = 0.5 * (ab_T x0^2 + (1 - ab_T) - 1 - log(1 - ab_T))`` with
    ``ab_T = alphas_cumprod[T - 1]``; averaged over non-batch dims and divided by ``ln 2``.
    """
    t = torch.full((x0.shape[0],), diffusion.num_timesteps - 1, dtype=torch.long, device=x0.device)
    mean, _, log_var = diffusion.q_mean_variance(x0, t)
    return _mean_flat(normal_kl(mean, log_var, 0.0, 0.0)) / _LN2


def calc_bpd_loop(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x0: Tensor,
    variance: str,
    *,
    generator: torch.Generator | None = None,
    clip_denoised: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Tensor]:
    """Exact negative VLB of ``x0`` in bits/dim, evaluating every one of the ``T`` terms.

    For ``t = T-1, ..., 0`` (in that order) one fresh ``eps ~ N(0, I)`` is drawn from
    ``generator`` (on its device, moved to ``x0``'s), ``x_t = q_sample(x0, t, eps)`` and
    :func:`vlb_terms` is evaluated. ``total_bpd = prior_bpd + sum_t vb[:, t]``.
    Runs under :func:`torch.inference_mode`; the model's train/eval mode is left untouched
    (call ``model.eval()`` first). ``progress(t)`` is called after the term of step ``t`` (one network call).

    Returns ``total_bpd`` ``[B]``, ``prior_bpd`` ``[B]``, ``vb`` ``[B, T]`` (column ``t`` is
    the term at index ``t``), and for diagnostics ``mse`` ``[B, T]`` (eps MSE) and
    ``xstart_mse`` ``[B, T]`` (MSE of the predicted ``x0``).
    """
    _check_variance(variance)
    n_t = diffusion.num_timesteps
    b = x0.shape[0]
    with torch.inference_mode():
        vb = x0.new_zeros((b, n_t))
        mse = x0.new_zeros((b, n_t))
        xstart_mse = x0.new_zeros((b, n_t))
        for step in range(n_t - 1, -1, -1):
            t = torch.full((b,), step, dtype=torch.long, device=x0.device)
            noise = _randn(tuple(x0.shape), x0, generator)
            x_t = diffusion.q_sample(x0, t, noise)
            terms = vlb_terms(diffusion, model(x_t, t), x0, x_t, t, variance, clip_denoised=clip_denoised)
            vb[:, step] = terms["vb"]
            mse[:, step] = _mean_flat((terms["eps"] - noise) ** 2)
            xstart_mse[:, step] = _mean_flat((terms["pred_x0"] - x0) ** 2)
            if progress is not None:
                progress(step)
        prior = prior_bpd(diffusion, x0)
        total = vb.sum(dim=1) + prior
    return {"total_bpd": total, "prior_bpd": prior, "vb": vb, "mse": mse, "xstart_mse": xstart_mse}


# ----------------------------------------------------------------------------- objectives
def training_loss(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x0: Tensor,
    t: Tensor,
    noise: Tensor | None,
    objective: str,
    variance: str,
    *,
    hybrid_lambda: float = 0.001,
    iwdiff_k: int = 1,
    generator: torch.Generator | None = None,
    extra_noise: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-example training loss ``[B]`` and a dict of its components.

    ``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise`` (``noise`` drawn from ``generator`` when
    ``None``); ``mse = mean_dims (noise - eps_theta(x_t, t))^2`` (the first ``C`` output
    channels when the model outputs ``2C``). ``T = diffusion.num_timesteps``.

    * ``"simple"``: ``loss = mse`` (DDPM Eq. 14). Components: ``mse``.
    * ``"vlb"``: ``loss = T * vb`` with ``vb`` from :func:`vlb_terms` (bits/dim), the
      "rescaled KL" of the improved-DDPM code, so ``E_t[loss] = L_vlb - L_T`` up to the
      bpd normalisation. Components: ``vb`` and ``mse`` (the latter for monitoring only).
    * ``"hybrid"``: ``loss = mse + hybrid_lambda * T * vb`` with ``vb`` computed with
      ``stop_grad_mean=True`` (improved DDPM ``L_simple + 0.001 L_vlb``); requires
      ``variance == "learned_range"``. Components: ``mse``, ``vb``.
    * ``"iwdiff"`` (coursework Algorithm 3): ``k = iwdiff_k`` noises ``eps_1 = noise``,
      ``eps_2..eps_k ~ N(0, I)`` (``extra_noise`` ``[k-1, B, ...]`` when given, else drawn from
      ``generator`` after ``noise``), all at the same ``t``; one network call
      on the batch repeated ``k`` times (draw-major order). The algorithm's per-draw loss is
      the squared norm ``L_i = ||eps_i - eps_theta||^2`` (a sum over the ``D`` dimensions), and
      its softmax weights are taken over those sums, as written. The loss is reported at the
      scale of the ``"simple"`` loss, ``l_i = L_i / D`` (mean over dims), so ``k = 1`` is
      exactly ``"simple"`` and learning rates carry over::

          w_i = exp(L_i - max_j L_j) / sum_j exp(L_j - max_j L_j)     (detached)
          loss = sum_i w_i * l_i

      Components: ``mse`` (unweighted mean of ``l_i``), ``draw_losses`` ``[B, k]`` and
      ``iw_weights`` ``[B, k]``. A model whose output depends on the batch (BatchNorm in
      train mode) sees a batch of ``k * B``.

    Components are not detached (detach them before logging). Unknown ``objective`` or
    ``variance`` names raise :class:`ValueError`.
    """
    _check_objective(objective)
    _check_variance(variance)
    if objective == "hybrid" and variance != "learned_range":
        raise ValueError(f"the hybrid objective needs variance 'learned_range', got variance {variance!r}")
    t = diffusion._t(t, x0)
    if noise is None:
        noise = _randn(tuple(x0.shape), x0, generator)
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} != x0 shape {tuple(x0.shape)}")
    n_t = diffusion.num_timesteps

    if objective == "iwdiff":
        k = iwdiff_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"iwdiff_k must be a positive int, got {k!r}")
        b = x0.shape[0]
        if k > 1:
            if extra_noise is None:
                extra = _randn((k - 1, *x0.shape), x0, generator)
            elif tuple(extra_noise.shape) != (k - 1, *x0.shape):
                raise ValueError(f"extra_noise shape {tuple(extra_noise.shape)} != {(k - 1, *x0.shape)}")
            else:
                extra = extra_noise.to(device=x0.device, dtype=x0.dtype)
            noises = torch.cat([noise.unsqueeze(0), extra], dim=0)  # [k, B, ...]
        else:
            noises = noise.unsqueeze(0)
        noise_rep = noises.reshape(k * b, *x0.shape[1:])
        x0_rep = x0.unsqueeze(0).expand(k, *x0.shape).reshape(k * b, *x0.shape[1:])
        t_rep = t.repeat(k)
        x_t = diffusion.q_sample(x0_rep, t_rep, noise_rep)
        eps, _ = diffusion._split_output(model(x_t, t_rep), x_t, variance)
        losses = _mean_flat((noise_rep - eps).float() ** 2).reshape(k, b).transpose(0, 1)  # [B, k]
        with torch.no_grad():
            norms = losses * float(x0[0].numel())  # ||eps_i - eps_theta||^2 of Algorithm 3
            shifted = norms - norms.max(dim=1, keepdim=True).values
            e = torch.exp(shifted)
            weights = e / e.sum(dim=1, keepdim=True)
        loss = (weights * losses).sum(dim=1)
        return loss, {"mse": losses.mean(dim=1), "draw_losses": losses, "iw_weights": weights}

    x_t = diffusion.q_sample(x0, t, noise)
    output = model(x_t, t)
    eps, _ = diffusion._split_output(output, x_t, variance)
    mse = _mean_flat((noise - eps).float() ** 2)
    if objective == "simple":
        return mse, {"mse": mse}
    if objective == "vlb":
        vb = vlb_terms(diffusion, output, x0, x_t, t, variance)["vb"]
        return vb * n_t, {"vb": vb, "mse": mse}
    # hybrid
    vb = vlb_terms(diffusion, output, x0, x_t, t, variance, stop_grad_mean=True)["vb"]
    return mse + hybrid_lambda * n_t * vb, {"mse": mse, "vb": vb}
