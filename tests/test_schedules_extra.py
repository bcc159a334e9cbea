"""Tests for schedule options (linear_range, linear_combine, cosine clipping) and SNR helpers.

Every check compares against an independent numpy / closed-form computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffrepro.diffusion import (
    SCHEDULES,
    alphas_cumprod,
    get_beta_schedule,
    log_snr,
    log_snr_zero_crossing,
    snr,
    split_step,
)


def _np_linear(T):
    return np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T)


def _np_cosine(T, s=0.008, max_beta=0.999):
    t = np.arange(T, dtype=np.float64)
    f = lambda u: np.cos((u + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    return np.minimum(1.0 - f((t + 1) / T) / f(t / T), max_beta)


def _np_log_snr(betas):
    ab = np.cumprod(1.0 - betas)
    return np.log(ab / (1.0 - ab))


# ----------------------------------------------------------------------------- registry
def test_new_schedules_registered_and_old_calls_work():
    assert {"linear", "cosine", "linear_range", "linear_combine"} <= set(SCHEDULES)
    assert np.allclose(get_beta_schedule("linear", 1000).numpy(), _np_linear(1000), rtol=1e-12)
    assert np.allclose(get_beta_schedule("cosine", 1000).numpy(), _np_cosine(1000), rtol=1e-12)


# ----------------------------------------------------------------------------- linear_range
def test_linear_range_coursework_short_diffusion():
    b = get_beta_schedule("linear_range", 100, beta_start=4e-4, beta_end=0.18)
    assert b.dtype == torch.float64 and b.shape == (100,)
    assert b[0].item() == 4e-4 and b[-1].item() == 0.18  # exact endpoints, no 1000/T scaling
    d = np.diff(b.numpy())
    assert np.allclose(d, (0.18 - 4e-4) / 99, rtol=1e-9, atol=0)
    assert np.allclose(b.numpy(), np.linspace(4e-4, 0.18, 100), rtol=1e-12)


def test_linear_range_constant_and_validation():
    b = get_beta_schedule("linear_range", 7, beta_start=0.05, beta_end=0.05)
    assert torch.equal(b, torch.full((7,), 0.05, dtype=torch.float64))
    for start, end in ((0.0, 0.1), (-0.1, 0.1), (0.2, 0.1), (0.1, 1.0), (0.1, 1.5), (float("nan"), 0.1)):
        with pytest.raises(ValueError, match="beta_start|beta_end"):
            get_beta_schedule("linear_range", 10, beta_start=start, beta_end=end)
    with pytest.raises(ValueError, match="beta_end"):
        get_beta_schedule("linear_range", 10, beta_start=0.1)  # required option missing


# ----------------------------------------------------------------------------- linear_combine
@pytest.mark.parametrize("T,beta_1", [(1000, 0.1), (500, 0.001), (900, 0.3)])
def test_linear_combine_equals_linear_except_first(T, beta_1):
    b = get_beta_schedule("linear_combine", T, beta_1=beta_1)
    ref = get_beta_schedule("linear", T)
    assert b.dtype == torch.float64 and b.shape == (T,)
    assert b[0].item() == beta_1
    assert torch.equal(b[1:], ref[1:])
    assert np.allclose(b[1:].numpy(), _np_linear(T)[1:], rtol=1e-12)


def test_linear_combine_validation():
    for bad in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="beta_1"):
            get_beta_schedule("linear_combine", 100, beta_1=bad)
    with pytest.raises(ValueError, match="beta_1"):
        get_beta_schedule("linear_combine", 100)
    with pytest.raises(ValueError, match="num_steps"):
        get_beta_schedule("linear_combine", 20, beta_1=0.1)


# ----------------------------------------------------------------------------- cosine clipping
@pytest.mark.parametrize("T", [1000, 500, 100, 10])
def test_cosine_clipping_closed_form(T):
    s = 0.008
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    unclipped_last = 1.0 - f(1.0) / f((T - 1) / T)
    assert unclipped_last > 0.999  # the clipping is active for these T
    b = get_beta_schedule("cosine", T)
    assert b[-1].item() == 0.999
    ref = _np_cosine(T)
    assert np.allclose(b.numpy(), ref, rtol=1e-12, atol=0)
    # exactly the entries whose closed form exceeds 0.999 are clipped
    raw = np.array([1.0 - f((i + 1) / T) / f(i / T) for i in range(T)])
    assert np.array_equal(b.numpy() == 0.999, raw > 0.999)


def test_cosine_options():
    b = get_beta_schedule("cosine", 50, max_beta=0.5)
    assert np.allclose(b.numpy(), _np_cosine(50, max_beta=0.5), rtol=1e-12)
    assert (b.numpy() == 0.5).sum() == (_np_cosine(50, max_beta=1.0) > 0.5).sum() > 1
    b = get_beta_schedule("cosine", 50, s=0.02)
    assert np.allclose(b.numpy(), _np_cosine(50, s=0.02), rtol=1e-12)
    with pytest.raises(ValueError, match="max_beta"):
        get_beta_schedule("cosine", 50, max_beta=1.0)


# ----------------------------------------------------------------------------- unknown options
@pytest.mark.parametrize(
    "name,options,bad",
    [
        ("linear", {"beta_start": 1e-4}, "beta_start"),
        ("cosine", {"beta_1": 0.1}, "beta_1"),
        ("linear_range", {"beta_start": 1e-4, "beta_end": 0.02, "scale": 2}, "scale"),
        ("linear_combine", {"beta_1": 0.1, "beta_2": 0.2}, "beta_2"),
    ],
)
def test_unknown_option_names_option_and_schedule(name, options, bad):
    with pytest.raises(ValueError) as exc:
        get_beta_schedule(name, 100, **options)
    msg = str(exc.value)
    assert repr(name) in msg and repr(bad) in msg and "unknown option" in msg


# ----------------------------------------------------------------------------- SNR
def test_snr_and_log_snr_match_numpy():
    for betas in (get_beta_schedule("linear", 1000), get_beta_schedule("cosine", 1000)):
        ab = alphas_cumprod(betas)
        abn = np.cumprod(1.0 - betas.numpy())
        assert np.allclose(snr(ab).numpy(), abn / (1 - abn), rtol=1e-9)
        assert np.allclose(log_snr(ab).numpy(), _np_log_snr(betas.numpy()), rtol=1e-9, atol=1e-9)
        assert torch.allclose(log_snr(ab), snr(ab).log(), rtol=1e-9, atol=1e-9)
        assert (torch.diff(log_snr(ab)) < 0).all()  # monotone decreasing


@pytest.mark.parametrize("T", [1000, 500])
@pytest.mark.parametrize("name,frac", [("linear", 0.26), ("cosine", 0.50)])
def test_log_snr_zero_crossing(T, name, frac):
    betas = get_beta_schedule(name, T)
    t0 = log_snr_zero_crossing(alphas_cumprod(betas))
    ls = _np_log_snr(betas.numpy())
    ref = int(np.flatnonzero(ls <= 0)[0])
    assert t0 == ref
    assert ls[t0] <= 0 and (t0 == 0 or ls[t0 - 1] > 0)
    assert abs(t0 / T - frac) < 0.01  # notes: about 26% (linear) and 50% (cosine)


def test_log_snr_zero_crossing_never():
    with pytest.raises(ValueError, match="never"):
        log_snr_zero_crossing(torch.tensor([0.9, 0.8, 0.6], dtype=torch.float64))
    assert log_snr_zero_crossing(torch.tensor([0.9, 0.5, 0.4], dtype=torch.float64)) == 1


# ----------------------------------------------------------------------------- split step
BETA_1S = (0.001, 0.025, 0.1, 0.2, 0.3)


@pytest.mark.parametrize("T,expected", [(1000, (5, 45, 97, 144, 184)), (500, (2, 22, 48, 72, 91))])
def test_split_step_reference_values(T, expected):
    ab = alphas_cumprod(get_beta_schedule("linear", T))
    abn = np.cumprod(1.0 - _np_linear(T))
    for beta_1, s in zip(BETA_1S, expected):
        assert split_step(ab, beta_1) == s
        assert int(np.argmin(np.abs(abn - (1.0 - beta_1)))) == s


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_split_step_matches_numpy_argmin(name):
    rng = np.random.default_rng(0)
    betas = get_beta_schedule(name, 1000)
    ab = alphas_cumprod(betas)
    abn = np.cumprod(1.0 - betas.numpy())
    for beta_1 in rng.uniform(1e-4, 0.99, size=50):
        assert split_step(ab, float(beta_1)) == int(np.argmin(np.abs(abn - (1.0 - beta_1))))
    with pytest.raises(ValueError, match="beta_1"):
        split_step(ab, 0.0)
