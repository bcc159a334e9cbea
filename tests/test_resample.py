"""Tests for the timestep samplers (diffrepro.diffusion.resample).

Unbiasedness is checked by Monte Carlo against the uniform objective with a standard error
computed from the sampler's own distribution; the adaptive sampler is checked against an
independent numpy / deque re-implementation of "p ∝ sqrt(E[L^2]) over the last 10 losses".
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from diffrepro.diffusion import TIMESTEP_SAMPLERS, TimestepSampler, build_timestep_sampler
from diffrepro.diffusion.resample import LossSecondMomentSampler

T = 20
BETA_1 = 0.1
OPTIONS = {"dae_weighted": {"beta_1": BETA_1}}


def _build(name, T=T, **extra):
    return build_timestep_sampler(name, T, **{**OPTIONS.get(name, {}), **extra})


def _loss_table(T=T, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 5.0, size=T)


def _warm_up(sampler, L, seed=1, rounds=12, batch=64):
    """Feed noisy losses around the table L until every t has a full history.

    Returns an independent record: per-t deques of the last 10 losses fed.
    """
    rng = np.random.default_rng(seed)
    ref = [deque(maxlen=10) for _ in range(len(L))]
    # one pass over every t per round guarantees warm-up; extra random batches mix the order
    for _ in range(rounds):
        t = np.concatenate([rng.permutation(len(L)), rng.integers(0, len(L), size=batch - len(L))])
        losses = L[t] * rng.uniform(0.7, 1.3, size=t.size)
        sampler.update(torch.from_numpy(t), torch.from_numpy(losses))
        for ti, li in zip(t, losses):
            ref[ti].append(li)
    return ref


def _np_second_moment_p(ref, uniform_prob=0.001):
    Tn = len(ref)
    if any(len(d) < 10 for d in ref):
        return np.full(Tn, 1.0 / Tn)
    q = np.array([math.sqrt(np.mean(np.square(list(d)))) for d in ref])
    q = q / q.sum()
    return (1 - uniform_prob) * q + uniform_prob / Tn


# ----------------------------------------------------------------------------- construction
def test_registry_and_unknown_name():
    assert TIMESTEP_SAMPLERS == ("uniform", "dae_weighted", "loss_second_moment", "loss_second_moment_plus2")
    for name in TIMESTEP_SAMPLERS:
        s = _build(name)
        assert isinstance(s, TimestepSampler) and s.num_timesteps == T and s.name == name
    with pytest.raises(ValueError) as exc:
        build_timestep_sampler("importance", T)
    for name in TIMESTEP_SAMPLERS:
        assert name in str(exc.value)


def test_options_validation():
    with pytest.raises(ValueError, match="'beta_1'.*'uniform'|'uniform'.*'beta_1'"):
        build_timestep_sampler("uniform", T, beta_1=0.1)
    with pytest.raises(ValueError, match="beta_1"):
        build_timestep_sampler("dae_weighted", T)
    with pytest.raises(ValueError, match="beta_1"):
        build_timestep_sampler("dae_weighted", T, beta_1=1.5)
    with pytest.raises(ValueError, match="window"):
        build_timestep_sampler("loss_second_moment", T, window=5)
    with pytest.raises(ValueError, match="extra_forward_evaluations"):
        build_timestep_sampler("loss_second_moment_plus2", T, extra_forward_evaluations=3)
    with pytest.raises(ValueError, match="uniform_prob"):
        build_timestep_sampler("loss_second_moment", T, uniform_prob=1.5)
    with pytest.raises(ValueError, match="num_timesteps"):
        build_timestep_sampler("uniform", 0)
    s = build_timestep_sampler("loss_second_moment", T, history=4, uniform_prob=0.01)
    assert s.history == 4 and s.uniform_prob == 0.01


def test_extra_forward_evaluations():
    assert {n: _build(n).extra_forward_evaluations for n in TIMESTEP_SAMPLERS} == {
        "uniform": 0,
        "dae_weighted": 0,
        "loss_second_moment": 0,
        "loss_second_moment_plus2": 2,
    }


# ----------------------------------------------------------------------------- distributions
@pytest.mark.parametrize("name", TIMESTEP_SAMPLERS)
@pytest.mark.parametrize("warm", [False, True])
def test_probabilities_valid(name, warm):
    s = _build(name)
    if warm:
        _warm_up(s, _loss_table())
    p = s.probabilities()
    assert p.dtype == torch.float64 and p.shape == (T,)
    assert (p > 0).all()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
    t, w = s.sample(1000, torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.shape == (1000,) and int(t.min()) >= 0 and int(t.max()) < T
    assert w.dtype == torch.float32 and w.shape == (1000,)
    assert torch.allclose(w.double(), 1.0 / (T * p[t]), rtol=1e-6)


def test_uniform():
    s = _build("uniform")
    assert torch.equal(s.probabilities(), torch.full((T,), 1.0 / T, dtype=torch.float64))
    _, w = s.sample(100, torch.Generator().manual_seed(0))
    assert torch.equal(w, torch.ones(100))


@pytest.mark.parametrize("Tn,beta_1", [(20, 0.1), (1000, 0.001), (500, 0.3)])
def test_dae_weighted_probabilities(Tn, beta_1):
    s = build_timestep_sampler("dae_weighted", Tn, beta_1=beta_1)
    p = s.probabilities().numpy()
    assert p[0] == pytest.approx(beta_1 * Tn / (Tn - 1 + beta_1 * Tn), rel=1e-12)
    assert np.allclose(p[1:], 1.0 / (Tn - 1 + beta_1 * Tn), rtol=1e-12)
    w = s.weights().numpy()
    assert np.allclose(w, 1.0 / (Tn * p), rtol=1e-12)
    assert w[0] == pytest.approx((Tn - 1 + beta_1 * Tn) / (beta_1 * Tn * Tn), rel=1e-12)


def test_second_moment_uniform_before_warm_up():
    s = _build("loss_second_moment")
    uniform = torch.full((T,), 1.0 / T, dtype=torch.float64)
    assert torch.equal(s.probabilities(), uniform)
    L = _loss_table()
    # every t gets 10 losses except t = 7, which gets 9: still uniform
    for k in range(10):
        t = torch.tensor([i for i in range(T) if not (i == 7 and k == 9)])
        s.update(t, torch.from_numpy(L[t.numpy()]))
        assert torch.equal(s.probabilities(), uniform)
    assert not s.warmed_up()
    s.update(torch.tensor([7]), torch.tensor([L[7]]))
    assert s.warmed_up()
    p = s.probabilities().numpy()
    ref = 0.999 * L / L.sum() + 0.001 / T  # constant history per t: sqrt(E L^2) = L
    assert np.allclose(p, ref, rtol=1e-12)


@pytest.mark.parametrize("name", ["loss_second_moment", "loss_second_moment_plus2"])
def test_second_moment_matches_numpy(name):
    s = _build(name)
    ref = _warm_up(s, _loss_table(seed=3), seed=4, rounds=15)
    assert all(len(d) == 10 for d in ref)
    assert np.allclose(s.probabilities().numpy(), _np_second_moment_p(ref), rtol=1e-12, atol=0)
    # keep updating with skewed batches and compare again
    rng = np.random.default_rng(5)
    for _ in range(5):
        t = rng.integers(0, 5, size=64)
        losses = rng.exponential(2.0, size=64)
        s.update(torch.from_numpy(t), torch.from_numpy(losses))
        for ti, li in zip(t, losses):
            ref[ti].append(li)
        assert np.allclose(s.probabilities().numpy(), _np_second_moment_p(ref), rtol=1e-12, atol=0)


def test_second_moment_ring_buffer_many_repeats_in_one_batch():
    """A batch with more than `history` losses for one t keeps only the last `history`."""
    s = build_timestep_sampler("loss_second_moment", 4, history=3, uniform_prob=0.0)
    ref = [deque(maxlen=3) for _ in range(4)]
    batches = [
        ([0, 1, 2, 3, 0, 0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ([2, 2, 2, 2, 2, 1, 2, 0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0]),
        ([3, 3, 1], [15.0, 16.0, 17.0]),
    ]
    for t, losses in batches:
        s.update(torch.tensor(t), torch.tensor(losses))
        for ti, li in zip(t, losses):
            ref[ti].append(li)
    state = s.state_dict()
    assert state["loss_counts"].tolist() == [4, 3, 7, 3]
    for ti in range(4):
        assert sorted(state["loss_history"][ti].tolist()) == sorted(ref[ti])
    q = np.array([math.sqrt(np.mean(np.square(list(d)))) for d in ref])
    assert np.allclose(s.probabilities().numpy(), q / q.sum(), rtol=1e-12)


def test_update_validation_and_detach():
    s = _build("loss_second_moment")
    with pytest.raises(ValueError, match="range|lie in"):
        s.update(torch.tensor([0, T]), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        s.update(torch.tensor([0, 1]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="non-finite"):
        s.update(torch.tensor([0, 1]), torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="integer"):
        s.update(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert s.state_dict()["loss_counts"].sum() == 0  # failed updates left no trace
    losses = torch.tensor([0.5, 1.5], requires_grad=True) * 2
    s.update(torch.tensor([3, 4]), losses)
    assert s.state_dict()["loss_history"][3, 0].item() == 1.0
    for name in ("uniform", "dae_weighted"):
        _build(name).update(torch.tensor([0, 1]), torch.tensor([1.0, 2.0]))  # static: no-op


# ----------------------------------------------------------------------------- unbiasedness
@pytest.mark.parametrize("name", TIMESTEP_SAMPLERS)
def test_monte_carlo_unbiased(name):
    """E_{t~p}[w_t L_t] equals the uniform objective mean(L) within 4 standard errors."""
    L = _loss_table(seed=11)
    s = _build(name)
    if name.startswith("loss_second_moment"):
        _warm_up(s, L, seed=12)
        assert s.warmed_up()
    p = s.probabilities().numpy()
    target = L.mean()
    # exact: sum_t p_t L_t / (T p_t) == mean(L)
    assert np.sum(p * L / (T * p)) == pytest.approx(target, rel=1e-12)

    n = 200_000
    t, w = s.sample(n, torch.Generator().manual_seed(13))
    est = w.double().numpy() * L[t.numpy()]
    var = np.sum(p * (L / (T * p)) ** 2) - target**2  # variance of one draw under p
    se = math.sqrt(max(var, 0.0) / n)
    float32_slack = 1e-6 * target  # weights are float32
    assert abs(est.mean() - target) <= 4 * se + float32_slack, (est.mean(), target, se)
    if var > 1e-6:
        assert est.var() == pytest.approx(var, rel=0.05)

    # the draws follow p: per-bin frequency within 5 binomial standard errors
    freq = np.bincount(t.numpy(), minlength=T) / n
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_second_moment_reduces_variance():
    L = _loss_table(seed=21)
    s = _build("loss_second_moment")
    _warm_up(s, L, seed=22)
    p = s.probabilities().numpy()
    var_is = np.sum(p * (L / (T * p)) ** 2) - L.mean() ** 2
    assert var_is < 0.1 * L.var()


# ----------------------------------------------------------------------------- determinism / state
@pytest.mark.parametrize("name", TIMESTEP_SAMPLERS)
def test_sampling_uses_only_the_generator(name):
    s = _build(name)
    if name.startswith("loss_second_moment"):
        _warm_up(s, _loss_table())
    torch.manual_seed(0)
    a = s.sample(256, torch.Generator().manual_seed(5))
    global_state = torch.get_rng_state()
    torch.manual_seed(123)
    b = s.sample(256, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    torch.manual_seed(0)
    s.sample(256, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), global_state)  # global RNG untouched
    with pytest.raises(TypeError):
        s.sample(4, None)


@pytest.mark.parametrize("name", TIMESTEP_SAMPLERS)
def test_state_round_trip_through_safetensors(name, tmp_path):
    src = _build(name)
    if name.startswith("loss_second_moment"):
        _warm_up(src, _loss_table(seed=31), seed=32, rounds=3)  # partially warm...
        _warm_up(src, _loss_table(seed=31), seed=33, rounds=12)  # ...then warm
    state = src.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    path = tmp_path / "sampler.safetensors"
    save_file(state, str(path))
    dst = _build(name)
    dst.load_state_dict(load_file(str(path)))
    assert torch.equal(dst.probabilities(), src.probabilities())

    g_src, g_dst = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    rng = np.random.default_rng(8)
    for _ in range(5):  # draw, update both identically, draw again
        ta, wa = src.sample(64, g_src)
        tb, wb = dst.sample(64, g_dst)
        assert torch.equal(ta, tb) and torch.equal(wa, wb)
        losses = torch.from_numpy(rng.uniform(0.1, 3.0, size=64))
        src.update(ta, losses)
        dst.update(tb, losses)
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k])


def test_load_state_dict_rejects_mismatch():
    s = _build("loss_second_moment")
    state = s.state_dict()
    with pytest.raises(ValueError, match="shape"):
        build_timestep_sampler("loss_second_moment", T + 1).load_state_dict(state)
    with pytest.raises(ValueError, match="keys"):
        s.load_state_dict({"loss_history": state["loss_history"]})
    with pytest.raises(ValueError, match="keys"):
        _build("uniform").load_state_dict(state)
    assert isinstance(s, LossSecondMomentSampler)


def test_dae_weighted_denoiser_share_sets_p0_and_keeps_the_objective_unbiased():
    from diffrepro.diffusion.resample import build_timestep_sampler

    T, share = 249, 0.25
    s = build_timestep_sampler("dae_weighted", T, beta_1=0.001, denoiser_share=share)
    p = s.probabilities()
    assert float(p[0]) == pytest.approx(share) and float(p.sum()) == pytest.approx(1.0)
    assert torch.allclose(p[1:], torch.full((T - 1,), (1 - share) / (T - 1), dtype=torch.float64))
    # E_p[w_t L_t] with w_t = 1 / (T p_t) is the uniform mean of L_t, whatever the share
    losses = torch.linspace(0.0, 3.0, T, dtype=torch.float64)
    assert float((p * losses / (T * p)).sum()) == pytest.approx(float(losses.mean()))
    t, w = s.sample(20000, torch.Generator().manual_seed(0))
    assert abs(float((t == 0).double().mean()) - share) < 0.01
    paper = build_timestep_sampler("dae_weighted", T, beta_1=0.001)
    assert float(paper.probabilities()[0]) == pytest.approx(0.001 * T / (T - 1 + 0.001 * T))
    with pytest.raises(ValueError, match="denoiser_share"):
        build_timestep_sampler("dae_weighted", T, beta_1=0.001, denoiser_share=1.0)


def test_the_papers_dae_sampler_keeps_its_training_fingerprint():
    """Adding the denoiser_share option (default null) leaves the fingerprint of a DAED without it unchanged, so
    its checkpoints stay valid; setting a share changes it."""
    import copy

    from diffrepro.config import load_config
    from diffrepro.training.ddgm import training_fingerprint

    config = load_config("configs/tiny.yaml")
    name = next(n for n, m in config["models"].items() if m.get("kind") == "daed")
    model = copy.deepcopy(config["models"][name])
    before = training_fingerprint(model, seed=0, data_id="d")
    model["timestep_sampler"] = {**model["timestep_sampler"], "denoiser_share": None}
    assert training_fingerprint(model, seed=0, data_id="d") == before
    model["timestep_sampler"]["denoiser_share"] = 0.2
    assert training_fingerprint(model, seed=0, data_id="d") != before
