"""Tests for diffrepro.diffusion.losses against closed forms and independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from diffrepro.diffusion import GaussianDiffusion, get_beta_schedule
from diffrepro.diffusion.losses import (
    OBJECTIVES,
    approx_standard_normal_cdf,
    calc_bpd_loop,
    discretized_gaussian_log_likelihood,
    normal_kl,
    prior_bpd,
    training_loss,
    vlb_terms,
)

T = 50
LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def diff() -> GaussianDiffusion:
    return GaussianDiffusion(get_beta_schedule("linear", T))


def quantized(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).to(dtype) / 127.5 - 1.0


class TinyModel(nn.Module):
    """1x1 conv with a time-dependent gain; ``out_mult=2`` gives a learned-range output."""

    def __init__(self, channels: int = 2, out_mult: int = 1, seed: int = 0, scale: float = 1.0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(channels, out_mult * channels, 1)
        with torch.no_grad():
            self.conv.weight.mul_(scale)

    def forward(self, x, t):
        return self.conv(x) * (1.0 + t.to(x.dtype).reshape(-1, 1, 1, 1) / T)


# ----------------------------------------------------------------------------- building blocks
def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    m1, m2 = torch.randn(2, 4, 5, generator=g, dtype=torch.float64)
    lv1, lv2 = torch.randn(2, 4, 5, generator=g, dtype=torch.float64) * 2
    ref = kl_divergence(Normal(m1, torch.exp(0.5 * lv1)), Normal(m2, torch.exp(0.5 * lv2)))
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), ref, rtol=1e-12, atol=1e-12)
    # against a standard normal given as Python floats
    ref0 = kl_divergence(Normal(m1, torch.exp(0.5 * lv1)), Normal(0.0, 1.0))
    torch.testing.assert_close(normal_kl(m1, lv1, 0.0, 0.0), ref0, rtol=1e-12, atol=1e-12)


def test_approx_cdf_close_to_exact():
    x = torch.linspace(-8, 8, 20001, dtype=torch.float64)
    err = (approx_standard_normal_cdf(x) - torch.special.ndtr(x)).abs()
    assert err.max().item() < 2e-4
    assert approx_standard_normal_cdf(torch.tensor(0.0)).item() == 0.5


def _bin_log_probs(means, log_scales, dtype):
    """log p of every one of the 256 bin centres, shape [256, *means.shape]."""
    centres = (torch.arange(256, dtype=dtype) / 127.5 - 1.0).reshape(-1, *([1] * means.ndim))
    centres = centres.expand(256, *means.shape)
    return discretized_gaussian_log_likelihood(centres, means.expand_as(centres), log_scales.expand_as(centres))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_discretized_probs_sum_to_one(dtype, tol):
    # Adjacent bins share an edge, so the sum telescopes to cdf(+inf) - cdf(-inf) = 1 for ANY
    # monotone CDF, the tanh approximation included; the tolerance only covers rounding of the
    # bin edges (x +- 1/255 of neighbouring centres) in `dtype` and the 1e-12 floor in the logs.
    g = torch.Generator().manual_seed(2)
    means = (torch.rand(64, generator=g, dtype=torch.float64) * 3 - 1.5).to(dtype)
    log_scales = (torch.rand(64, generator=g, dtype=torch.float64) * 6 - 6).to(dtype)  # sigma in [e^-6, 1]
    probs = _bin_log_probs(means, log_scales, dtype).exp()
    torch.testing.assert_close(probs.sum(0).double(), torch.ones(64, dtype=torch.float64), rtol=0, atol=tol)


def test_discretized_bins_match_exact_cdf():
    # Each bin probability differs from the exact-erf one by at most 2 * 1.8e-4 (the tanh
    # approximation error at the two edges).
    g = torch.Generator().manual_seed(3)
    means = torch.rand(16, generator=g, dtype=torch.float64) * 2 - 1
    log_scales = torch.rand(16, generator=g, dtype=torch.float64) * 4 - 5
    probs = _bin_log_probs(means, log_scales, torch.float64).exp()
    edges = torch.cat([torch.tensor([-math.inf]), (torch.arange(1, 256) - 0.5) / 127.5 - 1.0, torch.tensor([math.inf])])
    cdf = Normal(means, log_scales.exp()).cdf(edges.double().reshape(-1, 1))
    exact = cdf[1:] - cdf[:-1]
    assert (probs - exact).abs().max().item() < 4e-4


def test_discretized_edge_bins_are_open():
    s = 0.5
    mean = torch.tensor([-1.0, 1.0, -3.0])
    log_s = torch.tensor([math.log(s), math.log(s), math.log(0.1)])
    x = torch.tensor([-1.0, 1.0, -1.0])
    lp = discretized_gaussian_log_likelihood(x, mean, log_s)
    cdf = approx_standard_normal_cdf
    # first bin: Phi((x + 1/255 - mu)/s), i.e. all the mass below -1 + 1/255
    assert lp[0].item() == pytest.approx(math.log(cdf(torch.tensor((1 / 255) / s)).item()), rel=1e-6)
    # last bin: 1 - Phi((x - 1/255 - mu)/s)
    assert lp[1].item() == pytest.approx(math.log(1 - cdf(torch.tensor((-1 / 255) / s)).item()), rel=1e-6)
    # a closed bin of width 2/255 centred on the mean would have probability ~0.006 only
    closed = cdf(torch.tensor(1 / 255 / s)) - cdf(torch.tensor(-1 / 255 / s))
    assert lp[0].exp().item() > 0.5 > 50 * closed.item()
    # a mean far below -1 puts (almost) all its mass into the first bin
    assert lp[2].exp().item() == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- vlb terms
def _hand_model_params(diff, out, x_t, t, variance):
    """p(x_{t-1}|x_t) mean and variance from the float64 tables, independent of the module."""
    c = x_t.shape[1]
    r = lambda a: a[t].reshape(-1, 1, 1, 1)  # noqa: E731
    ab, abp, beta = r(diff.alphas_cumprod), r(diff.alphas_cumprod_prev), r(diff.betas)
    eps = out[:, :c]
    pred_x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    mean = beta * abp.sqrt() / (1 - ab) * pred_x0 + (1 - abp) * (1 - beta).sqrt() / (1 - ab) * x_t
    # beta_tilde_t; at t=0 (where it is 0) the clipped value beta_tilde_1 is used, as in the
    # improved-DDPM code
    bt = diff.betas * (1 - diff.alphas_cumprod_prev) / (1 - diff.alphas_cumprod)
    beta_tilde = r(torch.cat([bt[1:2], bt[1:]]))
    if variance == "fixed_small":
        var = beta_tilde.expand_as(x_t)
    elif variance == "fixed_large":
        var = beta.expand_as(x_t)
    else:
        frac = (out[:, c:] + 1) / 2
        var = torch.exp(frac * beta.log() + (1 - frac) * beta_tilde.log())
    return mean, var


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large", "learned_range"])
def test_vlb_kl_matches_torch_distributions(diff, variance):
    g = torch.Generator().manual_seed(4)
    b, c = 4, 2
    x0 = quantized((b, c, 3, 3), seed=5, dtype=torch.float64)
    t = torch.tensor([1, 7, 25, 49])
    x_t = diff.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    out = torch.randn(b, 2 * c, 3, 3, generator=g, dtype=torch.float64).clamp(-1, 1)
    if variance != "learned_range":
        out = out[:, :c]
    terms = vlb_terms(diff, out, x0, x_t, t, variance)

    post_mean, post_var, _ = diff.q_posterior_mean_variance(x0, x_t, t)
    p_mean, p_var = _hand_model_params(diff, out, x_t, t, variance)
    kl = kl_divergence(Normal(post_mean, post_var.sqrt().expand_as(x0)), Normal(p_mean, p_var.sqrt()))
    ref = kl.flatten(1).sum(1) / x0[0].numel() / LN2
    torch.testing.assert_close(terms["vb"], ref, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(terms["kl"], ref, rtol=1e-9, atol=1e-12)
    assert (terms["vb"] > 0).all()
    pred_x0 = (
        x_t - diff.sqrt_one_minus_alphas_cumprod[t].reshape(-1, 1, 1, 1) * out[:, :c]
    ) / diff.sqrt_alphas_cumprod[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(terms["pred_x0"], pred_x0)


def test_vlb_decoder_term_at_t0(diff):
    g = torch.Generator().manual_seed(6)
    b, c = 4, 2
    x0 = quantized((b, c, 3, 3), seed=7, dtype=torch.float64)
    t = torch.tensor([0, 3, 0, 10])
    x_t = diff.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    out = torch.randn(b, 2 * c, 3, 3, generator=g, dtype=torch.float64).clamp(-1, 1)
    terms = vlb_terms(diff, out, x0, x_t, t, "learned_range")
    p_mean, p_var = _hand_model_params(diff, out, x_t, t, "learned_range")
    # independent decoder NLL with the exact normal CDF; the tanh approximation moves each bin
    # probability by <= 3.6e-4, so compare the t=0 entries only to ~1e-2 bits
    sd = p_var.sqrt()
    hi = torch.where(x0 > 0.999, torch.full_like(x0, math.inf), x0 + 1 / 255)
    lo = torch.where(x0 < -0.999, torch.full_like(x0, -math.inf), x0 - 1 / 255)
    prob = torch.special.ndtr((hi - p_mean) / sd) - torch.special.ndtr((lo - p_mean) / sd)
    nll = -prob.log().flatten(1).mean(1) / LN2
    is0 = t == 0
    torch.testing.assert_close(terms["vb"][is0], nll[is0], rtol=0, atol=1e-2)
    torch.testing.assert_close(terms["vb"][is0], terms["decoder_nll"][is0])
    torch.testing.assert_close(terms["vb"][~is0], terms["kl"][~is0])
    assert not torch.allclose(terms["decoder_nll"], terms["kl"])


# ----------------------------------------------------------------------------- prior and bpd loop
def test_prior_bpd_closed_form(diff):
    x0 = torch.tensor([[-1.0, 0.0, 0.5, 1.0], [0.25, 0.25, 0.25, 0.25]]).reshape(2, 1, 2, 2)
    ab = diff.alphas_cumprod[-1].item()
    per_dim = 0.5 * (ab * x0.double() ** 2 + (1 - ab) - 1 - math.log(1 - ab))
    ref = per_dim.flatten(1).mean(1) / LN2
    torch.testing.assert_close(prior_bpd(diff, x0).double(), ref, rtol=1e-5, atol=1e-9)


def test_calc_bpd_loop_consistency_and_determinism(diff):
    x0 = quantized((2, 2, 4, 4), seed=8)
    model = TinyModel(2, out_mult=2, seed=9).eval()
    r1 = calc_bpd_loop(diff, model, x0, "learned_range", generator=torch.Generator().manual_seed(10))
    seen: list[int] = []
    r2 = calc_bpd_loop(
        diff, model, x0, "learned_range", generator=torch.Generator().manual_seed(10), progress=seen.append
    )
    assert seen == list(range(T - 1, -1, -1))  # one report per term (network call), in the loop's order
    assert r1["vb"].shape == (2, T) and r1["total_bpd"].shape == (2,) and r1["prior_bpd"].shape == (2,)
    torch.testing.assert_close(r1["total_bpd"], r1["prior_bpd"] + r1["vb"].sum(1))
    torch.testing.assert_close(r1["prior_bpd"], prior_bpd(diff, x0))
    assert torch.equal(r1["vb"], r2["vb"])
    assert (r1["vb"][:, 1:] >= 0).all()  # KL terms
    assert torch.isfinite(r1["total_bpd"]).all()


def test_calc_bpd_loop_oracle_model(diff):
    """A model that recovers eps from the known x0 makes every KL term (fixed_small) vanish."""
    x0 = (torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3) * 10 + 20) / 127.5 - 1.0
    sab = diff.sqrt_alphas_cumprod.float()
    s1ab = diff.sqrt_one_minus_alphas_cumprod.float()

    def oracle(x_t, t):
        return (x_t - sab[t].reshape(-1, 1, 1, 1) * x0) / s1ab[t].reshape(-1, 1, 1, 1)

    res = calc_bpd_loop(diff, oracle, x0, "fixed_small", generator=torch.Generator().manual_seed(11))
    assert res["vb"][:, 1:].abs().max().item() < 1e-5
    # decoder at t=0: mean == x0, sigma^2 = beta_tilde at index 1 (clipped), all pixels interior
    sigma = diff.posterior_variance[1].sqrt().item()
    h = torch.tensor((1 / 255) / sigma, dtype=torch.float64)
    bits = -math.log2((approx_standard_normal_cdf(h) - approx_standard_normal_cdf(-h)).item())
    torch.testing.assert_close(
        res["vb"][:, 0].double(), torch.full((2,), bits, dtype=torch.float64), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(res["total_bpd"], res["prior_bpd"] + res["vb"].sum(1))

    # a wrong model has strictly positive KL terms
    res_bad = calc_bpd_loop(
        diff, lambda x, t: oracle(x, t) + 0.1, x0, "fixed_small", generator=torch.Generator().manual_seed(11)
    )
    assert (res_bad["vb"][:, 1:] > 1e-4).all()


# ----------------------------------------------------------------------------- objectives
def test_simple_matches_loss_simple_and_first_channels(diff):
    x0 = quantized((3, 2, 4, 4), seed=12)
    t = torch.tensor([0, 20, 49])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(13))
    model = TinyModel(2, out_mult=2, seed=14)
    loss, comps = training_loss(diff, model, x0, t, noise, "simple", "learned_range")
    eps = model(diff.q_sample(x0, t, noise), t)[:, :2]
    torch.testing.assert_close(loss, ((noise - eps) ** 2).flatten(1).mean(1))
    assert torch.equal(loss, diff.loss_simple(model, x0, t, noise))
    assert torch.equal(comps["mse"], loss)


def test_vlb_objective_is_rescaled_kl(diff):
    x0 = quantized((3, 2, 4, 4), seed=15)
    t = torch.tensor([0, 20, 49])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(16))
    model = TinyModel(2, out_mult=2, seed=17)
    loss, comps = training_loss(diff, model, x0, t, noise, "vlb", "learned_range")
    x_t = diff.q_sample(x0, t, noise)
    vb = vlb_terms(diff, model(x_t, t), x0, x_t, t, "learned_range")["vb"]
    torch.testing.assert_close(loss, T * vb)
    torch.testing.assert_close(comps["vb"], vb)


def test_iwdiff_k1_equals_simple_exactly(diff):
    x0 = quantized((3, 2, 4, 4), seed=18)
    t = torch.tensor([1, 20, 49])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(19))
    model = TinyModel(2, seed=20)
    simple, _ = training_loss(diff, model, x0, t, noise, "simple", "fixed_small")
    iw, comps = training_loss(diff, model, x0, t, noise, "iwdiff", "fixed_small", iwdiff_k=1)
    assert torch.equal(iw, simple)
    assert torch.equal(comps["iw_weights"], torch.ones(3, 1))


def test_iwdiff_k3_value_and_gradient(diff):
    k, b = 3, 2
    x0 = quantized((b, 1, 2, 2), seed=21)
    t = torch.tensor([5, 30])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(22))
    model = TinyModel(1, seed=23, scale=4.0)  # large weights: losses (and weights) differ a lot

    loss, comps = training_loss(
        diff, model, x0, t, noise, "iwdiff", "fixed_small", iwdiff_k=k, generator=torch.Generator().manual_seed(24)
    )
    loss.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    # hand computation: draw 1 is `noise`, draws 2..k come from the generator as one [k-1, ...] tensor
    extra = torch.randn((k - 1, *x0.shape), generator=torch.Generator().manual_seed(24))
    noises = [noise, *extra]
    ls = torch.stack([diff.loss_simple(model, x0, t, n) for n in noises], dim=1)  # [B, k]
    # Algorithm 3 weights: softmax over the squared norms ||eps_i - eps_theta||^2 (sums over the D pixels)
    norms = ls.detach() * x0[0].numel()
    w = torch.softmax(norms, dim=1)
    torch.testing.assert_close(comps["iw_weights"], w)
    assert (w.max(1).values - w.min(1).values > 0.05).all(), "test needs non-uniform weights"
    ref = (w * ls).sum(1)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(comps["draw_losses"], ls)
    ref.sum().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for gr, rg in zip(grads, ref_grads):
        torch.testing.assert_close(gr, rg)

    # differentiating through the weights would give a different gradient
    ls2 = torch.stack([diff.loss_simple(model, x0, t, n) for n in noises], dim=1)
    (torch.softmax(ls2 * x0[0].numel(), dim=1) * ls2).sum().backward()
    assert not all(torch.allclose(gr, p.grad) for gr, p in zip(grads, model.parameters()))


class LeafOutput(nn.Module):
    """Returns a fixed trainable output tensor, so gradients w.r.t. the output are visible."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = nn.Parameter(out.clone())

    def forward(self, x, t):
        return self.out


def test_hybrid_vb_gradient_reaches_only_variance(diff):
    b, c = 3, 2
    x0 = quantized((b, c, 3, 3), seed=25)
    t = torch.tensor([0, 10, 40])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(26))
    x_t = diff.q_sample(x0, t, noise)
    out = torch.randn(b, 2 * c, 3, 3, generator=torch.Generator().manual_seed(27)).clamp(-1, 1)

    # vlb_terms: stop_grad_mean blocks the eps channels, and only them
    leaf = out.clone().requires_grad_(True)
    vlb_terms(diff, leaf, x0, x_t, t, "learned_range", stop_grad_mean=True)["vb"].sum().backward()
    assert torch.count_nonzero(leaf.grad[:, :c]) == 0
    assert leaf.grad[:, c:].abs().sum(dim=(1, 2, 3)).min() > 0
    leaf_free = out.clone().requires_grad_(True)
    vlb_terms(diff, leaf_free, x0, x_t, t, "learned_range")["vb"].sum().backward()
    assert leaf_free.grad[:, :c].abs().sum() > 0
    torch.testing.assert_close(leaf.grad[:, c:], leaf_free.grad[:, c:])

    # training_loss: eps-channel gradient is exactly that of the mse part; variance channels
    # get lambda * T * d(vb)/dv
    lam = 0.5
    model = LeafOutput(out)
    loss, comps = training_loss(diff, model, x0, t, noise, "hybrid", "learned_range", hybrid_lambda=lam)
    loss.sum().backward()
    g = model.out.grad
    torch.testing.assert_close(g[:, :c], -2 * (noise - out[:, :c]) / noise[0].numel())
    torch.testing.assert_close(g[:, c:], lam * T * leaf.grad[:, c:])
    # value: mse + lambda * (the "vlb" objective's loss)
    vlb_loss, _ = training_loss(diff, LeafOutput(out), x0, t, noise, "vlb", "learned_range")
    simple, _ = training_loss(diff, LeafOutput(out), x0, t, noise, "simple", "learned_range")
    torch.testing.assert_close(loss, simple + lam * vlb_loss)
    assert set(comps) == {"mse", "vb"}


def test_bad_names_raise(diff):
    x0 = quantized((1, 1, 2, 2))
    t = torch.tensor([3])
    noise = torch.zeros_like(x0)
    model = TinyModel(1, out_mult=2)
    assert OBJECTIVES == ("simple", "vlb", "hybrid", "iwdiff")
    with pytest.raises(ValueError, match="'nonsense'") as exc:
        training_loss(diff, model, x0, t, noise, "nonsense", "fixed_small")
    for name in OBJECTIVES:
        assert name in str(exc.value)
    with pytest.raises(ValueError, match="'tiny_var'"):
        training_loss(diff, model, x0, t, noise, "simple", "tiny_var")
    with pytest.raises(ValueError, match="fixed_small"):
        training_loss(diff, model, x0, t, noise, "hybrid", "fixed_small")
    with pytest.raises(ValueError, match="'tiny_var'"):
        vlb_terms(diff, model(x0, t), x0, x0, t, "tiny_var")
    with pytest.raises(ValueError, match="'tiny_var'"):
        calc_bpd_loop(diff, model, x0, "tiny_var")
    with pytest.raises(ValueError, match="iwdiff_k"):
        training_loss(diff, model, x0, t, noise, "iwdiff", "fixed_small", iwdiff_k=0)
