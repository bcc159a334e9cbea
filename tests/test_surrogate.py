"""Surrogate diffusion (coursework Algorithm 4): t_mid = 0 is the surrogate, t_mid = T the ordinary
reverse process, and the reverse process from t_mid makes exactly t_mid network calls."""

import math

import pytest
import torch

from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.schedules import linear_beta_schedule as linear_betas
from diffrepro.diffusion.surrogate import surrogate_reverse, t_mid_steps


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
