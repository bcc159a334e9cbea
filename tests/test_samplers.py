"""Tests for timestep respacing and the reverse samplers (ancestral, respaced, DDIM).

Reference values are computed independently of the code under test: alpha_bar from numpy
cumulative products of the schedule's betas, and the exact output moments of each sampler for
Gaussian data, where the optimal noise predictor is known in closed form and every sampler is
a linear-Gaussian recursion.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from diffrepro.diffusion import GaussianDiffusion, get_beta_schedule
from diffrepro.diffusion.respace import RespacedDiffusion, TimestepMappedModel, space_timesteps
from diffrepro.diffusion.samplers import (
    SAMPLING_METHODS,
    chain_timesteps,
    ddim_coefficients,
    ddim_sample,
    generate,
)

MU, S = 0.3, 0.15  # data distribution N(MU, S^2) per pixel
SHAPE = (20, 1, 32, 32)  # 20480 independent pixels
N = math.prod(SHAPE)


# ----------------------------------------------------------------------------- helpers
class CountingModel:
    """Wraps a model, counting its evaluations in :attr:`calls`: pass it to a sampler in place of the model."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(x, t)


def _ab(schedule: str, T: int) -> np.ndarray:
    """alpha_bar computed with numpy, independently of GaussianDiffusion."""
    return np.cumprod(1.0 - get_beta_schedule(schedule, T).numpy())


def _diffusion(schedule: str = "linear", T: int = 50) -> GaussianDiffusion:
    return GaussianDiffusion(get_beta_schedule(schedule, T))


class GaussianEps:
    """Exact E[eps | x_t] for data N(MU, S^2): sqrt(1-a) (x - sqrt(a) MU) / (a S^2 + 1 - a).

    Uses alpha_bar of the ORIGINAL process at the index it receives, so a sampler that passed
    respaced indices would get a wrong eps. Records the timesteps it is called with.
    """

    def __init__(self, ab: np.ndarray, mu: float = MU, s: float = S) -> None:
        self.ab = torch.tensor(ab, dtype=torch.float64)
        self.mu, self.s = mu, s
        self.seen: list[list[int]] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.long
        self.seen.append(t.tolist())
        a = self.ab.to(x.device)[t].reshape(-1, *([1] * (x.ndim - 1)))
        eps = (1 - a).sqrt() * (x.double() - a.sqrt() * self.mu) / (a * self.s**2 + 1 - a)
        return eps.to(x.dtype)


def _exact_moments(
    ab: np.ndarray, steps: list[int], kind: str, eta: float = 0.0, until: int = -1
) -> tuple[float, float]:
    """Mean and variance of a sampler's output for data N(MU, S^2), starting from N(0, 1).

    ``kind`` is "ancestral" (posterior mean + beta_tilde noise on the kept steps) or "ddim".
    Each step is x_prev = A x + B + sd z with A, B, sd written out from the papers' formulas.
    ``until``: the moments of the state at kept index ``until`` instead (the input of that step).
    """
    a_kept = ab[steps]
    m, v = 0.0, 1.0
    for i in range(len(steps) - 1, until, -1):
        a = a_kept[i]
        ap = a_kept[i - 1] if i > 0 else 1.0
        e1 = math.sqrt(1 - a) / (a * S**2 + 1 - a)  # eps = e1 x + e0
        e0 = -e1 * math.sqrt(a) * MU
        h1 = (1 - math.sqrt(1 - a) * e1) / math.sqrt(a)  # x0_hat = h1 x + h0
        h0 = -math.sqrt(1 - a) * e0 / math.sqrt(a)
        beta = 1 - a / ap
        beta_tilde = (1 - ap) / (1 - a) * beta
        if kind == "ancestral":
            c1 = math.sqrt(ap) * beta / (1 - a)
            c2 = math.sqrt(1 - beta) * (1 - ap) / (1 - a)
            A, B, noise_var = c1 * h1 + c2, c1 * h0, beta_tilde
        else:
            sig2 = eta**2 * beta_tilde
            c = math.sqrt(max(1 - ap - sig2, 0.0))
            A, B, noise_var = math.sqrt(ap) * h1 + c * e1, math.sqrt(ap) * h0 + c * e0, sig2
        m = A * m + B
        v = A * A * v + (noise_var if i > 0 else 0.0)
    return m, v


def _assert_moments(x: torch.Tensor, mean: float, var: float, z: float = 5.0) -> None:
    """Sample mean/variance within ``z`` standard errors of (mean, var) (Gaussian SEs)."""
    x = x.double().flatten()
    n = x.numel()
    m_hat, v_hat = x.mean().item(), x.var().item()
    assert abs(m_hat - mean) < z * math.sqrt(var / n), (m_hat, mean)
    assert abs(v_hat - var) < z * var * math.sqrt(2.0 / (n - 1)), (v_hat, var)


class TinyNet:
    """A cheap nonlinear eps-network with time input (for pathwise comparisons).

    Per-timestep weights, channel and spatial mixing through rolls, tanh; float64 inside.
    """

    def __init__(self, channels: int = 2, out_mult: int = 1) -> None:
        g = _gen(123)
        self.channels, self.out_mult = channels, out_mult
        self.w = torch.randn(1000, 4, dtype=torch.float64, generator=g)
        self.bias = torch.randn(1000, dtype=torch.float64, generator=g)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xd = x.double()
        w = self.w[t].reshape(-1, 4, 1, 1, 1)
        h = torch.tanh(
            w[:, 0] * xd
            + w[:, 1] * xd.roll(1, dims=1)
            + w[:, 2] * xd.roll(1, dims=-1)
            + self.bias[t].reshape(-1, 1, 1, 1)
        )
        out = 2.0 * h + w[:, 3] * xd
        if self.out_mult == 2:
            out = torch.cat([out, torch.tanh(xd)], dim=1)
        return out.to(x.dtype)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- space_timesteps
def test_space_timesteps_known_values():
    assert space_timesteps(10, 4) == [0, 3, 6, 9]
    assert space_timesteps(100, 5) == [0, 25, 50, 74, 99]  # 49.5 -> 50 (half to even)
    assert space_timesteps(1000, 3) == [0, 500, 999]  # 499.5 -> 500
    assert space_timesteps(1000, 2) == [0, 999]
    assert space_timesteps(7, 7) == list(range(7))
    assert space_timesteps(1000, 1) == [999]


@pytest.mark.parametrize("T,K", [(1000, 50), (1000, 250), (1000, 999), (500, 37), (50, 10), (4000, 1000), (2, 2)])
def test_space_timesteps_properties(T, K):
    steps = space_timesteps(T, K)
    assert len(steps) == K and steps[0] == 0 and steps[-1] == T - 1
    assert all(a < b for a, b in zip(steps, steps[1:]))
    for i, s in enumerate(steps):  # within rounding distance of the exact position
        assert abs(Fraction(s) - Fraction(i * (T - 1), K - 1)) <= Fraction(1, 2)


@pytest.mark.parametrize(
    "T,K,match",
    [
        (10, 0, "got 0"),
        (10, 11, "got 11"),
        (10, -1, "got -1"),
        (0, 1, "got 0"),
        (10, 2.5, "got 2.5"),
        (10, True, "got True"),
    ],
)
def test_space_timesteps_invalid(T, K, match):
    with pytest.raises(ValueError, match=match):
        space_timesteps(T, K)


# ----------------------------------------------------------------------------- RespacedDiffusion
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("K", [1, 2, 7, 50, 250, 1000])
def test_respaced_alphas_cumprod_match_original(schedule, K):
    T = 1000
    base = _diffusion(schedule, T)
    steps = space_timesteps(T, K)
    rd = RespacedDiffusion(base, steps)
    ab = _ab(schedule, T)
    assert rd.num_timesteps == K
    # float64 round-off: relative 1e-12, or a few ulps of 1 in absolute terms where alpha_bar is
    # tiny (1 - beta' loses relative precision when beta' is close to 1, e.g. cosine's last step)
    np.testing.assert_allclose(rd.alphas_cumprod.numpy(), ab[steps], rtol=1e-12, atol=2e-16)
    np.testing.assert_allclose(rd.alphas_cumprod.numpy(), base.alphas_cumprod[steps].numpy(), rtol=1e-12, atol=2e-16)
    # betas and beta_tilde of the respaced chain from their closed forms
    ab_prev = np.concatenate([[1.0], ab[steps][:-1]])
    beta = 1 - ab[steps] / ab_prev
    np.testing.assert_allclose(rd.betas.numpy(), beta, rtol=1e-9, atol=1e-15)
    if K > 1:
        bt = (1 - ab_prev[1:]) / (1 - ab[steps][1:]) * beta[1:]
        np.testing.assert_allclose(rd.posterior_variance[1:].numpy(), bt, rtol=1e-9)
    assert rd.timestep_map.dtype == torch.long
    assert rd.timestep_map.tolist() == steps


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_respaced_all_steps_gives_original_betas(schedule):
    base = _diffusion(schedule, 1000)
    rd = RespacedDiffusion(base, range(1000))
    np.testing.assert_allclose(rd.betas.numpy(), base.betas.numpy(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(rd.posterior_variance.numpy(), base.posterior_variance.numpy(), rtol=1e-8, atol=1e-15)
    assert rd.timestep_map.tolist() == list(range(1000))


def test_respaced_sampling_with_all_steps_equals_base_pathwise():
    base = _diffusion("cosine", 50)
    rd = RespacedDiffusion(base, range(50))
    net = TinyNet()
    x1 = base.sample(net, (2, 2, 8, 8), generator=_gen(3), dtype=torch.float64)
    x2 = rd.sample(net, (2, 2, 8, 8), generator=_gen(3), dtype=torch.float64)
    assert torch.allclose(x1, x2, atol=1e-10, rtol=0)


def test_wrapped_model_receives_original_indices():
    T = 100
    base = _diffusion("linear", T)
    steps = space_timesteps(T, 8)  # [0, 14, 28, 42, 57, 71, 85, 99]
    rd = RespacedDiffusion(base, steps)
    model = GaussianEps(_ab("linear", T))
    x = torch.zeros(3, 1, 2, 2)
    t = torch.tensor([0, 3, 7])
    rd.p_mean_variance(model, x, t)
    rd.loss_simple(model, x, t)
    wrapped = rd.wrap_model(model)
    assert isinstance(wrapped, TimestepMappedModel) and rd.wrap_model(wrapped) is wrapped
    wrapped(x, t)
    assert model.seen == [[0, 42, 99]] * 3
    # whole sampler: network sees the kept original steps, descending
    model.seen.clear()
    rd.sample(model, (1, 1, 2, 2), generator=_gen(0))
    assert [s[0] for s in model.seen] == steps[::-1]
    # respacing a respaced diffusion composes the maps
    rd2 = RespacedDiffusion(rd, [1, 4, 7])
    assert rd2.timestep_map.tolist() == [14, 57, 99]
    np.testing.assert_allclose(rd2.alphas_cumprod.numpy(), _ab("linear", T)[[14, 57, 99]], rtol=1e-12)
    model.seen.clear()
    rd2.p_mean_variance(model, x, torch.tensor([0, 1, 2]))
    assert model.seen == [[14, 57, 99]]


def test_chain_timesteps_of_each_method():
    assert chain_timesteps(50, "ancestral", None, [3]) == list(range(50))
    assert chain_timesteps(50, "respaced", 5) == space_timesteps(50, 5) == [0, 12, 24, 37, 49]
    assert chain_timesteps(50, "respaced", 5, [17, 3, 24]) == [0, 3, 12, 17, 24, 37, 49]
    assert chain_timesteps(50, "respaced", 50, [3]) == list(range(50))
    assert chain_timesteps(50, "ddim", 5) == [0, 12, 24, 37, 49]
    with pytest.raises(ValueError, match="visit is only available"):
        chain_timesteps(50, "ddim", 5, [3])
    with pytest.raises(ValueError, match=r"timesteps \[50\] lie outside 0..49"):
        chain_timesteps(50, "respaced", 5, [50])
    with pytest.raises(ValueError, match="unknown sampling method 'euler'"):
        chain_timesteps(50, "euler", 5)


def test_respaced_chain_passes_through_visited_steps_with_their_marginals():
    """A respaced chain told to visit steps 3 and 17 calls the network on its 5 evenly spaced steps and those two,
    shows its states at original timesteps, and its state at 17 and 3 has the moments of that respaced process
    (closed form for data N(MU, S^2) with the exact eps)."""
    T, visit = 50, [17, 3]
    ab = _ab("linear", T)
    chain = chain_timesteps(T, "respaced", 5, visit)
    counter = CountingModel(GaussianEps(ab))
    states: dict[int, torch.Tensor] = {}
    order: list[int] = []

    def on_state(t: int, x: torch.Tensor) -> None:
        order.append(t)
        states[t] = x.clone()

    kw = dict(variance="fixed_small", eta=0.0, device="cpu", dtype=torch.float64)
    x = generate(
        _diffusion("linear", T), counter, SHAPE, method="respaced", steps=5, generator=_gen(4), on_state=on_state,
        visit=visit, **kw,
    )  # fmt: skip
    assert counter.calls == len(chain) == 7
    assert [s[0] for s in counter.model.seen] == order == chain[::-1]
    for t in visit:
        _assert_moments(states[t], *_exact_moments(ab, chain, "ancestral", until=chain.index(t)))
    _assert_moments(x, *_exact_moments(ab, chain, "ancestral"))
    # without visit the chain is the plain respaced one
    plain = generate(
        _diffusion("linear", T), GaussianEps(ab), SHAPE, method="respaced", steps=5, generator=_gen(4), **kw
    )
    ref = RespacedDiffusion(_diffusion("linear", T), space_timesteps(T, 5)).sample(
        GaussianEps(ab), SHAPE, variance="fixed_small", generator=_gen(4), device="cpu", dtype=torch.float64
    )
    torch.testing.assert_close(plain, ref, rtol=0, atol=0)
    with pytest.raises(ValueError, match="not 'ddim'"):
        generate(_diffusion("linear", T), GaussianEps(ab), SHAPE, method="ddim", steps=5, generator=_gen(4),
                 visit=visit, **kw)  # fmt: skip


def test_learned_range_interpolates_respaced_variances():
    base = _diffusion("linear", 100)
    rd = RespacedDiffusion(base, space_timesteps(100, 10))
    x = torch.randn(10, 1, 2, 2, generator=_gen(0), dtype=torch.float64)
    t = torch.arange(10)

    def model_with(v):
        return lambda x_, t_: torch.cat([torch.zeros_like(x_), torch.full_like(x_, v)], dim=1)

    ab = _ab("linear", 100)[list(rd.use_timesteps)]
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    beta = 1 - ab / ab_prev
    beta_tilde = (1 - ab_prev) / (1 - ab) * beta
    hi = rd.p_mean_variance(model_with(1.0), x, t, variance="learned_range")["variance"][:, 0, 0, 0]
    lo = rd.p_mean_variance(model_with(-1.0), x, t, variance="learned_range")["variance"][:, 0, 0, 0]
    mid = rd.p_mean_variance(model_with(0.0), x, t, variance="learned_range")["variance"][:, 0, 0, 0]
    np.testing.assert_allclose(hi.numpy(), beta, rtol=1e-9)
    np.testing.assert_allclose(lo[1:].numpy(), beta_tilde[1:], rtol=1e-9)
    np.testing.assert_allclose(mid[1:].numpy(), np.sqrt(beta[1:] * beta_tilde[1:]), rtol=1e-9)
    # the respaced betas are much larger than the original ones at the same indices
    assert (hi[1:] > 3 * base.betas[list(rd.use_timesteps)][1:]).all()


@pytest.mark.parametrize(
    "steps,match", [([0, 0, 5], "duplicates"), ([0, 100], "outside"), ([], "empty"), ([1.5], "integers")]
)
def test_respaced_invalid(steps, match):
    with pytest.raises(ValueError, match=match):
        RespacedDiffusion(_diffusion("linear", 100), steps)


# ----------------------------------------------------------------------------- DDIM algebra
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddim_eta1_variance_is_beta_tilde(schedule):
    base = _diffusion(schedule, 1000)
    c = ddim_coefficients(base.alphas_cumprod, 1.0)
    np.testing.assert_allclose(c["sigma"].pow(2).numpy(), base.posterior_variance.numpy(), rtol=1e-10, atol=1e-18)
    c_half = ddim_coefficients(base.alphas_cumprod, 0.5)
    np.testing.assert_allclose(
        c_half["sigma"].pow(2).numpy(), 0.25 * base.posterior_variance.numpy(), rtol=1e-10, atol=1e-18
    )
    assert (ddim_coefficients(base.alphas_cumprod, 0.0)["sigma"] == 0).all()
    # on a respaced set: sigma^2 equals the respaced beta_tilde
    rd = RespacedDiffusion(base, space_timesteps(1000, 20))
    c = ddim_coefficients(rd.alphas_cumprod, 1.0)
    np.testing.assert_allclose(c["sigma"].pow(2).numpy(), rd.posterior_variance.numpy(), rtol=1e-10, atol=1e-18)
    # with eta = 1 the deterministic part is the DDPM posterior mean: coefficients of x0 and x_t
    # x_prev = coef_x0 x0 + coef_eps (x_t - sqrt(a) x0) / sqrt(1 - a) + sigma z
    a = base.alphas_cumprod
    c = ddim_coefficients(a, 1.0)
    coef_xt = c["coef_eps"] / (1 - a).sqrt()
    coef_x0 = c["coef_x0"] - coef_xt * a.sqrt()
    np.testing.assert_allclose(coef_xt.numpy(), base.posterior_mean_coef2.numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(coef_x0.numpy(), base.posterior_mean_coef1.numpy(), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_ddim_eta1_equals_ancestral_pathwise(variance):
    """Same seed, nonlinear net, clipping on: DDIM(eta=1, all steps) == ancestral fixed_small."""
    d = _diffusion("linear", 50)
    shape = (3, 2, 8, 8)
    if variance == "fixed_small":
        net = TinyNet()
        anc = d.sample(net, shape, variance="fixed_small", generator=_gen(5), dtype=torch.float64)
    else:  # 2C outputs; DDIM ignores the v channels. Ancestral with v' = -1 is fixed_small.
        net = TinyNet(out_mult=2)

        def net_small(x, t):
            out = net(x, t)
            return torch.cat([out[:, :2], -torch.ones_like(out[:, 2:])], dim=1)

        anc = d.sample(net_small, shape, variance="learned_range", generator=_gen(5), dtype=torch.float64)
    kw = dict(method="ddim", variance=variance, steps=None, eta=1.0, device="cpu", dtype=torch.float64)
    ddim = generate(d, net, shape, generator=_gen(5), **kw)
    assert torch.allclose(anc, ddim, atol=1e-9, rtol=0)
    other = generate(d, net, shape, generator=_gen(6), **kw)
    assert not torch.allclose(anc, other, atol=1e-3)


# ----------------------------------------------------------------------------- distributions
def test_ddim_eta1_matches_ancestral_in_distribution():
    T = 50
    ab = _ab("linear", T)
    d = _diffusion("linear", T)
    m_anc, v_anc = _exact_moments(ab, list(range(T)), "ancestral")
    m_ddim, v_ddim = _exact_moments(ab, list(range(T)), "ddim", eta=1.0)
    assert m_anc == pytest.approx(m_ddim, rel=1e-12) and v_anc == pytest.approx(v_ddim, rel=1e-12)
    kw = dict(variance="fixed_small", steps=None, device="cpu", clip_denoised=False, dtype=torch.float64)
    x_anc = generate(d, GaussianEps(ab), SHAPE, method="ancestral", eta=0.0, generator=_gen(10), **kw)
    x_ddim = generate(d, GaussianEps(ab), SHAPE, method="ddim", eta=1.0, generator=_gen(11), **kw)
    _assert_moments(x_anc, m_anc, v_anc)
    _assert_moments(x_ddim, m_ddim, v_ddim)
    # two-sample comparison of the samplers' outputs
    se_mean = math.sqrt(x_anc.var().item() / N + x_ddim.var().item() / N)
    assert abs(x_anc.mean().item() - x_ddim.mean().item()) < 5 * se_mean
    se_var = v_anc * math.sqrt(2.0 / (N - 1)) * math.sqrt(2.0)
    assert abs(x_anc.var().item() - x_ddim.var().item()) < 5 * se_var
    # the mean is the data mean; the variance is below S^2 at T = 50 (fixed-variance reverse
    # kernels are exact only as T -> infinity; see the T=1000 test)
    assert abs(x_anc.mean().item() - MU) < 5 * math.sqrt(v_anc / N)
    assert v_anc < S**2


@pytest.mark.parametrize(
    "schedule,method,steps,eta",
    [
        ("linear", "respaced", 10, 0.0),
        ("cosine", "respaced", 7, 0.0),
        ("linear", "ddim", 10, 0.0),
        ("cosine", "ddim", 10, 0.5),
        ("linear", "ddim", None, 0.0),
    ],
)
def test_sampler_moments_match_closed_form(schedule, method, steps, eta):
    T = 50
    ab = _ab(schedule, T)
    kept = space_timesteps(T, steps or T)
    kind = "ancestral" if method == "respaced" else "ddim"
    m, v = _exact_moments(ab, kept, kind, eta)
    x = generate(
        _diffusion(schedule, T),
        GaussianEps(ab),
        SHAPE,
        method=method,
        variance="fixed_small",
        steps=steps,
        eta=eta,
        generator=_gen(21),
        device="cpu",
        clip_denoised=False,
        dtype=torch.float64,
    )
    _assert_moments(x, m, v)


def test_samplers_reach_data_moments_for_large_T():
    """With T=1000 both ancestral and DDIM(eta=0) samples have the data's moments."""
    T = 1000
    ab = _ab("linear", T)
    d = _diffusion("linear", T)
    for method, eta in (("ancestral", 0.0), ("ddim", 0.0)):
        x = generate(
            d,
            GaussianEps(ab),
            SHAPE,
            method=method,
            variance="fixed_small",
            steps=None,
            eta=eta,
            generator=_gen(31),
            device="cpu",
            clip_denoised=False,
            dtype=torch.float64,
        )
        _, v_exact = _exact_moments(ab, list(range(T)), "ancestral" if method == "ancestral" else "ddim", eta)
        bias = abs(v_exact - S**2)
        assert bias < 0.06 * S**2  # discretisation error of the reverse chain at T=1000
        xs = x.double().flatten()
        assert abs(xs.mean().item() - MU) < 5 * math.sqrt(S**2 / N) + 1e-3
        assert abs(xs.var().item() - S**2) < 5 * S**2 * math.sqrt(2.0 / (N - 1)) + bias


# ----------------------------------------------------------------------------- DDIM determinism
def test_ddim_eta0_deterministic_given_x_T():
    T = 50
    ab = _ab("cosine", T)
    d = _diffusion("cosine", T)
    kw = dict(method="ddim", variance="fixed_small", steps=10, eta=0.0, device="cpu", dtype=torch.float64)
    a = generate(d, GaussianEps(ab), (2, 1, 4, 4), generator=_gen(7), **kw)
    b = generate(d, GaussianEps(ab), (2, 1, 4, 4), generator=_gen(7), **kw)
    assert torch.equal(a, b)
    x_T = torch.randn(2, 1, 4, 4, generator=_gen(8), dtype=torch.float64)
    net = TinyNet(channels=1)
    common = dict(steps=10, variance="fixed_small", device="cpu", dtype=torch.float64, x_T=x_T)
    y1 = ddim_sample(d, net, x_T.shape, eta=0.0, generator=_gen(1), **common)
    y2 = ddim_sample(d, net, x_T.shape, eta=0.0, generator=_gen(2), **common)
    assert torch.equal(y1, y2)
    z1 = ddim_sample(d, net, x_T.shape, eta=0.5, generator=_gen(1), **common)
    z2 = ddim_sample(d, net, x_T.shape, eta=0.5, generator=_gen(2), **common)
    assert not torch.allclose(z1, z2, atol=1e-3)
    # eta = 0 on Gaussian data is an affine map of x_T: check it pathwise
    kept = space_timesteps(T, 10)
    m_out, v_out = _exact_moments(ab, kept, "ddim", 0.0)  # from m=0, v=1: B_total and A_total^2
    y = ddim_sample(d, GaussianEps(ab), x_T.shape, eta=0.0, generator=None, clip_denoised=False, **common)
    assert torch.allclose(y, math.sqrt(v_out) * x_T + m_out, atol=1e-10, rtol=0)


# ----------------------------------------------------------------------------- bookkeeping
@pytest.mark.parametrize(
    "method,steps,expected",
    [
        ("ancestral", None, 50),
        ("ancestral", 50, 50),
        ("respaced", 7, 7),
        ("ddim", 12, 12),
        ("ddim", None, 50),
        ("respaced", 1, 1),
        ("ddim", 1, 1),
    ],
)
def test_network_calls_progress_and_output(method, steps, expected):
    d = _diffusion("linear", 50)
    counter = CountingModel(GaussianEps(_ab("linear", 50)))
    ticks: list[int] = []
    x = generate(
        d,
        counter,
        (2, 1, 4, 4),
        method=method,
        variance="fixed_small",
        steps=steps,
        eta=0.3,
        generator=_gen(0),
        device="cpu",
        progress=ticks.append,
    )
    assert counter.calls == expected
    assert ticks == list(range(expected))
    assert x.shape == (2, 1, 4, 4) and x.dtype == torch.float32
    assert float(x.abs().max()) <= 1.0 and torch.isfinite(x).all()
    # the network saw the kept original steps, descending
    assert [s[0] for s in counter.model.seen] == space_timesteps(50, expected)[::-1]


def test_generate_reproducible_per_seed():
    d = _diffusion("linear", 50)
    net = TinyNet()
    for method, steps in (("ancestral", None), ("respaced", 10), ("ddim", 10)):
        kw = dict(method=method, variance="fixed_small", steps=steps, eta=1.0, device="cpu")
        a = generate(d, net, (2, 2, 8, 8), generator=_gen(4), **kw)
        b = generate(d, net, (2, 2, 8, 8), generator=_gen(4), **kw)
        c = generate(d, net, (2, 2, 8, 8), generator=_gen(9), **kw)
        assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="plms"), r"'plms'.*ancestral, respaced, ddim"),
        (dict(method="ddim", steps=0), "got 0"),
        (dict(method="ddim", steps=51), "got 51"),
        (dict(method="respaced", steps=2.5), "got 2.5"),
        (dict(method="respaced", steps=True), "got True"),
        (dict(method="ancestral", steps=10), "steps=10"),
        (dict(method="ddim", eta=1.5), "got 1.5"),
        (dict(method="ddim", eta=-0.1), "got -0.1"),
        (dict(method="ddim", variance="huge"), "'huge'"),
    ],
)
def test_generate_errors(kwargs, match):
    base = dict(method="ddim", variance="fixed_small", steps=10, eta=0.0, generator=_gen(0), device="cpu")
    base.update(kwargs)
    counter = CountingModel(TinyNet())
    with pytest.raises(ValueError, match=match):
        generate(_diffusion("linear", 50), counter, (1, 2, 4, 4), **base)
    assert counter.calls == 0
    assert set(SAMPLING_METHODS) == {"ancestral", "respaced", "ddim"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_cpu_generator_cuda_device(method):
    """Noise from a CPU generator moved to CUDA: same result as an all-CPU run up to round-off."""
    d = _diffusion("linear", 50)
    ab = _ab("linear", 50)
    kw = dict(
        method=method,
        variance="fixed_small",
        steps=None if method == "ancestral" else 10,
        eta=0.5,
        clip_denoised=False,
        dtype=torch.float64,
    )
    cpu = generate(d, GaussianEps(ab), (2, 1, 4, 4), generator=_gen(3), device="cpu", **kw)
    gpu = generate(d, GaussianEps(ab), (2, 1, 4, 4), generator=_gen(3), device="cuda", **kw)
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-9)
