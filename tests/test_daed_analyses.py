"""DAED analyses: target sets, the "DDGM reverse from s vs DAE once" comparison, and the
reconstruction / transferability / toy-examples steps end to end on tiny models (8x8, T=40)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from diffrepro.analysis.image_quality import mae, ms_ssim, to_unit_range
from diffrepro.analysis.loading import AnalysisInputError, load_posthoc_dae
from diffrepro.analysis.transferability import Denoiser, compare_denoisers, reverse_from
from diffrepro.artifacts.ddgm import weights_metadata
from diffrepro.cli import main
from diffrepro.config import load_config, model_config
from diffrepro.data import load_dataset, load_processed, save_processed
from diffrepro.data.processed import resize_images
from diffrepro.data.targets import (
    LUMA_WEIGHTS,
    conform_images,
    load_target_set,
    photo_images,
    select_indices,
)
from diffrepro.diffusion.daed import dae_input
from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.schedules import alphas_cumprod, get_beta_schedule, split_step
from diffrepro.factory import build_unet
from diffrepro.posthoc import ddgm_split_step
from diffrepro.reporting.table2 import DEJA_TABLE2, table2_block, table2_markdown
from diffrepro.tensorfile import read, save_safetensors


# ----------------------------------------------------------------------------- target sets
@pytest.fixture(scope="module")
def digits_test():
    ds = load_dataset("digits")
    return torch.from_numpy(ds.splits["test"].images)


def test_in_domain_target_is_a_deterministic_subset_of_the_processed_test_split(digits_test):
    a = load_target_set("digits", 6, seed=3, source_dataset="digits", source_test_images=digits_test)
    b = load_target_set("digits", 6, seed=3, source_dataset="digits", source_test_images=digits_test)
    c = load_target_set("digits", 6, seed=4, source_dataset="digits", source_test_images=digits_test)
    assert a.in_domain and a.n == 6 and a.available == digits_test.shape[0]
    assert a.images.dtype == torch.uint8 and a.images.shape == (6, 1, 8, 8)
    assert list(a.indices) == sorted(set(a.indices)) and a.indices == b.indices and a.indices != c.indices
    assert torch.equal(a.images, digits_test[list(a.indices)]) and torch.equal(a.images, b.images)
    # a smaller request is a subset of a larger one (the first entries of the same permutation)
    small = load_target_set("digits", 3, seed=3, source_dataset="digits", source_test_images=digits_test)
    assert set(small.indices) <= set(a.indices)


def test_out_of_domain_target_is_converted_to_the_source_format(digits_test):
    t = load_target_set("lfw_subset", 5, seed=0, source_dataset="digits", source_test_images=digits_test)
    assert not t.in_domain and t.available == 40
    assert t.images.dtype == torch.uint8 and t.images.shape == (5, 1, 8, 8)
    assert int(t.images.min()) >= 0 and int(t.images.max()) <= 255 and t.images.float().std() > 5
    # grey 25x25 -> grey 8x8: the filter that wrote the processed data set, applied to the chosen faces
    raw = load_dataset("lfw_subset").splits["test"].images[list(t.indices)]
    assert torch.equal(t.images, torch.from_numpy(resize_images(raw, 8)))
    again = load_target_set("lfw_subset", 5, seed=0, source_dataset="digits", source_test_images=digits_test)
    assert torch.equal(t.images, again.images)
    # too few images: all of them
    every = load_target_set("lfw_subset", 500, seed=0, source_dataset="digits", source_test_images=digits_test)
    assert every.n == 40 and every.indices == tuple(range(40))


def test_conform_images_channels_crop_and_resize():
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (2, 3, 6, 10), generator=g, dtype=torch.uint8)
    grey = conform_images(rgb, 1, 6)  # centre crop 6x6 (columns 2..7), no resize, BT.601 luma
    w = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    expected = (rgb[..., 2:8].float() * w).sum(1, keepdim=True).round().to(torch.uint8)
    assert grey.dtype == torch.uint8 and torch.equal(grey, expected)
    as_rgb = conform_images(grey, 3, 6)
    assert as_rgb.shape == (2, 3, 6, 6) and torch.equal(as_rgb[:, 0], as_rgb[:, 2]) and torch.equal(as_rgb[:, :1], grey)
    small = conform_images(rgb, 3, 3)
    ref = F.interpolate(rgb[..., 2:8].float(), size=(3, 3), mode="bilinear", antialias=True, align_corners=False)
    assert torch.equal(small, ref.round().clamp(0, 255).to(torch.uint8))
    assert conform_images(grey, 1, 6) is grey  # already in format: unchanged
    with pytest.raises(ValueError):
        conform_images(rgb.float(), 1, 4)


def test_select_indices_and_photos():
    idx = select_indices(100, 10, 0, "x")
    assert len(idx) == 10 == len(set(idx)) and idx == sorted(idx) and all(0 <= i < 100 for i in idx)
    assert idx == select_indices(100, 10, 0, "x") and idx != select_indices(100, 10, 0, "y")
    photos = photo_images(["camera", "astronaut"], 3, 8)
    assert photos.dtype == torch.uint8 and photos.shape == (2, 3, 8, 8)
    assert torch.equal(photos[0, 0], photos[0, 1])  # the grey camera repeated to RGB
    assert not torch.equal(photos[1, 0], photos[1, 1])
    assert photo_images(["coins"], 1, 8).shape == (1, 1, 8, 8)  # 303x384 grey: crop, then resize
    with pytest.raises(ValueError, match="unknown photo"):
        photo_images(["nope"], 1, 8)


# ----------------------------------------------------------------------------- the comparison
class Recorder(torch.nn.Module):
    """Stand-in network: records every call, returns ``scale * x``."""

    def __init__(self, scale=0.0):
        super().__init__()
        self.scale = scale
        self.ts = []

    def forward(self, x, t):
        self.ts.append(t.clone())
        return self.scale * x


def _x0(n=4, c=1, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, size, size, generator=g)
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False) * 2 - 1


def test_dae_branch_calls_the_network_once_and_ddgm_branch_s_plus_one_times():
    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))
    x0 = _x0()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    dae, ddgm = Recorder(0.1), Recorder(0.1)
    s = 4
    res = compare_denoisers(
        x0,
        [
            Denoiser("ddgm", "ddgm", ddgm, diffusion, s, generator=torch.Generator().manual_seed(2)),
            Denoiser("dae", "dae", dae, diffusion, s),
        ],
        noise,
        batch_size=8,
        keep=4,
    )
    assert len(dae.ts) == 1 and dae.ts[0].shape == (4,) and bool((dae.ts[0] == s).all())
    assert [int(t[0]) for t in ddgm.ts] == list(range(s, -1, -1))
    # batches of 3 -> ceil(4 / 3) = 2 DAE calls
    dae2 = Recorder(0.1)
    compare_denoisers(x0, [Denoiser("dae", "dae", dae2, diffusion, s)], noise, batch_size=3)
    assert len(dae2.ts) == 2
    # the two denoisers saw the same x_s (same schedule, one shared noise draw)
    torch.testing.assert_close(res.noisy["ddgm"], res.noisy["dae"], rtol=0, atol=0)
    torch.testing.assert_close(res.noisy["dae"], dae_input(diffusion, x0, s, noise), rtol=0, atol=0)
    assert res.split_steps == {"ddgm": s, "dae": s} and res.mae["dae"].shape == (4,)


def test_split_zero_oneshot_equals_reverse_step_and_metrics_match_hand_computation():
    T = 40
    diffusion = GaussianDiffusion(get_beta_schedule("linear", T))
    x0 = _x0(n=3, seed=5)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(6))
    model = Recorder(0.0)  # eps = 0: the reconstruction is x_0 / sqrt(ab_0), clamped
    res = compare_denoisers(
        x0,
        [
            Denoiser("ddgm", "ddgm", model, diffusion, 0, generator=torch.Generator().manual_seed(0)),
            Denoiser("dae", "dae", model, diffusion, 0),
        ],
        noise,
        batch_size=2,
        keep=3,
    )
    ab0 = float(alphas_cumprod(get_beta_schedule("linear", T))[0])
    x_s = math.sqrt(ab0) * x0 + math.sqrt(1 - ab0) * noise
    rec = (x_s / math.sqrt(ab0)).clamp(-1, 1)
    torch.testing.assert_close(res.reconstructions["dae"], rec, rtol=1e-6, atol=1e-6)
    # at s = 0 the reverse process is one noiseless step whose mean is the clamped x0 estimate
    torch.testing.assert_close(res.reconstructions["ddgm"], res.reconstructions["dae"], rtol=1e-6, atol=1e-6)
    ref, out = to_unit_range(x0), to_unit_range(rec)
    torch.testing.assert_close(res.mae["dae"], mae(ref, out), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(res.ms_ssim["dae"], ms_ssim(ref, out, 1.0), rtol=1e-6, atol=1e-9)
    by_hand = (ref.double() - out.double()).abs().mean(dim=(1, 2, 3)).numpy()
    row = {r["name"]: r for r in res.summary()}["dae"]
    assert row["n"] == 3 and row["split_step"] == 0
    assert row["mae_mean"] == pytest.approx(by_hand.mean(), rel=1e-6)
    assert row["mae_sem"] == pytest.approx(by_hand.std(ddof=1) / math.sqrt(3), rel=1e-5)

    # an oracle that knows the noise reconstructs exactly: MAE 0, MS-SSIM 1, for both branches
    class Oracle(torch.nn.Module):
        def forward(self, x, t):
            return noise[: x.shape[0]]

    exact = compare_denoisers(
        x0,
        [Denoiser("ddgm", "ddgm", Oracle(), diffusion, 0), Denoiser("dae", "dae", Oracle(), diffusion, 0)],
        noise,
        batch_size=8,
    )
    for name in ("ddgm", "dae"):
        assert float(exact.mae[name].max()) < 1e-6
        torch.testing.assert_close(exact.ms_ssim[name], torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-5)


def test_reverse_from_matches_hand_loop_and_respects_its_generator():
    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))
    x = _x0(n=2)
    model = Recorder(0.3)
    a = reverse_from(diffusion, model, x, 5, variance="fixed_small", generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    ref = x
    for step in range(5, -1, -1):
        ref = diffusion.p_sample(model, ref, torch.full((2,), step), variance="fixed_small", generator=g)
    torch.testing.assert_close(a, ref.clamp(-1, 1), rtol=0, atol=0)
    b = reverse_from(diffusion, model, x, 5, variance="fixed_small", generator=torch.Generator().manual_seed(10))
    assert not torch.equal(a, b)


def test_reverse_from_on_fewer_steps_visits_its_kept_steps_with_the_closed_form_moments():
    """``steps=K``: the respaced chain on space_timesteps(s + 1, K) and s (the network sees those original steps,
    from s down); K >= s + 1 is the full chain. Data N(mu, sd^2) per pixel, x_s drawn from q(x_s | x_0) and the
    exact eps (original steps): the output has the moments of that respaced process, propagated step by step
    through the linear maps of x0_hat, the posterior mean and its beta_tilde noise."""
    from diffrepro.analysis.transferability import reverse_steps

    T, s, mu, sd = 200, 120, 0.3, 0.15
    assert reverse_steps(s, None) == reverse_steps(s, 121) == list(range(121))
    assert reverse_steps(s, 4) == [0, 40, 80, 120] and reverse_steps(s, 3) == [0, 60, 120]
    assert reverse_steps(7, 3) == [0, 4, 7]  # space_timesteps(8, 3) = [0, 4, 7]
    diffusion = GaussianDiffusion(get_beta_schedule("linear", T))
    ab = torch.cumprod(1 - get_beta_schedule("linear", T).double(), 0)
    seen = []

    def exact_eps(x, t):
        seen.append(int(t[0]))
        a = ab[t].view(-1, 1, 1, 1).to(x.dtype)
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * sd * sd + 1 - a)

    g = torch.Generator().manual_seed(0)
    x0 = mu + sd * torch.randn(40, 1, 32, 32, generator=g, dtype=torch.float64)
    a_s = float(ab[s])
    x_s = a_s**0.5 * x0 + (1 - a_s) ** 0.5 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    kept = reverse_steps(s, 5)
    out = reverse_from(diffusion, exact_eps, x_s, s, variance="fixed_small", generator=g, steps=5)
    assert seen == kept[::-1]
    mean, var = a_s**0.5 * mu, a_s * sd * sd + 1 - a_s
    for i in range(len(kept) - 1, -1, -1):
        a = float(ab[kept[i]])
        a_prev = float(ab[kept[i - 1]]) if i > 0 else 1.0
        k = (1 - a) / (a * sd * sd + 1 - a)  # x0_hat = ((1 - k) x + k sqrt(a) mu) / sqrt(a)
        A, B = (1 - k) / a**0.5, k * mu
        beta = 1 - a / a_prev
        c1, c2 = a_prev**0.5 * beta / (1 - a), (a / a_prev) ** 0.5 * (1 - a_prev) / (1 - a)
        mean = (c1 * A + c2) * mean + c1 * B
        var = (c1 * A + c2) ** 2 * var + ((1 - a_prev) / (1 - a) * beta if i > 0 else 0.0)
    n = out.numel()
    assert abs(out.mean().item() - mean) < 5 * (var / n) ** 0.5
    assert abs(out.var().item() - var) < 5 * var * (2 / (n - 1)) ** 0.5
    # the full chain is the default
    seen.clear()
    reverse_from(diffusion, exact_eps, x_s[:1], s, variance="fixed_small", generator=g, steps=500)
    assert seen == list(range(s, -1, -1))


def test_denoiser_rejects_bad_split_and_kind():
    diffusion = GaussianDiffusion(get_beta_schedule("linear", 40))
    with pytest.raises(ValueError, match="split step"):
        Denoiser("d", "dae", Recorder(), diffusion, 40)
    with pytest.raises(ValueError, match="kind"):
        Denoiser("d", "vae", Recorder(), diffusion, 1)


def test_table2_markdown_layout():
    rows = [
        {
            "model": m,
            "target": t,
            "mae_mean": 0.1 + i,
            "mae_sem": 0.01,
            "ms_ssim_mean": 0.9,
            "ms_ssim_sem": float("nan"),
        }
        for i, m in enumerate(["a", "DAED"])
        for t in ["digits", "lfw_subset"]
    ]
    block = table2_block(
        rows, source="digits", targets=["digits", "lfw_subset"], models=["a", "DAED"], labels={"a": "DDGM a"}
    )
    other = table2_block(rows[:2], source="faces", targets=["digits"], models=["a", "b"], title="Source faces")
    md = table2_markdown([block, other], title="T2")
    lines = md.splitlines()
    assert lines[0] == "# T2" and lines[2] == "## Source digits"  # a block per source, in order
    assert lines[4].startswith("| Source | Model | digits MAE") and lines[4].count("|") == 7
    assert lines[6] == "| digits | DDGM a | 0.100 ± 0.010 | 0.900 | 0.100 ± 0.010 | 0.900 |"
    assert lines[7].startswith("|  | DAED | 1.100 ± 0.010")
    assert "| faces | a | 0.100 ± 0.010 | 0.900 |\n|  | b | n/a | n/a |" in md  # a missing pair reads n/a
    assert md.index("## Source faces") < md.index("## Published values")
    assert "|  | DAED | 0.065 | 0.97 | 0.074 | 0.97 | 0.068 | 0.97 |" in md and "| CIFAR10 | DDGM VLB | 0.091" in md
    assert "| ImageNet | DDGM VLB | 0.113 | 0.93 |" in md  # both published sources
    assert "not comparable" in md and DEJA_TABLE2["CIFAR10"]["DDGM VLB"]["CIFAR10"] == (0.091, 0.94)


def test_transfer_models_follow_the_papers_rows():
    from diffrepro.steps.transferability import parse_ddgm_args, transfer_models

    assert transfer_models({"simple": "a", "vlb": "b"}) == [("b", "DDGM VLB"), ("a", "DDGM Simple")]
    assert transfer_models({"simple": "a", "vlb": "a"}) == [("a", "DDGM VLB")]
    assert transfer_models(["x", "y", "x"]) == [("x", None), ("y", None)]
    assert parse_ddgm_args(["a=p/a", "b=p=b"], ["b", "a"]) == {"b": "p=b", "a": "p/a"}
    for bad in (["a=p"], ["a=p", "b=q", "a=r"], ["a", "b=q"], ["a=p", "c=q"]):
        with pytest.raises(AnalysisInputError):
            parse_ddgm_args(bad, ["a", "b"])


# ----------------------------------------------------------------------------- the steps, end to end
ANALYSIS = {
    "reconstruction": {
        "fraction": 0.2,
        "points": 3,
        "images": 3,
        "panels": {
            "digits": {"data": "digits", "model": "ddgm_a", "targets": ["digits", "lfw_subset"]},
            "vlb": {"data": "digits", "model": "ddgm_vlb", "targets": ["digits"]},
        },
    },
    "transferability": {
        "beta_1": 0.1,
        "images": 3,
        "sources": {
            "digits": {
                "data": "digits",
                "posthoc": "digits",
                "models": {"vlb": "ddgm_vlb", "simple": "ddgm_a"},
                "targets": ["digits", "lfw_subset"],
            }
        },
        "figures": {
            "digits_pair": {
                "target": "digits",
                "columns": [{"source": "digits", "model": "simple"}, {"source": "digits", "model": "DAED"}],
            }
        },
    },
    "toy_examples": {"posthoc": "digits", "beta_1": 0.1, "model": "ddgm_a", "photos": ["camera", "astronaut", "coins"]},
}
DAED = {
    "posthoc": {
        "studies": {"digits": {"data": "digits", "generator": "ddgm_a"}},
        "split_points": [0.1, "linear"],
        "train": {
            "steps": 2,
            "batch_size": 4,
            "lr": 0.001,
            "weight_decay": 0.0,
            "grad_clip": 1.0,
            "ema_decay": 0.9,
            "checkpoint_every": 2,
            "log_every": 1,
        },
    }
}


def _perturbed_state(mcfg, seed, channels=1):
    torch.manual_seed(seed)
    m = build_unet(mcfg, image_size=8, channels=channels)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))  # the fresh output heads are zero
    return m.state_dict()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_config_module):
    tmp = tmp_path_factory.mktemp("daed_analyses")
    cfg = dict(tiny_config_module)
    cfg["analysis"] = {**cfg["analysis"], **ANALYSIS}
    cfg["daed"] = DAED
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump(cfg, sort_keys=False))
    config = load_config(params)
    data = tmp / "dataset.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    meta = {"dataset": "digits"}
    weights = {}
    for i, name in enumerate(["ddgm_a", "ddgm_vlb"]):
        mcfg = model_config(config, name)
        state = _perturbed_state(mcfg, i)
        weights[name] = tmp / f"{name}.safetensors"
        save_safetensors(state, weights[name], weights_metadata(name, mcfg, meta, 8, 1, 20, 1))
    gen = model_config(config, "ddgm_a")
    s = ddgm_split_step(gen, 0.1)

    def dae_file(path, beta="0.1", step=s):
        md = weights_metadata("ddgm_a", gen, meta, 8, 1, 2, 1)
        md.update({"split_step": str(step), "split": "b0.1", "beta_1": beta, "generator": "ddgm_a"})
        save_safetensors(_perturbed_state(gen, 7), path, md)
        return path

    return {
        "tmp": tmp,
        "params": params,
        "config": config,
        "data": data,
        "weights": weights,
        "split": s,
        "dae": dae_file(tmp / "dae_b0.1.safetensors"),
        "dae_file": dae_file,
    }


@pytest.fixture(scope="module")
def tiny_config_module():
    with open(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml") as fh:
        return yaml.safe_load(fh)


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _png(path):
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.load()
        return im.size


def test_split_step_of_the_tiny_generator_is_not_trivial(workspace):
    T = model_config(workspace["config"], "ddgm_a").timesteps
    s = workspace["split"]
    assert 0 < s < T // 2
    assert s == split_step(alphas_cumprod(get_beta_schedule("linear", T)), 0.1)


def test_reconstruction_step_end_to_end(workspace):
    out = workspace["tmp"] / "rec"
    rc = main(
        [
            "reconstruction",
            "--params",
            str(workspace["params"]),
            "--log",
            str(out / "log.txt"),
            "--device",
            "cpu",
            "--panel",
            "digits",
            "--weights",
            str(workspace["weights"]["ddgm_a"]),
            "--data",
            str(workspace["data"]),
            "--out-csv",
            str(out / "rec.csv"),
            "--out-json",
            str(out / "rec.json"),
        ]
    )
    assert rc == 0
    rows = _csv(out / "rec.csv")
    assert list(rows[0]) == [
        "target",
        "in_domain",
        "t",
        "t_fraction",
        "mae_mean",
        "mae_sem",
        "ms_ssim_mean",
        "ms_ssim_sem",
    ]
    assert [(r["target"], r["in_domain"], int(r["t"])) for r in rows] == [
        ("digits", "true", 0),
        ("digits", "true", 3),
        ("digits", "true", 6),
        ("lfw_subset", "false", 0),
        ("lfw_subset", "false", 3),
        ("lfw_subset", "false", 6),
    ]
    for r in rows:
        assert float(r["t_fraction"]) == pytest.approx((int(r["t"]) + 1) / 40)
        assert 0 <= float(r["mae_mean"]) <= 1 and float(r["mae_sem"]) >= 0 and -1 <= float(r["ms_ssim_mean"]) <= 1
    summary = json.loads((out / "rec.json").read_text())
    assert summary["steps"] == [0, 3, 6] and summary["timesteps"] == 40
    assert summary["model"] == "ddgm_a" and summary["panel"] == "digits"
    assert summary["targets"]["digits"]["in_domain"] and summary["targets"]["lfw_subset"]["n"] == 3
    lfw = summary["targets"]["lfw_subset"]
    assert lfw["mae_minus_in_domain"] == pytest.approx(
        [a - b for a, b in zip(lfw["mae"], summary["targets"]["digits"]["mae"])]
    )
    # same inputs, same numbers (seeded image choice and noise)
    rc = main(
        [
            "reconstruction",
            "--params",
            str(workspace["params"]),
            "--device",
            "cpu",
            "--panel",
            "digits",
            "--weights",
            str(workspace["weights"]["ddgm_a"]),
            "--data",
            str(workspace["data"]),
            "--out-csv",
            str(out / "rec2.csv"),
            "--out-json",
            str(out / "rec2.json"),
        ]
    )
    assert rc == 0 and (out / "rec2.csv").read_text() == (out / "rec.csv").read_text()
    # a panel the parameters do not hold is refused by name
    argv = ["reconstruction", "--params", str(workspace["params"]), "--device", "cpu", "--panel", "cifar"]
    argv += ["--weights", str(workspace["weights"]["ddgm_a"]), "--data", str(workspace["data"])]
    argv += ["--out-csv", str(out / "x.csv"), "--out-json", str(out / "x.json")]
    assert main(argv) == 1 and not (out / "x.csv").exists()

    # the figure: a column per panel, in the parameters' order; a missing panel's CSV is named
    panels = out / "panels"
    panels.mkdir()
    (panels / "digits.csv").write_text((out / "rec.csv").read_text())
    figure = ["reconstruction-figure", "--params", str(workspace["params"]), "--panels", str(panels)]
    figure += ["--out-png", str(out / "fig.png")]
    assert main(figure) == 1 and not (out / "fig.png").exists()  # the vlb panel's CSV is missing
    (panels / "vlb.csv").write_text(
        "".join(line for line in (out / "rec.csv").read_text().splitlines(keepends=True) if "lfw" not in line)
    )
    assert main(figure) == 0
    width, height = _png(out / "fig.png")
    assert width > height and (out / "fig.svg").stat().st_size > 0  # two columns side by side
    from diffrepro.steps.reconstruction_figure import read_panel

    assert list(read_panel(panels / "digits.csv")) == ["digits", "lfw_subset"]
    assert list(read_panel(panels / "vlb.csv")) == ["digits"]


def test_transferability_step_end_to_end(workspace):
    out = workspace["tmp"] / "tr"
    w = workspace["weights"]
    rc = main(
        [
            "transferability",
            "--params",
            str(workspace["params"]),
            "--log",
            str(out / "log.txt"),
            "--device",
            "cpu",
            "--source",
            "digits",
            "--ddgm",
            f"ddgm_a={w['ddgm_a']}",
            "--ddgm",
            f"ddgm_vlb={w['ddgm_vlb']}",
            "--dae",
            str(workspace["dae"]),
            "--data",
            str(workspace["data"]),
            "--out-csv",
            str(out / "digits.csv"),
            "--out-json",
            str(out / "digits.json"),
            "--out-png",
            str(out / "t.png"),
            "--out-examples",
            str(out / "digits_examples.safetensors"),
        ]
    )
    assert rc == 0
    rows = _csv(out / "digits.csv")
    assert list(rows[0]) == [
        "source",
        "model",
        "target",
        "split_step",
        "mae_mean",
        "mae_sem",
        "ms_ssim_mean",
        "ms_ssim_sem",
    ]
    assert [(r["model"], r["target"]) for r in rows] == [
        (m, t) for t in ("digits", "lfw_subset") for m in ("ddgm_vlb", "ddgm_a", "DAED")
    ]  # the paper's row order
    s = workspace["split"]
    assert all(r["source"] == "digits" and int(r["split_step"]) == s for r in rows)  # both DDGMs: linear, T=40
    for r in rows:
        assert 0 <= float(r["mae_mean"]) <= 1 and -1 <= float(r["ms_ssim_mean"]) <= 1
    block = json.loads((out / "digits.json").read_text())
    assert (block["source"], block["models"]) == ("digits", ["ddgm_vlb", "ddgm_a", "DAED"])
    assert [(r["model"], r["target"]) for r in block["rows"]] == [(r["model"], r["target"]) for r in rows]
    width, height = _png(out / "t.png")
    assert width > height > 50  # 2 rows x 5 columns
    assert (out / "t.svg").read_text().count("<svg") == 1  # the figure as SVG beside the PNG

    # the kept images (the first analysis.transferability.examples of each target) and the figure made of them
    kept, meta = read(out / "digits_examples.safetensors")
    k = min(4, workspace["config"]["analysis"]["transferability"]["images"])
    models = ["ddgm_vlb", "ddgm_a", "DAED"]
    assert json.loads(meta["models"]) == models and meta["source"] == "digits"
    assert sorted(kept) == sorted(
        [f"{t}/clean" for t in ("digits", "lfw_subset")]
        + [f"{t}/{m}/{kind}" for t in ("digits", "lfw_subset") for m in models for kind in ("noisy", "reconstruction")]
    )
    assert all(v.dtype == torch.uint8 and v.shape == (k, 1, 8, 8) for v in kept.values())
    # one noise draw per image, one split step (both DDGMs and the DAE: linear, T=40): the same noisy inputs
    assert torch.equal(kept["digits/ddgm_a/noisy"], kept["digits/DAED/noisy"])
    assert not torch.equal(kept["digits/ddgm_a/reconstruction"], kept["digits/DAED/reconstruction"])
    from diffrepro.steps.transferability_figure import figure_rows

    fig_rows, row_labels, col_labels, _ = figure_rows(workspace["config"], "digits_pair", str(out))
    assert len(fig_rows) == k and col_labels == [
        "clean",
        "noisy",
        f"digits DDGM simple (s={s})",
        f"digits DAED (s={s})",
    ]
    for i, row in enumerate(fig_rows):
        expected = [kept["digits/clean"][i], kept["digits/ddgm_a/noisy"][i], kept["digits/ddgm_a/reconstruction"][i]]
        assert all(torch.equal(a, b) for a, b in zip(row, [*expected, kept["digits/DAED/reconstruction"][i]]))
    figure = ["transferability-figure", "--params", str(workspace["params"]), "--figure", "digits_pair"]
    assert main([*figure, "--examples-dir", str(out), "--out-png", str(out / "f.png")]) == 0
    assert _png(out / "f.png")[1] > 50 and (out / "f.svg").stat().st_size > 0
    assert main([*figure, "--examples-dir", str(out / "none"), "--out-png", str(out / "g.png")]) == 1
    assert not (out / "g.png").exists()
    with pytest.raises(AnalysisInputError, match="'fig6a' is not one of analysis.transferability.figures"):
        figure_rows(workspace["config"], "fig6a", str(out))

    # Table 2: the source's block beside the published ones, as Markdown, LaTeX and HTML
    table = ["transferability-table", "--params", str(workspace["params"]), "--sources", str(out)]
    assert main([*table, "--out-md", str(out / "t.md")]) == 0
    md = (out / "t.md").read_text()
    assert md.startswith("# Transferability (Deja et al. 2022, Table 2)\n\n## Source digits (digits)")
    assert "| Source | Model | digits MAE ↓ | digits MS-SSIM ↑ | lfw_subset MAE ↓ | lfw_subset MS-SSIM ↑ |" in md
    ours = [line for line in md.splitlines() if line.startswith("| digits |") or line.startswith("|  |")]
    assert len(ours) == 3 + 2 * 2  # our three rows, then the paper's DDGM Simple and DAED rows of two sources
    assert ours[0].startswith("| digits | DDGM VLB (ddgm_vlb, T=40, s=") and "DDGM Simple (ddgm_a" in ours[1]
    assert "DAED (post-hoc DAE of ddgm_a, beta_1=0.1, s=" in ours[2]
    daed_mae = float(next(r for r in rows if r["model"] == "DAED" and r["target"] == "digits")["mae_mean"])
    assert f"{daed_mae:.3f}" in ours[2]
    assert "| CIFAR10 | DDGM VLB | 0.091 | 0.94 |" in md and "not comparable" in md
    tex = (out / "t.tex").read_text()  # --out-tex defaults to beside --out-md: ours, then the published rows
    assert tex.count(r"\begin{tabular}") == 2
    assert r"\caption{Transferability (Deja et al. 2022, Table 2): Source digits (digits)}" in tex
    assert r"digits MAE $\downarrow$ & digits MS-SSIM $\uparrow$" in tex and f"{daed_mae:.3f} $\\pm$" in tex
    assert r"CIFAR10 & DDGM VLB & 0.091 & 0.94" in tex
    page = (out / "t.html").read_text()  # --out-html defaults to beside --out-md: ours, then the published rows
    assert page.count("<table>") == 2
    assert "<title>Transferability (Deja et al. 2022, Table 2)</title>" in page
    assert '<th scope="col">digits MAE ↓</th>' in page and f"<td>{daed_mae:.3f} ± " in page
    assert "<td>CIFAR10</td><td>DDGM VLB</td><td>0.091</td><td>0.94</td>" in page and "not comparable" in page
    # a block of another source under this source's name is refused, naming the file
    (out / "other").mkdir()
    (out / "other" / "digits.json").write_text(json.dumps({**block, "source": "faces"}))
    bad = ["transferability-table", "--params", str(workspace["params"]), "--sources", str(out / "other")]
    assert main([*bad, "--out-md", str(out / "bad.md")]) == 1 and not (out / "bad.md").exists()


def test_transferability_rejects_a_dae_of_another_noise_level_and_missing_models(workspace, tmp_path):
    w = workspace["weights"]
    wrong = workspace["dae_file"](tmp_path / "dae_b0.2.safetensors", beta="0.2")
    base = [
        "transferability",
        "--params",
        str(workspace["params"]),
        "--device",
        "cpu",
        "--data",
        str(workspace["data"]),
        "--source",
        "digits",
        "--out-csv",
        str(tmp_path / "t.csv"),
        "--out-json",
        str(tmp_path / "t.json"),
        "--out-png",
        str(tmp_path / "t.png"),
        "--out-examples",
        str(tmp_path / "t_examples.safetensors"),
    ]
    both = ["--ddgm", f"ddgm_a={w['ddgm_a']}", "--ddgm", f"ddgm_vlb={w['ddgm_vlb']}"]
    assert main(base + both + ["--dae", str(wrong)]) == 1
    assert main(base + ["--ddgm", f"ddgm_a={w['ddgm_a']}", "--dae", str(workspace["dae"])]) == 1
    assert not (tmp_path / "t.csv").exists()
    bad_step = workspace["dae_file"](tmp_path / "dae_bad.safetensors", step=workspace["split"] + 1)
    with pytest.raises(AnalysisInputError, match="split_step"):
        load_posthoc_dae(str(bad_step), workspace["config"], "cpu", beta_1=0.1)


def test_toy_examples_step_end_to_end(workspace):
    out = workspace["tmp"] / "toy"
    rc = main(
        [
            "toy-examples",
            "--params",
            str(workspace["params"]),
            "--log",
            str(out / "log.txt"),
            "--device",
            "cpu",
            "--weights",
            str(workspace["weights"]["ddgm_a"]),
            "--dae",
            str(workspace["dae"]),
            "--out-png",
            str(out / "toy.png"),
            "--out-csv",
            str(out / "toy.csv"),
        ]
    )
    assert rc == 0
    rows = _csv(out / "toy.csv")
    assert list(rows[0]) == ["photo", "model", "split_step", "mae", "ms_ssim"]
    assert [(r["photo"], r["model"]) for r in rows] == [
        (p, m) for p in ("camera", "astronaut", "coins") for m in ("ddgm_a", "DAED")
    ]
    assert all(int(r["split_step"]) == workspace["split"] for r in rows)
    assert all(0 <= float(r["mae"]) <= 1 and -1 <= float(r["ms_ssim"]) <= 1 for r in rows)
    # the DAED row is reproducible by hand: same photos, same seeded noise, the DAE once
    from diffrepro.analysis.loading import load_posthoc_dae as load
    from diffrepro.diffusion.daed import dae_predict
    from diffrepro.imaging import to_model_range
    from diffrepro.seeding import generator

    dae = load(str(workspace["dae"]), workspace["config"], "cpu", beta_1=0.1)
    x0 = to_model_range(photo_images(["camera", "astronaut", "coins"], 1, 8))
    noise = torch.randn(x0.shape, generator=generator(0, "toy-examples", "noise"))
    with torch.inference_mode():
        rec = dae_predict(dae.model, dae.diffusion, dae_input(dae.diffusion, x0, dae.split_step, noise), dae.split_step)
    expected = mae(to_unit_range(x0), to_unit_range(rec)).numpy()
    got = np.array([float(r["mae"]) for r in rows if r["model"] == "DAED"])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    width, height = _png(out / "toy.png")
    assert height > 100 and width > 100


def test_snr_step_draws_a_row_per_data_set(workspace):
    """``analysis.snr.data`` lists several data sets (Fig 8): each one's rows, summary and crossing are those of
    the closed form on its own training images, in the parameters' order; a lone name still works (Fig 1)."""
    from diffrepro.analysis.snr import snr_curve
    from diffrepro.imaging import to_model_range

    tmp = workspace["tmp"] / "snr"
    processed = tmp / "processed"
    processed.mkdir(parents=True)
    save_processed(processed / "lfw.safetensors", load_dataset("lfw_subset"), 8)
    (processed / "digits.safetensors").write_bytes(workspace["data"].read_bytes())
    cfg = yaml.safe_load(workspace["params"].read_text())
    cfg["datasets"]["lfw"] = {"dataset": "lfw_subset", "root": None, "download": False, "resolution": 8}
    T = cfg["analysis"]["snr"]["timesteps"]

    def run_snr(data, name):
        cfg["analysis"]["snr"]["data"] = data
        params = tmp / f"{name}.yaml"
        params.write_text(yaml.safe_dump(cfg, sort_keys=False))
        argv = ["snr", "--params", str(params), "--data", str(processed)]
        argv += ["--out-csv", str(tmp / f"{name}.csv"), "--out-json", str(tmp / f"{name}.json")]
        rc = main([*argv, "--out-png", str(tmp / f"{name}.png")])
        return rc, tmp / f"{name}.csv", tmp / f"{name}.json"

    rc, csv_path, json_path = run_snr(["lfw", "digits"], "both")
    assert rc == 0
    summary = json.loads(json_path.read_text())
    assert sorted(summary["datasets"]) == ["digits", "lfw"] and summary["timesteps"] == T  # canonical JSON
    rows = _csv(csv_path)
    schedules = cfg["analysis"]["snr"]["schedules"]
    assert [(r["data"], r["schedule"]) for r in rows[::T]] == [(d, s) for d in ("lfw", "digits") for s in schedules]
    for data in ("lfw", "digits"):
        images = load_processed(processed / f"{data}.safetensors")[0]["train_images"]
        for name in schedules:
            expected = snr_curve(alphas_cumprod(get_beta_schedule(name, T)), to_model_range(images))
            got = summary["datasets"][data]["schedules"][name]
            assert got["crossing_fraction"] == expected["crossing_fraction"]
            ours = [float(r["log_snr_mean"]) for r in rows if (r["data"], r["schedule"]) == (data, name)]
            np.testing.assert_allclose(ours, expected["log_snr_mean"].numpy(), rtol=1e-7)
    width, height = _png(tmp / "both.png")
    assert height > width * 0.6  # two rows of panels
    rc, csv_one, json_one = run_snr("digits", "one")
    assert rc == 0 and list(json.loads(json_one.read_text())["datasets"]) == ["digits"]
    assert _csv(csv_one) == [r for r in rows if r["data"] == "digits"]
    assert json.loads(json_one.read_text())["datasets"]["digits"] == summary["datasets"]["digits"]
    # a listed data set without its processed file is named
    cfg["datasets"]["other"] = dict(cfg["datasets"]["lfw"])
    rc, csv_bad, _ = run_snr(["digits", "other"], "bad")
    assert rc == 1 and not csv_bad.exists()
