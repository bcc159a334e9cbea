"""Tests for diffrepro.analysis (SNR curves, reconstruction error, MAE / MS-SSIM).

Checks compare against closed forms, hand computations or independent numpy code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_msssim
import torch

from diffrepro.analysis.image_quality import (
    STANDARD_MS_SSIM_WEIGHTS,
    _multiscale,
    mae,
    ms_ssim,
    ms_ssim_settings,
    to_unit_range,
)
from diffrepro.analysis.reconstruction import first_fraction_steps, reconstruction_error
from diffrepro.analysis.snr import signal_power, snr_curve
from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.schedules import (
    alphas_cumprod,
    get_beta_schedule,
    log_snr,
    log_snr_zero_crossing,
    snr,
)


def _images(n, c, h, w, seed=0):
    """Smooth-ish random images in [0, 1] (a blurred noise field, so SSIM is meaningful)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    return (x - x.amin()) / (x.amax() - x.amin())


# ----------------------------------------------------------------------------- image quality
@pytest.mark.parametrize("size", [8, 16, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_ms_ssim_identity_and_noise(size, channels):
    x = _images(3, channels, size, size, seed=size + channels)
    ident = ms_ssim(x, x.clone(), 1.0)
    assert ident.shape == (3,)
    assert torch.allclose(ident, torch.ones(3, dtype=torch.float64), atol=1e-6)
    assert torch.equal(mae(x, x.clone()), torch.zeros(3, dtype=torch.float64))

    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    slightly = (x + 0.05 * noise).clamp(0, 1)
    very = (x + 0.3 * noise).clamp(0, 1)
    s_slight, s_very = ms_ssim(x, slightly, 1.0), ms_ssim(x, very, 1.0)
    assert bool((s_slight < 1 - 1e-4).all())
    assert bool((s_very < s_slight).all())
    assert bool((mae(x, very) > mae(x, slightly)).all())


def test_mae_closed_form():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.zeros(2, 1, 4, 4)
    b[0] = 0.5
    b[1, 0, :2] = -1.0  # half the pixels off by 1
    assert torch.allclose(mae(a, b), torch.tensor([0.5, 0.5], dtype=torch.float64))
    # the same pair in [-1, 1] vs mapped to [0, 1]: half the value
    x, y = torch.rand(3, 3, 8, 8) * 2 - 1, torch.rand(3, 3, 8, 8) * 2 - 1
    assert torch.allclose(mae(to_unit_range(x), to_unit_range(y)), mae(x, y) / 2)


@pytest.mark.parametrize("size", [3, 5, 8, 12, 16, 28, 32, 33, 48, 64, 100, 128, 160, 161, 256, 300])
def test_ms_ssim_settings_rule(size):
    for h, w in [(size, size), (size, size + 7), (size + 5, size)]:
        win, weights = ms_ssim_settings(h, w)
        k = len(weights)
        assert win % 2 == 1 and 3 <= win <= 11 and 1 <= k <= 5
        assert min(h, w) > (win - 1) * 2 ** (k - 1)
        if k < 5:
            assert math.isclose(sum(weights), 1.0, rel_tol=0, abs_tol=1e-12)
            first = np.array(STANDARD_MS_SSIM_WEIGHTS[:k])
            np.testing.assert_allclose(weights, first / first.sum(), rtol=1e-12)
        else:  # the published weights, unchanged (sum 1.0001 by rounding)
            assert weights == STANDARD_MS_SSIM_WEIGHTS
            assert math.isclose(sum(weights), 1.0, abs_tol=2e-4)
        # maximal: one more scale does not fit with any window >= 7 (unless already 5 or tiny)
        if k < 5 and min(h, w) > 6:
            assert not any(min(h, w) > (v - 1) * 2**k for v in (7, 9, 11))


def test_ms_ssim_settings_values():
    assert ms_ssim_settings(8, 8) == (7, (1.0,))
    assert ms_ssim_settings(16, 16)[0] == 7 and len(ms_ssim_settings(16, 16)[1]) == 2
    assert ms_ssim_settings(28, 28)[0] == 7 and len(ms_ssim_settings(28, 28)[1]) == 3
    assert ms_ssim_settings(32, 32)[0] == 7 and len(ms_ssim_settings(32, 32)[1]) == 3
    assert ms_ssim_settings(256, 256) == (11, STANDARD_MS_SSIM_WEIGHTS)
    assert ms_ssim_settings(161, 400) == (11, STANDARD_MS_SSIM_WEIGHTS)
    with pytest.raises(ValueError):
        ms_ssim_settings(2, 2)


@pytest.mark.parametrize("channels", [1, 3])
def test_ms_ssim_matches_pytorch_msssim_at_256(channels):
    x = _images(2, channels, 256, 256, seed=3)
    g = torch.Generator().manual_seed(2)
    y = (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = ms_ssim(x, y, 1.0)
    ref = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ours, ref, rtol=0, atol=1e-12)
    assert 0.5 < float(ours.min()) < 0.999
    # the multi-scale loop used for small images reproduces the package at the standard settings
    loop = _multiscale(x, y, 1.0, 11, STANDARD_MS_SSIM_WEIGHTS)
    assert torch.allclose(loop, ref, rtol=0, atol=1e-12)


def test_multiscale_loop_matches_package_with_fewer_scales():
    # 64x64 with win 3 satisfies the package's own assertion (2 * 16 < 64), so it can be
    # called directly with 3 renormalised weights: our loop must agree
    x = _images(2, 3, 64, 64, seed=5)
    g = torch.Generator().manual_seed(4)
    y = (x + 0.2 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    w = [v / sum(STANDARD_MS_SSIM_WEIGHTS[:3]) for v in STANDARD_MS_SSIM_WEIGHTS[:3]]
    ref = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False, win_size=3, weights=w)
    assert torch.allclose(ms_ssim(x, y, 1.0, win_size=3, weights=w), ref, rtol=0, atol=1e-12)


def test_single_scale_equals_ssim():
    # one scale: MS-SSIM is relu(SSIM) per channel, averaged over channels
    x = _images(3, 3, 8, 8, seed=7)
    g = torch.Generator().manual_seed(8)
    y = (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = ms_ssim(x, y, 1.0)
    ref = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False, win_size=7)
    assert torch.allclose(ours, ref, atol=1e-12)


def test_ms_ssim_rejects_bad_settings():
    x = _images(1, 1, 32, 32)
    with pytest.raises(ValueError):
        ms_ssim(x, x, 1.0, win_size=11, weights=STANDARD_MS_SSIM_WEIGHTS)
    with pytest.raises(ValueError):
        ms_ssim(x, x, 1.0, win_size=4, weights=(1.0,))
    with pytest.raises(ValueError):
        ms_ssim(x, x[:, :, :16], 1.0)


# ------------------------------------------------------------------------------------- SNR
def _ab(name, T):
    return alphas_cumprod(get_beta_schedule(name, T))


def _sign_images(n, shape, m, seed=0):
    """Images whose pixels are +-sqrt(m), so mean(x0^2) = m for each."""
    g = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (n, *shape), generator=g).to(torch.float64) * 2 - 1
    return signs * math.sqrt(m)


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("T", [1000, 500])
def test_snr_crossing_unit_power(name, T):
    ab = _ab(name, T)
    x = _sign_images(6, (1, 4, 4), 1.0)
    out = snr_curve(ab, x)
    assert torch.allclose(out["snr_mean"], snr(ab), rtol=1e-14)
    assert torch.allclose(out["log_snr_mean"], log_snr(ab), rtol=0, atol=1e-12)
    assert out["crossing_step"] == log_snr_zero_crossing(ab)
    expected = 0.26 if name == "linear" else 0.50
    assert abs(out["crossing_fraction"] - expected) < 0.015
    assert out["crossing_fraction"] == out["crossing_step"] / T


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("m", [0.1, 0.37, 0.8])
def test_snr_crossing_power_m(name, m):
    ab = _ab(name, 1000)
    out = snr_curve(ab, _sign_images(5, (3, 4, 4), m, seed=1))
    ab_np = ab.numpy()
    expected = int(np.nonzero(ab_np / (1 - ab_np) <= 1 / m)[0][0])
    assert out["crossing_step"] == expected
    assert out["mean_log_crossing_step"] == expected  # equal powers: both conventions agree
    assert expected < log_snr_zero_crossing(ab)  # weaker signal (m < 1): earlier crossing


def test_snr_curve_matches_explicit_per_image_average():
    ab = _ab("linear", 300)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(7, 3, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    out = snr_curve(ab, [(x[:3], None), (x[3:], None)])  # batches, as from a DataLoader
    ab_np = ab.numpy()
    m = (x.numpy() ** 2).reshape(7, -1).mean(axis=1)
    per_image = ab_np[None, :] * m[:, None] / (1 - ab_np[None, :])  # [N, T]
    np.testing.assert_allclose(out["snr_mean"].numpy(), per_image.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["log_snr_mean"].numpy(), np.log(per_image.mean(axis=0)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["mean_log_snr"].numpy(), np.log(per_image).mean(axis=0), rtol=1e-12, atol=1e-12)
    assert bool((out["mean_log_snr"] <= out["log_snr_mean"] + 1e-12).all())  # Jensen
    assert out["num_images"] == 7
    np.testing.assert_allclose(signal_power(x).numpy(), m, rtol=1e-14)
    assert out["crossing_step"] == int(np.nonzero(np.log(per_image.mean(axis=0)) <= 0)[0][0])
    assert out["mean_log_crossing_step"] == int(np.nonzero(np.log(per_image).mean(axis=0) <= 0)[0][0])


def test_snr_discrete_derivative_is_numpy_diff():
    ab = _ab("cosine", 200)
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = snr_curve(ab, x)
    assert out["d_log_snr_mean"].shape == (199,)
    np.testing.assert_array_equal(out["d_log_snr_mean"].numpy(), np.diff(out["log_snr_mean"].numpy()))
    np.testing.assert_array_equal(out["d_mean_log_snr"].numpy(), np.diff(out["mean_log_snr"].numpy()))
    np.testing.assert_array_equal(out["d_snr_mean"].numpy(), np.diff(out["snr_mean"].numpy()))
    # a constant data offset: the derivative is the schedule's
    np.testing.assert_allclose(out["d_log_snr_mean"].numpy(), np.diff(log_snr(ab).numpy()), atol=1e-10)
    assert bool((out["d_log_snr_mean"] < 0).all())  # strictly decreasing log-SNR


def test_snr_no_crossing_gives_none():
    ab = alphas_cumprod(torch.full((10,), 1e-3, dtype=torch.float64))
    out = snr_curve(ab, torch.ones(2, 1, 2, 2))
    assert out["crossing_step"] is None and out["crossing_fraction"] is None


# ---------------------------------------------------------------------------- reconstruction
def test_first_fraction_steps():
    assert first_fraction_steps(1000) == list(range(0, 199, 22))
    assert first_fraction_steps(1000)[-1] == 198
    assert first_fraction_steps(500) == [0, 11, 22, 33, 44, 55, 66, 77, 88, 99]
    assert first_fraction_steps(100, 0.2, 5) == [0, 4, 8, 12, 16]
    assert first_fraction_steps(10, 0.2, 10) == [0, 1]
    assert first_fraction_steps(4, 0.2, 3) == [0]
    assert first_fraction_steps(1000, 0.2, 1) == [0]
    assert first_fraction_steps(1000, 1.0, 4) == [0, 333, 666, 999]
    with pytest.raises(ValueError):
        first_fraction_steps(1000, 0.0)


def _setup(T=50, n=4, c=1, size=16, seed=0):
    diffusion = GaussianDiffusion(get_beta_schedule("linear", T))
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, c, size, size, generator=g) * 2 - 1
    x0 = torch.nn.functional.avg_pool2d(x0, 3, stride=1, padding=1, count_include_pad=False)
    return diffusion, x0


def _zero_model(x_t, t):
    return torch.zeros_like(x_t)


def test_reconstruction_oracle_is_exact():
    diffusion, x0 = _setup(c=3)

    def oracle(x_t, t):
        ab = diffusion.alphas_cumprod.to(x_t)[t].view(-1, 1, 1, 1)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    rows = reconstruction_error(
        diffusion, oracle, x0, [0, 1, 3, 6], generator=torch.Generator().manual_seed(0), batch_size=4
    )
    assert [r["t"] for r in rows] == [0, 1, 3, 6]
    for r in rows:  # the last (t=0) posterior mean with the true x0 is x0 itself
        assert r["mae"] < 1e-5 and r["ms_ssim"] > 1 - 1e-6 and r["n"] == 4


def test_reconstruction_zero_eps_by_hand_and_growth():
    diffusion, x0 = _setup()
    rows = reconstruction_error(
        diffusion, _zero_model, x0, [0, 1, 5, 20], generator=torch.Generator().manual_seed(7), batch_size=4
    )
    # by hand, replaying the generator: t=0 -> clamp(x_0 / sqrt(ab_0)); t=1 -> two steps
    ab = diffusion.alphas_cumprod.numpy()
    betas = diffusion.betas.numpy()
    x = x0.double().numpy()
    g = torch.Generator().manual_seed(7)
    z0 = torch.randn(x0.shape, generator=g).double().numpy()
    torch.randn(x0.shape, generator=g)  # p_sample's (unused) noise at t = 0
    rec0 = np.clip((math.sqrt(ab[0]) * x + math.sqrt(1 - ab[0]) * z0) / math.sqrt(ab[0]), -1, 1)
    mae0 = np.abs((rec0 + 1) / 2 - (x + 1) / 2).reshape(4, -1).mean(axis=1)
    assert math.isclose(rows[0]["mae"], mae0.mean(), rel_tol=1e-5)
    assert math.isclose(rows[0]["mae_sem"], mae0.std(ddof=1) / 2, rel_tol=1e-4)

    z1 = torch.randn(x0.shape, generator=g).double().numpy()
    z2 = torch.randn(x0.shape, generator=g).double().numpy()
    x1 = math.sqrt(ab[1]) * x + math.sqrt(1 - ab[1]) * z1
    pred = np.clip(x1 / math.sqrt(ab[1]), -1, 1)
    c1 = betas[1] * math.sqrt(ab[0]) / (1 - ab[1])
    c2 = (1 - ab[0]) * math.sqrt(1 - betas[1]) / (1 - ab[1])
    var1 = betas[1] * (1 - ab[0]) / (1 - ab[1])  # fixed_small
    xm = c1 * pred + c2 * x1 + math.sqrt(var1) * z2
    rec1 = np.clip(xm / math.sqrt(ab[0]), -1, 1)
    mae1 = np.abs((rec1 - x) / 2).reshape(4, -1).mean(axis=1)
    assert math.isclose(rows[1]["mae"], mae1.mean(), rel_tol=1e-5)

    maes = [r["mae"] for r in rows]
    ssims = [r["ms_ssim"] for r in rows]
    assert maes == sorted(maes) and maes[-1] > 3 * maes[0]
    assert ssims == sorted(ssims, reverse=True) and ssims[-1] < ssims[0] - 0.05


def test_reconstruction_deterministic():
    diffusion, x0 = _setup(n=5, size=8)
    kw = dict(generator=None, batch_size=2)
    a = reconstruction_error(
        diffusion, _zero_model, x0, [2, 4], **{**kw, "generator": torch.Generator().manual_seed(3)}
    )
    b = reconstruction_error(
        diffusion, _zero_model, x0, [2, 4], **{**kw, "generator": torch.Generator().manual_seed(3)}
    )
    c = reconstruction_error(
        diffusion, _zero_model, x0, [2, 4], **{**kw, "generator": torch.Generator().manual_seed(4)}
    )
    assert a == b
    assert a != c
    assert set(a[0]) == {"t", "n", "mae", "mae_sem", "ms_ssim", "ms_ssim_sem"}
    with pytest.raises(ValueError):
        reconstruction_error(diffusion, _zero_model, x0, [50], generator=None)


def test_the_snr_step_converts_its_images_a_batch_at_a_time_with_the_same_curve():
    """The snr step hands snr_curve uint8 images a batch at a time (CelebA's whole set as floats was killed for
    memory); the curve is bit for bit the one of the whole set converted at once, on every pass (re-iterable)."""
    from diffrepro.analysis.snr import snr_curve
    from diffrepro.diffusion import get_beta_schedule
    from diffrepro.diffusion.schedules import alphas_cumprod
    from diffrepro.imaging import to_model_range
    from diffrepro.steps.snr import ModelRangeBatches

    images = torch.randint(0, 256, (1000, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    ab = alphas_cumprod(get_beta_schedule("linear", 100))
    whole = snr_curve(ab, to_model_range(images))
    batches = ModelRangeBatches(images, size=64)
    for _ in range(2):
        got = snr_curve(ab, batches)
        assert got["num_images"] == 1000 and got["mean_signal_power"] == whole["mean_signal_power"]
        assert torch.equal(got["log_snr_mean"], whole["log_snr_mean"])
