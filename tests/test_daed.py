"""DAED core: split points, the one-DAE-call sampler, the joint first-term MSE and post-hoc DAE training."""

import json
import math

import numpy as np
import pytest
import torch

from diffrepro.diffusion.daed import (
    dae_input,
    dae_predict,
    daed_model_calls,
    daed_sample,
    joint_first_term_mse,
)
from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.schedules import alphas_cumprod, get_beta_schedule, split_step
from diffrepro.factory import build_unet
from diffrepro.training.dae import build_dae, train_dae
from diffrepro.training.ddgm import TrainingDivergedError


# ----------------------------------------------------------------------------- split points
def test_split_points_linear_T1000_match_reference_values_and_numpy_argmin():
    betas = get_beta_schedule("linear", 1000)
    values = [0.001, 0.025, 0.1, 0.2, 0.3]
    got = {b: split_step(alphas_cumprod(betas), b) for b in values}
    assert got == {0.001: 5, 0.025: 45, 0.1: 97, 0.2: 144, 0.3: 184}
    # independent computation: DDPM linear betas 1e-4 .. 0.02, cumulative product, argmin
    ab = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000, dtype=np.float64))
    assert got == {b: int(np.argmin(np.abs(ab - (1.0 - b)))) for b in values}


def test_daed_model_calls():
    assert daed_model_calls(1000, 97) == (902, 1)
    assert daed_model_calls(40, 0) == (39, 1)
    assert daed_model_calls(40, 39) == (0, 1)
    with pytest.raises(ValueError):
        daed_model_calls(40, 40)


# ----------------------------------------------------------------------------- sampling
class Recorder(torch.nn.Module):
    """A stand-in network: records every call, returns ``scale * x + bias``."""

    def __init__(self, scale, bias=0.0):
        super().__init__()
        self.scale, self.bias = scale, bias
        self.ts, self.inputs = [], []

    def forward(self, x, t):
        self.ts.append(t.clone())
        self.inputs.append(x.clone())
        return self.scale * x + self.bias


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("s", [0, 7, 39])
def test_daed_sample_calls_and_state_at_the_seam(s, variance):
    T, shape = 40, (3, 2, 4, 4)
    diffusion = GaussianDiffusion(get_beta_schedule("linear", T))
    gen_model = Recorder(0.3)
    dae = Recorder(2.0, 0.25)  # pushes values outside [-1, 1] so the clamp is exercised
    ticks = []
    out = daed_sample(
        diffusion,
        gen_model,
        dae,
        shape,
        split_step=s,
        variance=variance,
        generator=torch.Generator().manual_seed(5),
        progress=ticks.append,
    )

    # generator: once per step above the split, timesteps T-1 .. s+1 in order, whole batch each time
    assert len(gen_model.ts) == T - 1 - s == daed_model_calls(T, s)[0]
    assert [int(t[0]) for t in gen_model.ts] == list(range(T - 1, s, -1))
    assert all(bool((t == t[0]).all()) and t.shape == (shape[0],) for t in gen_model.ts)
    # DAE: exactly once, at t == s
    assert len(dae.ts) == 1 and bool((dae.ts[0] == s).all())
    assert ticks == list(range(T - s))

    # the state handed to the DAE is the ancestral process stopped at s, run by hand
    g = torch.Generator().manual_seed(5)
    x = torch.randn(shape, generator=g)
    ref_model = Recorder(0.3)
    for step in range(T - 1, s, -1):
        x = diffusion.p_sample(ref_model, x, torch.full((shape[0],), step), variance=variance, generator=g)
    torch.testing.assert_close(dae.inputs[0], x, rtol=0, atol=0)
    # output: the DAE's reconstruction x0 = (x_s - sqrt(1 - ab_s) e) / sqrt(ab_s) of its output e,
    # clamped to [-1, 1] (closed form with the float64 schedule)
    ab = torch.cumprod(1 - get_beta_schedule("linear", T), 0)[s]
    e = 2.0 * x + 0.25
    ref = ((x.double() - (1 - ab).sqrt() * e.double()) / ab.sqrt()).float().clamp(-1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    assert out.min() >= -1 and out.max() <= 1


def test_daed_sample_with_a_unet_is_deterministic_in_the_seed():
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))
    gen_model = build_unet(_tiny_cfg(), image_size=8, channels=1).eval()
    dae = build_unet(_tiny_cfg(), image_size=8, channels=1).eval()
    _perturb(gen_model, 1)
    _perturb(dae, 2)
    kw = dict(split_step=35, variance="fixed_small")
    a = daed_sample(diffusion, gen_model, dae, (2, 1, 8, 8), generator=torch.Generator().manual_seed(1), **kw)
    b = daed_sample(diffusion, gen_model, dae, (2, 1, 8, 8), generator=torch.Generator().manual_seed(1), **kw)
    c = daed_sample(diffusion, gen_model, dae, (2, 1, 8, 8), generator=torch.Generator().manual_seed(2), **kw)
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)


def test_dae_input_and_predict():
    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(2, 1, 4, 4, generator=g) * 2 - 1, torch.randn(2, 1, 4, 4, generator=g)
    ab = float(torch.cumprod(1 - get_beta_schedule("linear", 40), 0)[6])
    torch.testing.assert_close(dae_input(diffusion, x0, 6, noise), math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise)
    # the DAE keeps the eps parameterisation: x0_hat = (x_s - sqrt(1 - ab) e) / sqrt(ab); a
    # learned-variance network (2C outputs) gives e in its first C channels
    two_c = Recorder(1.0)
    two_c.forward = lambda x, t: torch.cat([3 * x, -x], dim=1)
    x_s = dae_input(diffusion, x0, 6, noise)
    expected = (x_s - math.sqrt(1 - ab) * 3 * x_s) / math.sqrt(ab)
    torch.testing.assert_close(dae_predict(two_c, diffusion, x_s, 6, clip=False), expected)
    torch.testing.assert_close(dae_predict(two_c, diffusion, x_s, 6), expected.clamp(-1, 1))
    # a network that returns the true noise reconstructs x0 exactly
    oracle = lambda x, t: (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # noqa: E731
    torch.testing.assert_close(dae_predict(oracle, diffusion, x_s, 6, clip=False), x0, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- joint first term
@pytest.mark.parametrize("variance,channels_out", [("fixed_small", 1), ("learned_range", 2)])
def test_joint_first_term_mse_against_hand_computation(variance, channels_out):
    T, beta_1 = 40, 0.1
    betas = get_beta_schedule("linear_combine", T, beta_1=beta_1).numpy()
    diffusion = GaussianDiffusion(torch.from_numpy(betas))
    g = torch.Generator().manual_seed(3)
    b, c = 4, 2
    x0 = torch.rand(b, c, 3, 3, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(b, c, 3, 3, generator=g, dtype=torch.float64)
    output = torch.randn(b, c * channels_out, 3, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 0, 5, 39])
    x_t = diffusion.q_sample(x0, t, noise)
    got = joint_first_term_mse(diffusion, output, x0, x_t, t, variance)

    ab = np.cumprod(1 - betas)
    eps, xt, x0n = output[:, :c].numpy(), x_t.numpy(), x0.numpy()
    for i, ti in enumerate(t.tolist()):
        x0_hat = (xt[i] - math.sqrt(1 - ab[ti]) * eps[i]) / math.sqrt(ab[ti])
        if ti == 0:
            mean = x0_hat  # posterior q(x_{-1} | x_0, x0_hat) collapses onto x0_hat
        else:
            ab_prev = ab[ti - 1]
            mean = (
                betas[ti] * math.sqrt(ab_prev) / (1 - ab[ti]) * x0_hat
                + (1 - ab_prev) * math.sqrt(1 - betas[ti]) / (1 - ab[ti]) * xt[i]
            )
        assert float(got[i]) == pytest.approx(float(np.mean((mean - x0n[i]) ** 2)), rel=1e-9)
    # a perfect noise prediction makes the t=0 term exactly zero
    exact = torch.cat([noise, output[:, c:]], dim=1)
    assert torch.allclose(
        joint_first_term_mse(diffusion, exact, x0, x_t, t, variance)[:2],
        torch.zeros(2, dtype=torch.float64),
        atol=1e-20,
    )


# ----------------------------------------------------------------------------- post-hoc DAE training
def _tiny_cfg(variance="fixed_small"):
    return {
        "data": "digits",
        "kind": "ddgm",
        "objective": "simple",
        "schedule": "linear",
        "timesteps": 40,
        "variance": variance,
        "timestep_sampler": "uniform",
        "unet": {
            "base_channels": 8,
            "channel_mult": [1, 2],
            "num_res_blocks": 1,
            "attention_resolutions": [4],
            "num_heads": 2,
            "dropout": 0.1,
        },
        "train": {
            "steps": 20,
            "batch_size": 8,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "warmup_steps": 0,
            "grad_clip": 1.0,
            "ema_decay": 0.9,
            "checkpoint_every": 10,
            "log_every": 5,
        },
        "sample": {"num_samples": 8, "batch_size": 8},
        "resolution": None,
        "tables": {},
    }


def _perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def _ddgm_state(cfg, seed=0, channels=1):
    torch.manual_seed(seed)
    m = build_unet(cfg, image_size=8, channels=channels)
    _perturb(m, seed + 100)  # non-trivial weights (the fresh head is zero-initialised)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (32, 1, 8, 8), generator=g, dtype=torch.uint8)


TRAIN_KEYS = ("steps", "batch_size", "lr", "ema_decay", "checkpoint_every", "log_every", "weight_decay", "grad_clip")


def _train(images, cfg, state, ckpt_dir, **kw):
    """``train_dae`` with the test's settings; ``kw`` overrides options and ``daed.posthoc.train`` keys alike."""
    train_cfg = {
        "steps": 8,
        "batch_size": 8,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "grad_clip": None,
        "ema_decay": 0.9,
        "checkpoint_every": 4,
        "log_every": 2,
    }
    args = dict(ddgm_state=state, split_step=8, seed=3, checkpoint_dir=ckpt_dir, data_id="test")
    for key, value in kw.items():
        (train_cfg if key in TRAIN_KEYS else args)[key] = value
    return train_dae(images, cfg, train_cfg, **args)


@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_dae_starts_from_the_ddgm_weights(variance, images, tmp_path):
    cfg = _tiny_cfg(variance)
    state = _ddgm_state(cfg, channels=1)
    dae = build_dae(cfg, state, image_size=8, channels=1)
    got = dae.state_dict()
    assert got.keys() == state.keys()
    assert all(torch.equal(got[k], state[k]) for k in state)
    if variance == "learned_range":
        assert dae(torch.zeros(1, 1, 8, 8), torch.tensor([3])).shape[1] == 2
    # train_dae uses that initialisation: with lr = 0 the weights never move, so the EMA is the DDGM state
    res = _train(images, cfg, state, tmp_path / "a", steps=3, lr=0.0, checkpoint_every=2, log_every=1)
    assert all(torch.equal(res.ema_state[k], state[k].float()) for k in state)


def test_train_dae_resume_after_interrupt_matches_uninterrupted_run(images, tmp_path):
    cfg = _tiny_cfg()
    state = _ddgm_state(cfg)
    full = _train(images, cfg, state, tmp_path / "a")
    partial = _train(images, cfg, state, tmp_path / "b", stop_at_step=6)  # killed after step 6
    assert partial.steps == 6
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["step"] == 4
    resumed = _train(images, cfg, state, tmp_path / "b")
    assert resumed.resumed_from == 4 and resumed.steps == 8
    for k in full.ema_state:
        assert torch.equal(full.ema_state[k], resumed.ema_state[k]), k
    assert full.history == resumed.history and [h["step"] for h in full.history] == [2, 4, 6, 8]
    # the EMA moved away from the initialisation
    assert any(not torch.equal(full.ema_state[k], state[k]) for k in state)
    # a changed DDGM (or split step) does not resume the old checkpoint
    other = _ddgm_state(cfg, seed=1)
    assert _train(images, cfg, other, tmp_path / "b", stop_at_step=1).resumed_from == 0
    assert _train(images, cfg, state, tmp_path / "a", split_step=9, stop_at_step=1).resumed_from == 0


def test_train_dae_nan_loss_stops_and_keeps_last_checkpoint(images, tmp_path, monkeypatch):
    cfg = _tiny_cfg()
    state = _ddgm_state(cfg)
    ckpt_dir = tmp_path / "a"
    _train(images, cfg, state, ckpt_dir, stop_at_step=4)
    before = {p.name: p.read_bytes() for p in (ckpt_dir / "step_00000004").iterdir()}
    latest_before = (ckpt_dir / "latest.json").read_bytes()

    import diffrepro.training.dae as dae_module

    original, calls = dae_module.dae_loss, {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = original(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(dae_module, "dae_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 7.*last good checkpoint \(step 4\)"):
        _train(images, cfg, state, ckpt_dir)
    assert {p.name: p.read_bytes() for p in (ckpt_dir / "step_00000004").iterdir()} == before
    assert (ckpt_dir / "latest.json").read_bytes() == latest_before
    assert not list(ckpt_dir.glob("step_00000008"))


def test_dae_training_reduces_the_reconstruction_error(tmp_path):
    """The objective is wired the right way: twenty steps lower the x0-reconstruction MSE at
    step s (measured independently, with fixed noise, on the whole tiny data set)."""
    g = torch.Generator().manual_seed(1)
    # a tiny structured data set: 16 images made of 4 random 4x4-block patterns
    patterns = torch.randint(0, 2, (4, 1, 2, 2), generator=g).float()
    imgs = (patterns.repeat_interleave(4, 2).repeat_interleave(4, 3) * 255).to(torch.uint8).repeat(4, 1, 1, 1)
    cfg = _tiny_cfg()
    cfg["unet"]["dropout"] = 0.0
    state = _ddgm_state(cfg)
    s = split_step(alphas_cumprod(get_beta_schedule("linear", 40)), 0.1)
    ab = float(alphas_cumprod(get_beta_schedule("linear", 40))[s])
    x0 = imgs.float() / 127.5 - 1
    noise = torch.randn(x0.shape, generator=g)
    x_s = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise

    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))

    def recon_mse(model):
        with torch.no_grad():
            return float(((dae_predict(model.eval(), diffusion, x_s, s, clip=False) - x0) ** 2).mean())

    start = recon_mse(build_dae(cfg, state, image_size=8, channels=1))
    res = _train(
        imgs,
        cfg,
        state,
        tmp_path / "a",
        split_step=s,
        steps=20,
        batch_size=8,
        lr=3e-3,
        ema_decay=0.0,
        checkpoint_every=20,
        log_every=5,
    )
    end = recon_mse(res.model)
    assert end < 0.75 * start, (start, end)
    assert res.history[-1]["loss"] < 0.75 * res.history[0]["loss"]


def test_dae_test_mae_against_closed_forms():
    """A DAE that returns the true noise reconstructs exactly (MAE 0); one that returns 0 leaves
    x0_hat - x0 = sqrt((1 - ab_s) / ab_s) eps, whose mean |.| / 2 is sqrt((1 - ab_s) / ab_s) sqrt(2 / pi) / 2."""
    import math

    from diffrepro.diffusion.daed import dae_test_mae

    diffusion = GaussianDiffusion(get_beta_schedule("linear", 100))
    s = 30
    x0 = torch.zeros(512, 1, 8, 8)  # mid-grey: the clamp to [-1, 1] never binds for the zero-output DAE
    seed = 3
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))

    chunks = iter(noise.split(100))  # the images go through in batches of 100: the last one holds 12

    def oracle(x, t):
        return next(chunks)

    mae, sem = dae_test_mae(oracle, diffusion, x0, s, torch.Generator().manual_seed(seed), 100)
    assert mae == pytest.approx(0.0, abs=1e-6)
    assert next(chunks, None) is None, "every batch went through the DAE once"
    x0 = torch.zeros(512, 1, 8, 8)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    mae, sem = dae_test_mae(zero, diffusion, x0, 1, torch.Generator().manual_seed(seed), 100)
    whole = dae_test_mae(zero, diffusion, x0, 1, torch.Generator().manual_seed(seed), 512)
    assert (mae, sem) == pytest.approx(whole, rel=1e-6), "the batch size only moves float rounding"
    ab1 = float(diffusion.alphas_cumprod[1])
    expected = math.sqrt((1 - ab1) / ab1) * math.sqrt(2 / math.pi) / 2
    assert mae == pytest.approx(expected, rel=0.02) and 0 < sem < 0.01 * expected
