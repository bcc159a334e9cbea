"""DAED (Deja et al. 2022, Sec. 4): the generator / denoiser split in one place.

A DAED is a DDGM whose last reverse steps are replaced by a denoising auto-encoder (DAE):

* the **generator** is an ordinary (eps-predicting) DDGM run by the ancestral reverse process
  from ``x_{T-1} ~ N(0, I)`` down to the split step ``s`` (0-based), i.e. it produces a draw
  of the corrupted image ``x_s``;
* the **denoiser** is a DAE that maps ``x_s`` to ``x_0`` in **one** network call.

Conventions (0-based timesteps as in :mod:`.gaussian_diffusion`; index ``t`` is the paper's
``t + 1``):

* the DAE removes the noise of the forward marginal at step ``s``:
  ``x_s = sqrt(ab_s) x_0 + sqrt(1 - ab_s) eps`` (:func:`dae_input`);
* the split step for a DAE of noise level ``beta_1`` is
  ``s = argmin_t |ab_t - (1 - beta_1)|`` (:func:`.schedules.split_step`; on a model's own schedule
  :func:`diffrepro.posthoc.ddgm_split_step`), i.e. the step of the base schedule whose forward marginal
  carries the same amount of noise as one forward step of variance ``beta_1``;
* the DAE is called with ``t = s`` and returns its reconstruction of ``x_0`` (:func:`dae_predict`).

Model calls of one DAED sample: ``T - 1 - s`` generator calls (steps ``T-1 .. s+1``) and one
DAE call (:func:`daed_model_calls`), against ``T`` calls for the DDGM alone.

The *joint* DAED (paper Sec. 4, Table 1; network :class:`~diffrepro.models.joint_daed.JointDAED`)
trains a generator U-Net for ``t > 0`` and a DAE U-Net for ``t = 0`` together from scratch, with the
objective of :func:`joint_training_loss`: with the VLB objective the first (``t = 0``) VLB term (the
discretised decoder NLL) is replaced by the mean squared error of the predicted mean against
``x_0`` (:func:`joint_first_term_mse`), as in the public DAED code, weighted by ``T`` like every
other term (see :func:`joint_training_loss` for why); with the simple objective the loss is
``L_simple`` at every ``t``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .gaussian_diffusion import GaussianDiffusion, ModelFn, _check_variance
from .losses import _mean_flat, training_loss

__all__ = [
    "dae_test_mae",
    "dae_input",
    "dae_predict",
    "dae_loss",
    "daed_sample",
    "daed_model_calls",
    "joint_first_term_mse",
    "JOINT_OBJECTIVES",
    "joint_training_loss",
]

#: Objectives a joint DAED is trained with (:func:`joint_training_loss`).
JOINT_OBJECTIVES: tuple[str, ...] = ("simple", "vlb")


def _sq_err(a: Tensor, b: Tensor) -> Tensor:
    """Per-example mean squared error over non-batch dims, at least in float32 precision."""
    d = a - b
    if d.dtype in (torch.float16, torch.bfloat16):
        d = d.float()
    return _mean_flat(d * d)


def _check_split(num_timesteps: int, s: int) -> int:
    if isinstance(s, bool) or int(s) != s:
        raise ValueError(f"split step must be an int, got {s!r}")
    s = int(s)
    if not 0 <= s < num_timesteps:
        raise ValueError(f"split step must satisfy 0 <= s < T={num_timesteps}, got {s}")
    return s


# ----------------------------------------------------------------------------- the split
def daed_model_calls(num_timesteps: int, split: int) -> tuple[int, int]:
    """``(generator_calls, dae_calls) = (T - 1 - s, 1)`` for one DAED sample."""
    s = _check_split(int(num_timesteps), split)
    return int(num_timesteps) - 1 - s, 1


# ----------------------------------------------------------------------------- the denoiser
def dae_input(diffusion: GaussianDiffusion, x0: Tensor, s: int, noise: Tensor) -> Tensor:
    """The DAE's input ``x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s) noise`` (``q_sample`` at step ``s``).

    This is both the DAE's training input and the noise level it is meant to remove: at sampling
    time the generator hands over a draw of ``x_s``.
    """
    s = _check_split(diffusion.num_timesteps, s)
    t = torch.full((x0.shape[0],), s, dtype=torch.long, device=x0.device)
    return diffusion.q_sample(x0, t, noise)


def dae_predict(dae: ModelFn, diffusion: GaussianDiffusion, x_s: Tensor, s: int, *, clip: bool = True) -> Tensor:
    """The DAE's reconstruction ``x0_hat`` of ``x_s`` in one network call.

    A denoising auto-encoder reconstructs the clean image from its corrupted version in a single
    pass (paper Sec. 2.2, Eq. 9; the Gaussian decoder gives the squared-error objective
    ``||x - f(x_tilde)||^2``, :func:`dae_loss`). The network is the DDGM's U-Net, conditioned on
    ``t = s``, and keeps the DDGM's eps parameterisation: its output ``e`` is turned into the image
    by ``x0_hat = (x_s - sqrt(1 - ab_s) e) / sqrt(ab_s)``. A post-hoc DAE initialised with the
    DDGM's weights therefore starts as the DDGM's own one-step estimate of ``x_0`` (an x0-predicting
    head would start from the DDGM's noise estimate, i.e. from a useless reconstruction), and
    fine-tuning only improves the reconstruction error from there. If the network has ``2C`` output
    channels (a learned-variance DDGM), the first ``C`` are ``e``.

    With ``clip`` (sampling) the result is clamped to ``[-1, 1]``; training uses ``clip=False``
    so the gradient is not cut off outside the data range.
    """
    t = torch.full((x_s.shape[0],), int(s), dtype=torch.long, device=x_s.device)
    out = dae(x_s, t)
    c = x_s.shape[1]
    if out.shape[2:] != x_s.shape[2:] or out.shape[0] != x_s.shape[0] or out.shape[1] not in (c, 2 * c):
        raise ValueError(f"DAE output shape {tuple(out.shape)} does not match input {tuple(x_s.shape)}")
    x0 = diffusion.predict_x0_from_eps(x_s, t, out[:, :c])
    return x0.clamp(-1.0, 1.0) if clip else x0


@torch.inference_mode()
def dae_test_mae(
    dae: ModelFn, diffusion: GaussianDiffusion, x0: Tensor, s: int, generator: torch.Generator, batch_size: int
) -> tuple[float, float]:
    """The DAE's reconstruction error on images ``x0`` (in ``[-1, 1]``) noised to step ``s`` with noise from
    ``generator``: the mean absolute error per pixel in ``[0, 1]`` units over the images, and its standard error
    (one value per image). A joint DAED's denoiser is measured at ``s = 0`` of its own diffusion, a post-hoc DAE at
    its split step of the generator's, so the two compare at one noise level when their ``beta_1`` agree.
    The network sees ``batch_size`` images at a time (the noise is drawn for all at once, so the value does not
    depend on it beyond float rounding)."""
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    per_image = torch.cat(
        [
            ((dae_predict(dae, diffusion, dae_input(diffusion, x, s, n), s, clip=True) - x).abs() / 2.0)
            .flatten(1)
            .mean(dim=1)
            for x, n in zip(x0.split(batch_size), noise.split(batch_size), strict=True)
        ]
    ).double()
    n = per_image.numel()
    sem = float(per_image.std(unbiased=True) / n**0.5) if n > 1 else float("nan")
    return float(per_image.mean()), sem


def dae_loss(dae: ModelFn, diffusion: GaussianDiffusion, x0: Tensor, s: int, noise: Tensor) -> Tensor:
    """Per-example DAE loss ``mean_dims (dae_predict(x_s, s, clip=False) - x0)^2``, shape ``[B]``,
    with ``x_s = dae_input(diffusion, x0, s, noise)``."""
    x_s = dae_input(diffusion, x0, s, noise)
    pred = dae_predict(dae, diffusion, x_s, s, clip=False)
    return _sq_err(pred, x0)


# ----------------------------------------------------------------------------- sampling
def daed_sample(
    diffusion: GaussianDiffusion,
    generator_model: ModelFn,
    dae: ModelFn,
    shape: Sequence[int],
    *,
    split_step: int,
    variance: str,
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
    clip_denoised: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw DAED samples: the generator down to ``x_s``, then the DAE once.

    1. ``x_{T-1} ~ N(0, I)``;
    2. for ``t = T-1, T-2, ..., s+1``: ``x_{t-1} = diffusion.p_sample(generator_model, x_t, t)``
       (ancestral step with ``variance`` and ``clip_denoised``), so the loop ends with a draw
       of ``x_s``; for ``s = T-1`` the generator is never called;
    3. ``x_0 = dae_predict(dae, diffusion, x_s, s)`` - exactly one DAE call, clamped to ``[-1, 1]``.

    The public DAED code denoises twice at the seam; here the noise of step ``s`` is removed
    once: the generator stops at ``x_s`` and only the DAE maps it to ``x_0``, as the paper's
    model ``p(x_0 | x_s) p(x_s)`` describes.

    All noise (the initial draw and every ancestral step) comes from ``generator`` (drawn on its
    device, moved to ``device``), so on a fixed device the result is a deterministic function
    of its seed, and the state handed to the DAE equals that of ``diffusion.p_sample`` run by hand
    from ``T-1`` to ``s+1`` with the same generator. Runs under :func:`torch.inference_mode`;
    the networks' train/eval modes are left untouched (call ``.eval()`` first).
    ``progress(i)`` is called after each generator step (``i = 0 .. T-2-s``) and once more after
    the DAE (``i = T-1-s``). Returns images in ``[-1, 1]``.
    """
    _check_variance(variance)
    n_t = diffusion.num_timesteps
    s = _check_split(n_t, split_step)
    device = torch.device(device)
    shape = tuple(int(d) for d in shape)
    with torch.inference_mode():
        gen_device = generator.device if generator is not None else device
        x = torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)
        i = 0
        for step in range(n_t - 1, s, -1):
            t = torch.full((shape[0],), step, dtype=torch.long, device=device)
            x = diffusion.p_sample(
                generator_model, x, t, variance=variance, generator=generator, clip_denoised=clip_denoised
            )
            if progress is not None:
                progress(i)
            i += 1
        x0 = dae_predict(dae, diffusion, x, s, clip=True)
        if progress is not None:
            progress(i)
        return x0


# ----------------------------------------------------------------------------- joint DAED objective
def joint_first_term_mse(
    diffusion: GaussianDiffusion,
    model_output: Tensor,
    x0: Tensor,
    x_t: Tensor,
    t: Tensor,
    variance: str,
    *,
    clip_denoised: bool = False,
) -> Tensor:
    """Per-example ``mean_dims (mu_theta(x_t, t) - x0)^2``, shape ``[B]``.

    In the joint DAED trained with the VLB objective the first VLB term (``t = 0``, the
    discretised decoder NLL ``-log p(x_0 | x_1)``) is replaced by the mean squared error of the
    model's predicted mean against ``x0``. ``mu_theta`` is the mean of ``p_theta(x_{t-1} | x_t)``
    from ``diffusion.p_mean_variance`` applied to ``model_output`` (eps in the first ``C``
    channels), exactly the mean :func:`.losses.vlb_terms` uses. At ``t = 0`` the posterior
    coefficients are ``1`` and ``0``, so ``mu_theta = x0_hat = (x_t - sqrt(1 - ab_0) eps_theta) /
    sqrt(ab_0)``. The value is computed for every ``t`` in the batch; the joint loss selects it
    where ``t == 0`` (e.g. ``torch.where(t == 0, mse, kl)``).
    """
    _check_variance(variance)
    out = diffusion.p_mean_variance(lambda _x, _t: model_output, x_t, t, variance=variance, clip_denoised=clip_denoised)
    return _sq_err(out["mean"], x0)


def joint_training_loss(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x0: Tensor,
    t: Tensor,
    noise: Tensor | None,
    objective: str,
    variance: str,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-example training loss ``[B]`` of a joint DAED and its components (one network call).

    ``model`` is the joint network (:class:`~diffrepro.models.joint_daed.JointDAED`, which routes the
    rows with ``t == 0`` to the DAE and the others to the generator), ``T = diffusion.num_timesteps``,
    ``x_t = q_sample(x0, t, noise)`` (``noise`` drawn from ``generator`` when ``None``).

    * ``"simple"``: exactly :func:`.losses.training_loss` with ``"simple"``: ``L_simple`` at every
      ``t``; at ``t == 0`` it trains the DAE through its eps parameterisation (its reconstruction is
      ``x0_hat = (x_t - sqrt(1 - ab_0) eps_theta) / sqrt(ab_0)``, so the eps error is the
      reconstruction error scaled by ``ab_0 / (1 - ab_0)``). Components: ``mse``.
    * ``"vlb"``: the ``"vlb"`` loss of :func:`.losses.training_loss` (``T * vb``, ``vb`` the VLB term
      in bits/dim) for ``t > 0``, and at ``t == 0``, in place of ``T * decoder_nll``::

          loss_0 = T * joint_first_term_mse = T * mean_dims (mu_theta(x_t, 0) - x0)^2

      (``mu_theta(x_t, 0)`` is the DAE's unclamped reconstruction ``x0_hat``). Components: ``vb``
      (the ordinary VLB term, the decoder NLL at ``t == 0``, for monitoring), ``dae_mse``
      (:func:`joint_first_term_mse`, evaluated for every row) and ``mse`` (the eps MSE).

    **The scale ``T`` of the ``t == 0`` term.** ``training_loss`` weights every VLB term by ``T`` so
    that the objective with ``t`` uniform, ``(1/T) sum_t loss_t``, is the bound itself,
    ``sum_t vb_t``; the timestep samplers' importance weights ``1 / (T p_t)`` keep that true for any
    ``p`` (``dae_weighted`` included). Weighting the MSE by the same ``T`` makes that objective
    ``dae_mse + sum_{t>0} vb_t``: the DAE is trained on exactly its reconstruction MSE (the loss of a
    post-hoc DAE, :func:`dae_loss`, unscaled), the generator on exactly the VLB terms a DDGM trains,
    and ``T`` does not change the balance between them. It is also the public DAED code's weighting
    (it multiplies both the MSE and the KL terms by one constant, ``T - 1``). Since the two terms
    have disjoint parameters and are per-parameter normalised by Adam, the scale only matters for
    gradient clipping (the training loop clips each network separately), the logged loss and a
    loss-aware timestep sampler; with ``T`` the ``t == 0`` term keeps in the per-example losses the
    weight it has in the uniform-``t`` objective instead of being ``T`` times smaller. The MSE is in squared
    ``[-1, 1]`` pixel units, not bits:
    it is not a term of a likelihood bound, so the bits/dim of a joint DAED come from
    :func:`.losses.calc_bpd_loop`, never from this training loss.

    Raises :class:`ValueError` for an objective other than ``simple`` or ``vlb`` (the hybrid and
    IWDiff objectives have no joint-DAED form) or an unknown ``variance``.
    """
    if objective not in JOINT_OBJECTIVES:
        raise ValueError(
            f"a joint DAED is trained with the objective {' or '.join(JOINT_OBJECTIVES)}, got {objective!r}"
        )
    _check_variance(variance)
    if objective == "simple":
        return training_loss(diffusion, model, x0, t, noise, "simple", variance, generator=generator)

    seen: dict[str, Tensor] = {}

    def recording(x_t: Tensor, tt: Tensor) -> Tensor:
        out = model(x_t, tt)
        seen["x_t"], seen["t"], seen["output"] = x_t, tt, out
        return out

    loss_vb, parts = training_loss(diffusion, recording, x0, t, noise, "vlb", variance, generator=generator)
    dae_mse = joint_first_term_mse(diffusion, seen["output"], x0, seen["x_t"], seen["t"], variance)
    n_t = diffusion.num_timesteps
    loss = torch.where(seen["t"] == 0, n_t * dae_mse.to(loss_vb.dtype), loss_vb)
    return loss, {"vb": parts["vb"], "dae_mse": dae_mse, "mse": parts["mse"]}
