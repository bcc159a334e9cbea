"""Surrogate diffusion (coursework Algorithm 4): t_mid = 0 is the surrogate, t_mid = T the ordinary
reverse process, and the reverse process from t_mid makes exactly t_mid network calls."""

import math

import pytest
import torch

from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.schedules import linear_beta_schedule as linear_betas
from diffrepro.diffusion.surrogate import lowres_handover, surrogate_chain, surrogate_reverse, t_mid_steps


class Counting(torch.nn.Module):
    """A fixed, input-dependent eps predictor that counts its calls and records the steps it saw."""

    def __init__(self):
        super().__init__()
        self.calls, self.steps = 0, []

    def forward(self, x, t):
        self.calls += 1
        self.steps.append(int(t[0]))
        return torch.tanh(x) * 0.3 + 0.01 * t.float().view(-1, 1, 1, 1) / 40


@pytest.fixture
def diffusion():
    return GaussianDiffusion(linear_betas(40))


def x0_tilde():
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 8, 8, generator=g) * 2 - 1


def test_t_mid_zero_returns_the_surrogate_samples(diffusion):
    net = Counting()
    x0 = x0_tilde()
    out = surrogate_reverse(diffusion, net, x0, 0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, x0)
    assert net.calls == 0


def test_t_mid_T_is_the_ordinary_reverse_process(diffusion):
    a, b = Counting(), Counting()
    out = surrogate_reverse(diffusion, a, x0_tilde(), 40, generator=torch.Generator().manual_seed(7))
    ref = diffusion.sample(b, (6, 1, 8, 8), generator=torch.Generator().manual_seed(7))
    assert torch.equal(out, ref)
    assert a.steps == b.steps == list(range(39, -1, -1))


@pytest.mark.parametrize("t_mid", [1, 10, 20, 30])
def test_reverse_from_t_mid_calls_the_network_t_mid_times_from_the_noised_surrogate(diffusion, t_mid):
    net = Counting()
    x0 = x0_tilde()
    g = torch.Generator().manual_seed(3)
    out = surrogate_reverse(diffusion, net, x0, t_mid, generator=g)
    assert net.calls == t_mid and net.steps == list(range(t_mid - 1, -1, -1))
    assert out.shape == x0.shape and out.abs().max() <= 1
    # the first network input is q(x_{t_mid} | x~0) with the generator's first draw (independent computation)
    first = {}

    def spy(x, t):
        first.setdefault("x", x.clone())
        return Counting()(x, t)

    surrogate_reverse(diffusion, spy, x0, t_mid, generator=torch.Generator().manual_seed(3))
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
    ab = torch.cumprod(1 - linear_betas(40).double(), 0)[t_mid - 1]
    expected = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * z
    assert torch.allclose(first["x"], expected.float(), atol=1e-6)


def test_t_mid_out_of_range_is_an_error(diffusion):
    with pytest.raises(ValueError, match="t_mid must be in"):
        surrogate_reverse(diffusion, Counting(), x0_tilde(), 41, generator=None)


def test_t_mid_steps_from_fractions():
    assert t_mid_steps([0, 0.25, 0.5, 0.75], 1000) == [0, 250, 500, 750]
    assert t_mid_steps([0, 0.25, 0.5, 0.75, 1.0], 250) == [0, 62, 125, 188, 250]
    with pytest.raises(ValueError, match="repeated"):
        t_mid_steps([0.1, 0.11], 10)


def test_table_matches_the_papers_rows_by_share_of_steps():
    """t_mid = round(0.25 * 250) = 62 is the paper's t_mid = 250 of T = 1000."""
    from diffrepro.reporting.surrogate_table import table_rows

    rec = {
        "surrogate": "sngan",
        "surrogate_kind": "gan",
        "native_image_size": 16,
        "timesteps": 250,
        "rows": [
            {
                "t_mid": t,
                "samples_per_second": 10.0,
                "fid": 1.0,
                "precision": 0.5,
                "recall": 0.5,
                "classifier_score_mean": 2.0,
                "classifier_score_std": 0.1,
            }
            for t in (0, 62, 125, 188)
        ],
    }
    base = {"model": "m", "samples_per_second": 5.0, "fid": 2.0, "precision": 0.5, "recall": 0.5, "timesteps": 250}
    rows = table_rows([rec], base)
    assert [r["Paper t_mid"] for r in rows] == [0, 250, 500, 750, 1000]
    assert [r["Paper FID"] for r in rows[:4]] == [13.70, 6.36, 4.84, 4.90]
    assert rows[1]["Speedup"] == 2.0 and rows[-1]["Speedup"] == 1.0


# --------------------------------------------------------------- DDPM-16: the low-resolution chain to t_mid


def test_lowres_handover_at_zero_is_the_ordinary_sample(diffusion):
    a, b = Counting(), Counting()
    out = lowres_handover(diffusion, a, (6, 1, 4, 4), 0, generator=torch.Generator().manual_seed(5))
    ref = diffusion.sample(b, (6, 1, 4, 4), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(out, ref, atol=1e-6)
    assert a.steps == b.steps == list(range(39, -1, -1))


@pytest.mark.parametrize("t_mid", [1, 10, 25, 39])
def test_lowres_handover_runs_steps_T_to_t_mid_and_hands_over_the_x0_estimate_there(diffusion, t_mid):
    net = Counting()
    out = lowres_handover(diffusion, net, (6, 1, 4, 4), t_mid, generator=torch.Generator().manual_seed(5))
    assert net.calls == 40 - t_mid and net.steps == list(range(39, t_mid - 1, -1))
    # independently: the ordinary chain from the same seed passes the same state at step t_mid (same noise draws
    # up to there); the estimate of x_0 from that state is (x_t - sqrt(1 - ab) eps) / sqrt(ab), clamped
    states = {}
    diffusion.sample(Counting(), (6, 1, 4, 4), generator=torch.Generator().manual_seed(5), on_state=states.__setitem__)
    x_t = states[t_mid].double()
    ab = torch.cumprod(1 - linear_betas(40).double(), 0)[t_mid]
    eps = Counting()(x_t.float(), torch.full((6,), t_mid)).double()
    expected = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
    assert torch.allclose(out.double(), expected, atol=1e-5)


def test_lowres_handover_at_T_makes_no_call(diffusion):
    net = Counting()
    out = lowres_handover(diffusion, net, (2, 1, 4, 4), 40, generator=torch.Generator().manual_seed(5))
    assert net.calls == 0 and out.shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="t_mid must be in"):
        lowres_handover(diffusion, net, (2, 1, 4, 4), 41, generator=None)


def test_ddpm16_network_calls_split_at_t_mid_as_the_coursework_counts_them(diffusion):
    """DDPM-16 with base model: T - t_mid low-resolution calls and t_mid full-resolution calls, T in all."""
    for t_mid in (0, 10, 20, 30, 40):
        low, base = Counting(), Counting()
        x0 = lowres_handover(diffusion, low, (2, 1, 4, 4), t_mid, generator=torch.Generator().manual_seed(1))
        x0 = torch.nn.functional.interpolate(x0, size=8, mode="bilinear", align_corners=False)
        surrogate_reverse(diffusion, base, x0, t_mid, generator=torch.Generator().manual_seed(2))
        assert (low.calls, base.calls) == (40 - t_mid, t_mid)


def test_the_papers_ddpm16_speeds_follow_that_accounting():
    """Coursework Table 4.5: a sample's time (T - t_mid) c_16 + t_mid c_32, with c_16 from t_mid = 0 (2.53
    samples/s, all T steps at 16 px) and c_32 from the plain DDPM (1.00 samples/s, Table 4.3 Default), predicts
    the published speeds within 4 %."""
    from diffrepro.reporting.paper_values import COURSEWORK_4_5_T, COURSEWORK_TABLE_4_5

    T, rows = COURSEWORK_4_5_T, COURSEWORK_TABLE_4_5["cifar10"]["DDPM-16"]
    c16, c32 = 1 / rows[0]["Samples/s"] / T, 1 / 1.00 / T
    for t_mid, row in rows.items():
        predicted = 1 / ((T - t_mid) * c16 + t_mid * c32)
        assert predicted == pytest.approx(row["Samples/s"], rel=0.04), t_mid


# ------------------------------------------------------- fewer steps: both chains on a respaced process


def test_surrogate_chain_without_steps_is_the_process_itself(diffusion):
    for steps in (None, 40, 100):
        chain, m = surrogate_chain(diffusion, 25, steps)
        assert chain is diffusion and m == 25
    with pytest.raises(ValueError, match="t_mid must be in"):
        surrogate_chain(diffusion, 41, 4)


@pytest.mark.parametrize("t_mid", [0, 1, 10, 17, 39, 40])
def test_respaced_chains_call_the_network_at_their_kept_steps_and_meet_at_the_handover(diffusion, t_mid):
    """K = 4: the kept steps are space_timesteps(40, 4) = [0, 13, 26, 39] plus t_mid - 1 and t_mid; the
    low-resolution chain calls the steps from the top down to t_mid (ending there), the base chain the steps below
    t_mid (starting at t_mid - 1, whose state is q(x_{t_mid-1} | x~0) with the generator's first draw)."""
    kept = sorted({0, 13, 26, 39} | {s for s in (t_mid - 1, t_mid) if 0 <= s < 40})
    chain, m = surrogate_chain(diffusion, t_mid, 4)
    assert list(chain.use_timesteps) == kept and m == sum(s < t_mid for s in kept)
    low, base = Counting(), Counting()
    lowres_handover(chain, low, (6, 1, 8, 8), m, generator=torch.Generator().manual_seed(5))
    assert low.steps == [s for s in reversed(kept) if s >= t_mid] * (t_mid < 40)
    first = {}

    def spy(x, t):
        first.setdefault("x", x.clone())
        return base(x, t)

    x0 = x0_tilde()
    out = surrogate_reverse(chain, spy, x0, m, generator=torch.Generator().manual_seed(3))
    assert base.steps == [s for s in reversed(kept) if s < t_mid]
    if t_mid == 0:
        assert torch.equal(out, x0)
    elif t_mid < 40:
        z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
        ab = torch.cumprod(1 - linear_betas(40).double(), 0)[t_mid - 1]
        assert torch.allclose(first["x"], (math.sqrt(ab) * x0 + math.sqrt(1 - ab) * z).float(), atol=1e-6)


def test_respaced_base_chain_has_the_closed_form_moments_of_its_process():
    """Data N(mu, s^2) per pixel, x~0 drawn from it, the exact eps (on original steps) and fixed_small variances:
    the base chain from t_mid on its 6 kept steps below t_mid returns the moments of that process, computed here by
    propagating mean and variance through each step's linear map (x0_hat, the posterior mean, beta_tilde noise)."""
    T, t_mid, mu, s = 200, 120, 0.3, 0.15
    base = GaussianDiffusion(linear_betas(T))
    ab = torch.cumprod(1 - linear_betas(T).double(), 0)

    def exact_eps(x, t):
        a = ab[t].view(-1, 1, 1, 1).to(x.dtype)
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * s * s + 1 - a)

    chain, m = surrogate_chain(base, t_mid, 8)
    kept = list(chain.use_timesteps)[:m]
    assert kept == [0, 28, 57, 85, 114, 119]  # space_timesteps(200, 8) below 120, and t_mid - 1
    x0 = mu + s * torch.randn(40, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = surrogate_reverse(chain, exact_eps, x0, m, generator=torch.Generator().manual_seed(1))
    # independent moment propagation
    a = float(ab[kept[-1]])
    mean, var = math.sqrt(a) * mu, a * s * s + 1 - a
    for i in range(m - 1, -1, -1):
        a = float(ab[kept[i]])
        a_prev = float(ab[kept[i - 1]]) if i > 0 else 1.0
        k = (1 - a) / (a * s * s + 1 - a)  # x0_hat = ((1 - k) x + k sqrt(a) mu) / sqrt(a)
        A, B = (1 - k) / math.sqrt(a), k * mu
        beta = 1 - a / a_prev
        c1, c2 = math.sqrt(a_prev) * beta / (1 - a), math.sqrt(a / a_prev) * (1 - a_prev) / (1 - a)
        noise = (1 - a_prev) / (1 - a) * beta if i > 0 else 0.0
        mean, var = (c1 * A + c2) * mean + c1 * B, (c1 * A + c2) ** 2 * var + noise
    n = out.numel()
    assert abs(out.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert abs(out.var().item() - var) < 5 * var * math.sqrt(2 / (n - 1))


# ----------------------------------------------------------------------- the sample-surrogate step


@pytest.mark.parametrize("steps", [None, 3])
def test_sample_surrogate_step_runs_the_chains_of_each_t_mid(tmp_path, monkeypatch, steps):
    """The tiny preset's DDPM-16 surrogate (4 px, T=40) and base model (8 px): for each t_mid = 0, 10, 20, 30 the
    low-resolution chain calls the network from the top down to t_mid and the base chain below it, every step or
    (``surrogate.steps``) those of chain_steps; the metadata says which, and the images have the data's shape."""
    from pathlib import Path

    import yaml

    from diffrepro.artifacts.ddgm import weights_metadata
    from diffrepro.cli import main as cli_main
    from diffrepro.config import model_config
    from diffrepro.diffusion.surrogate import chain_steps
    from diffrepro.factory import build_unet
    from diffrepro.models import unet as unet_module
    from diffrepro.tensorfile import read, read_metadata, save_safetensors

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/tiny.yaml").read_text())
    config["surrogate"].update(num_samples=3, batch_size=3, steps=steps)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(config))
    for name, size in (("ddgm_a", 8), ("ddgm_half", 4)):
        mcfg = model_config(config, name)
        torch.manual_seed(0)
        net = build_unet(mcfg, image_size=size, channels=1)
        meta = weights_metadata(name, mcfg, {"dataset": "digits"}, size, 1, 20, 1)
        if name == "ddgm_half":
            meta["data_image_size"] = "8"
        save_safetensors(net.state_dict(), tmp_path / f"{name}.safetensors", meta)
    seen: list[tuple[int, int]] = []  # (image size, step) of every network call
    original = unet_module.UNet.forward

    def counting(self, x, t):
        seen.append((x.shape[-1], int(t[0])))
        return original(self, x, t)

    monkeypatch.setattr(unet_module.UNet, "forward", counting)
    rc = cli_main(
        ["sample-surrogate", "--params", str(params), "--surrogate", "ddgm_half",
         "--surrogate-weights", str(tmp_path / "ddgm_half.safetensors"),
         "--base-weights", str(tmp_path / "ddgm_a.safetensors"), "--out", str(tmp_path / "out.safetensors"),
         "--grid", str(tmp_path / "grid.png"), "--device", "cpu"]
    )  # fmt: skip
    assert rc in (0, None)
    expected = []
    for t_mid in (0, 10, 20, 30):
        kept = (
            list(range(40)) if steps is None else sorted({0, 20, 39} | {t_mid - 1, t_mid} - {-1})
            # space_timesteps(40, 3) = [0, 20, 39], plus the hand-over steps
        )
        assert kept == chain_steps(40, t_mid, steps)
        expected += [(4, s) for s in reversed(kept) if s >= t_mid] + [(8, s) for s in reversed(kept) if s < t_mid]
    assert seen == expected
    meta = read_metadata(tmp_path / "out.safetensors")
    assert meta.get("steps") == (None if steps is None else "3") and meta["t_mid"] == "0,10,20,30"
    images, _ = read(tmp_path / "out.safetensors")
    assert images["images_tmid20"].shape == images["surrogate_images_tmid20"].shape == (3, 1, 8, 8)
