"""Tests for beta schedules and GaussianDiffusion against closed forms / independent numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffrepro.diffusion import SCHEDULES, GaussianDiffusion, alphas_cumprod, get_beta_schedule


# ----------------------------------------------------------------------------- schedules
def test_linear_endpoints_T1000():
    b = get_beta_schedule("linear", 1000)
    assert b.dtype == torch.float64 and b.shape == (1000,)
    assert b[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert b[-1].item() == pytest.approx(0.02, rel=1e-12)
    assert np.allclose(np.diff(b.numpy()), (0.02 - 1e-4) / 999)


def test_linear_endpoints_T500():
    b = get_beta_schedule("linear", 500)
    assert b.shape == (500,)
    assert b[0].item() == pytest.approx(2e-4, rel=1e-12)
    assert b[-1].item() == pytest.approx(0.04, rel=1e-12)


def test_linear_alpha_bar_final():
    b = get_beta_schedule("linear", 1000)
    ref = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))
    ab = alphas_cumprod(b).numpy()
    assert np.allclose(ab, ref, rtol=1e-12)
    assert ab[-1] == pytest.approx(4.04e-5, rel=0.01)


@pytest.mark.parametrize("T", [1000, 500, 50])
def test_cosine(T):
    b = get_beta_schedule("cosine", T)
    assert b.dtype == torch.float64 and b.shape == (T,)
    assert (b > 0).all() and (b <= 0.999).all()
    ab = alphas_cumprod(b).numpy()
    assert (np.diff(ab) < 0).all()
    s = 0.008
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert ab[0] == pytest.approx(f(1 / T) / f(0), rel=1e-10)
    # away from the clipped end the cumulative product equals the closed form
    assert ab[T // 2] == pytest.approx(f((T // 2 + 1) / T) / f(0), rel=1e-9)


def test_linear_too_few_steps():
    with pytest.raises(ValueError, match="num_steps"):
        get_beta_schedule("linear", 20)
    with pytest.raises(ValueError):
        GaussianDiffusion(torch.tensor([0.1, 1.0]))


def test_unknown_schedule():
    with pytest.raises(ValueError) as exc:
        get_beta_schedule("quadratic", 10)
    for name in SCHEDULES:
        assert name in str(exc.value)


# ----------------------------------------------------------------------------- helpers
def _diffusion(T=100):
    return GaussianDiffusion(get_beta_schedule("linear", T))


def _np_schedule(T=100):
    betas = np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T)
    return betas, np.cumprod(1 - betas)


# ----------------------------------------------------------------------------- forward process
def test_q_sample_moments():
    d = _diffusion(100)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.7, -0.3, 0.0, 1.0]).reshape(1, 4, 1, 1)
    n = 100_000
    for t_val in (0, 30, 99):
        t = torch.full((n,), t_val, dtype=torch.long)
        noise = torch.randn(n, 4, 1, 1, generator=g, dtype=torch.float64)
        xt = d.q_sample(x0.double().expand(n, 4, 1, 1), t, noise)
        ab = d.alphas_cumprod[t_val].item()
        mean, var = xt.mean(0).flatten(), xt.var(0).flatten()
        tol = 5 * math.sqrt((1 - ab) / n)
        assert torch.allclose(mean, math.sqrt(ab) * x0.double().flatten(), atol=tol)
        assert torch.allclose(var, torch.full_like(var, 1 - ab), rtol=0.02)
        m, v, lv = d.q_mean_variance(x0.double(), torch.tensor([t_val]))
        assert torch.allclose(m.flatten(), math.sqrt(ab) * x0.double().flatten())
        assert v.item() == pytest.approx(1 - ab) and lv.item() == pytest.approx(math.log(1 - ab))


@pytest.mark.parametrize("t_val", [1, 2, 50, 99])
def test_posterior_completing_the_square(t_val):
    T = 100
    d = _diffusion(T)
    betas, ab = _np_schedule(T)
    x0 = np.array([0.5, -0.8, 0.1])
    xt = np.array([1.3, -0.2, 0.0])
    # q(x_t | x_{t-1}) = N(sqrt(a_t) x_{t-1}, beta_t); q(x_{t-1} | x0) = N(sqrt(ab_{t-1}) x0, 1 - ab_{t-1})
    a_t = 1 - betas[t_val]
    prec = a_t / betas[t_val] + 1 / (1 - ab[t_val - 1])
    lin = math.sqrt(a_t) * xt / betas[t_val] + math.sqrt(ab[t_val - 1]) * x0 / (1 - ab[t_val - 1])
    ref_mean, ref_var = lin / prec, 1 / prec

    mean, var, log_var = d.q_posterior_mean_variance(
        torch.tensor(x0).reshape(1, 3, 1, 1), torch.tensor(xt).reshape(1, 3, 1, 1), torch.tensor([t_val])
    )
    assert np.allclose(mean.flatten().numpy(), ref_mean, rtol=1e-9, atol=1e-12)
    assert var.item() == pytest.approx(ref_var, rel=1e-9)
    assert log_var.item() == pytest.approx(math.log(ref_var), rel=1e-9)

    # numerical check of the first coordinate: integrate the unnormalised product density
    sd = math.sqrt(ref_var)
    grid = np.linspace(ref_mean[0] - 12 * sd, ref_mean[0] + 12 * sd, 200_001)
    logp = -0.5 * (xt[0] - math.sqrt(a_t) * grid) ** 2 / betas[t_val] - 0.5 * (
        grid - math.sqrt(ab[t_val - 1]) * x0[0]
    ) ** 2 / (1 - ab[t_val - 1])
    w = np.exp(logp - logp.max())
    w /= w.sum()
    num_mean = (w * grid).sum()
    num_var = (w * (grid - num_mean) ** 2).sum()
    assert mean.flatten()[0].item() == pytest.approx(num_mean, abs=1e-6 * max(1.0, sd))
    assert var.item() == pytest.approx(num_var, rel=1e-4)


def test_posterior_t0_and_clipped_log_variance():
    d = _diffusion(100)
    assert d.posterior_variance[0].item() == 0.0
    assert d.posterior_log_variance_clipped[0] == d.posterior_log_variance_clipped[1]
    assert torch.allclose(d.posterior_log_variance_clipped[1:], d.posterior_variance[1:].log())
    # at t=0 the posterior mean is x0 itself
    x0, xt = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    mean, _, _ = d.q_posterior_mean_variance(x0, xt, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(mean, x0, atol=1e-6)


def test_predict_x0_inverts_q_sample():
    d = _diffusion(100)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(6, 2, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 10, 50, 98, 99])
    xt = d.q_sample(x0, t, eps)
    assert torch.allclose(d.predict_x0_from_eps(xt, t, eps), x0, atol=1e-10)


def _oracle(d, x0):
    """Model returning the exact noise that maps x0 to x_t."""

    def model(xt, t):
        ab = d.alphas_cumprod.to(xt.dtype)[t.long()].reshape(-1, *([1] * (xt.ndim - 1)))
        return (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    return model


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_p_mean_variance_oracle(variance):
    d = _diffusion(100)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(4, 3, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 42, 99])
    xt = d.q_sample(x0, t, eps)
    out = d.p_mean_variance(_oracle(d, x0), xt, t, variance=variance)
    ref_mean, ref_var, ref_logvar = d.q_posterior_mean_variance(x0, xt, t)
    assert torch.allclose(out["pred_x0"], x0, atol=1e-9)
    assert torch.allclose(out["mean"], ref_mean, atol=1e-9)
    if variance == "fixed_small":
        assert torch.allclose(out["variance"], ref_var)
        assert torch.allclose(out["log_variance"], ref_logvar)
    else:
        v = out["variance"].flatten()
        assert v[0].item() == pytest.approx(d.posterior_variance[1].item())
        assert torch.allclose(v[1:], d.betas[t[1:]])
        assert torch.allclose(out["log_variance"].flatten(), v.log())


def test_p_mean_variance_learned_range():
    d = _diffusion(50)
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    t = torch.tensor([0, 10, 49])
    for v_val, ref in ((-1.0, d.posterior_log_variance_clipped), (1.0, d.betas.log())):
        model = lambda xt, tt, v_val=v_val: torch.cat([torch.zeros_like(xt), torch.full_like(xt, v_val)], 1)  # noqa: E731
        out = d.p_mean_variance(model, x, t, variance="learned_range")
        assert torch.allclose(out["log_variance"][:, 0, 0, 0], ref[t])


def test_invalid_variance():
    d = _diffusion(30)
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="fixed_small"):
        d.p_mean_variance(lambda a, b: a, x, torch.tensor([3]), variance="learned")
    with pytest.raises(ValueError, match="fixed_large"):
        d.sample(lambda a, b: a, (1, 1, 2, 2), variance="bogus", generator=torch.Generator())


def test_loss_simple():
    d = _diffusion(100)
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(5, 3, 4, 4, generator=g) * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    t = torch.tensor([0, 5, 50, 90, 99])
    loss = d.loss_simple(_oracle(d, x0), x0, t, noise)
    assert loss.shape == (5,) and torch.allclose(loss, torch.zeros(5), atol=1e-8)
    loss0 = d.loss_simple(lambda xt, tt: torch.zeros_like(xt), x0, t, noise)
    assert torch.allclose(loss0, noise.pow(2).mean(dim=(1, 2, 3)))


# ----------------------------------------------------------------------------- sampling
def test_sample_deterministic_and_shape():
    d = _diffusion(25)
    model = lambda x, t: 0.1 * x  # noqa: E731
    calls = []
    a = d.sample(model, (3, 2, 4, 4), generator=torch.Generator().manual_seed(7), device="cpu", progress=calls.append)
    b = d.sample(model, (3, 2, 4, 4), generator=torch.Generator().manual_seed(7), device="cpu")
    c = d.sample(model, (3, 2, 4, 4), generator=torch.Generator().manual_seed(8), device="cpu")
    assert a.shape == (3, 2, 4, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert calls == list(range(25))
    assert a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_sample_oracle_point_mass(variance):
    d = GaussianDiffusion(get_beta_schedule("cosine", 30))
    point = torch.tensor([0.5, -0.25, 0.9]).reshape(1, 3, 1, 1).expand(2, 3, 2, 2)
    out = d.sample(
        _oracle(d, point), (2, 3, 2, 2), variance=variance, generator=torch.Generator().manual_seed(0), device="cpu"
    )
    assert torch.allclose(out, point, atol=1e-5)


def test_p_sample_no_noise_at_t0():
    d = _diffusion(30)
    x = torch.randn(2, 1, 3, 3)
    model = lambda xt, t: torch.zeros_like(xt)  # noqa: E731
    t0 = torch.zeros(2, dtype=torch.long)
    a = d.p_sample(model, x, t0, generator=torch.Generator().manual_seed(0))
    b = d.p_sample(model, x, t0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert torch.allclose(a, d.p_mean_variance(model, x, t0)["mean"])
