"""Surrogate SNGAN: spectral normalisation, hinge loss, shapes, resume, NaN handling, the train-gan step."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from diffrepro.cli import main as cli_main
from diffrepro.models.sngan import SNGANDiscriminator, SNGANGenerator, upsampling_plan
from diffrepro.timing import read_timing
from diffrepro.training.ddgm import TrainingDivergedError
from diffrepro.training.gan import (
    GanWeightsError,
    d_hinge_loss,
    g_hinge_loss,
    gan_sample,
    load_gan_generator,
    train_gan,
)

CFG = {
    "z_dim": 8,
    "channels": 8,
    "train": {
        "steps": 6,
        "batch_size": 8,
        "lr_g": 0.0002,
        "lr_d": 0.0002,
        "betas": [0.0, 0.9],
        "n_dis": 2,
        "ema_decay": 0.9,
        "checkpoint_every": 2,
        "log_every": 2,
    },
}


@pytest.fixture
def images():
    return torch.randint(0, 256, (40, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def run(images, cfg, ckpt, **kw):
    return train_gan(images, cfg, seed=1, checkpoint_dir=ckpt, data_id="test", **kw)


def test_spectral_normalised_layers_of_a_trained_discriminator_have_largest_singular_value_one(images, tmp_path):
    res = run(images, {**CFG, "channels": 16}, tmp_path / "a", stop_at_step=3)
    D = res.discriminator
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 6  # 8x8: optimised block (2 convs + 1x1 shortcut), last block (2 convs), linear
    assert all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in layers)
    D.train()
    with torch.no_grad():
        for _ in range(30):  # one power iteration per training-mode forward
            D(torch.randn(2, 1, 8, 8))
    D.eval()
    with torch.no_grad():
        for m in layers:
            w = m.weight  # the effective weight W / sigma(W), with the stored singular vectors
            sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)
            assert abs(float(sigma) - 1.0) < 0.05, (m, float(sigma))
            raw = m.parametrizations.weight.original  # the unnormalised weight is not (it was trained)
            assert abs(float(torch.linalg.matrix_norm(raw.reshape(raw.shape[0], -1), ord=2)) - 1.0) > 0.05


@pytest.mark.parametrize("size, base, k", [(8, 4, 1), (16, 4, 2), (28, 7, 2), (32, 4, 3)])
def test_generator_shapes_and_range(size, base, k):
    assert upsampling_plan(size) == (base, k)
    G = SNGANGenerator(8, 8, size, 3).eval()
    out = G(torch.randn(5, 8))
    assert out.shape == (5, 3, size, size) and out.abs().max() <= 1
    assert SNGANDiscriminator(8, size, 3)(out).shape == (5,)


@pytest.mark.parametrize("size", [6, 7, 4, 36])
def test_unusable_size_is_a_clear_error(size):
    with pytest.raises(ValueError, match=f"image size {size} does not suit"):
        upsampling_plan(size)
    with pytest.raises(ValueError, match=f"image size {size} does not suit"):
        SNGANGenerator(8, 8, size, 1)


def test_hinge_losses_match_the_closed_form():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 3.0])
    # D: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 0.5 + 2)/3 + (0 + 1 + 4)/3
    assert float(d_hinge_loss(real, fake)) == pytest.approx(2.5 / 3 + 5 / 3)
    assert float(g_hinge_loss(fake)) == pytest.approx(-1 / 3)


def test_resume_after_a_kill_is_bit_identical_and_seeds_matter(images, tmp_path):
    full = run(images, CFG, tmp_path / "a")
    partial = run(images, CFG, tmp_path / "b", stop_at_step=3)  # checkpoint at 2; step 3 is lost
    assert partial.steps == 3
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["step"] == 2
    resumed = run(images, CFG, tmp_path / "b")
    assert resumed.resumed_from == 2
    for k in full.ema_state:
        assert torch.equal(full.ema_state[k], resumed.ema_state[k]), k
    for k, v in full.generator.state_dict().items():
        assert torch.equal(v, resumed.generator.state_dict()[k]), k
    assert full.history == resumed.history and [h["step"] for h in full.history] == [2, 4, 6]
    again = run(images, CFG, tmp_path / "c")
    assert again.resumed_from == 0
    assert all(torch.equal(full.ema_state[k], again.ema_state[k]) for k in full.ema_state)
    other = train_gan(images, CFG, seed=2, checkpoint_dir=tmp_path / "d", data_id="test")
    assert any(not torch.equal(full.ema_state[k], other.ema_state[k]) for k in full.ema_state)


def test_raising_steps_continues_the_run(images, tmp_path):
    full = run(images, CFG, tmp_path / "a")
    shorter = copy.deepcopy(CFG)
    shorter["train"]["steps"] = 4
    assert run(images, shorter, tmp_path / "b").steps == 4
    longer = run(images, CFG, tmp_path / "b")
    assert longer.resumed_from == 4 and longer.history == full.history
    assert all(torch.equal(full.ema_state[k], longer.ema_state[k]) for k in full.ema_state)


@pytest.mark.parametrize("loss, which, nth", [("g_hinge_loss", "generator", 2), ("d_hinge_loss", "discriminator", 3)])
def test_nan_stops_without_overwriting_the_last_good_checkpoint(images, tmp_path, monkeypatch, loss, which, nth):
    import diffrepro.training.gan as gan

    run(images, CFG, tmp_path / "a", stop_at_step=2)
    before = (tmp_path / "a" / "latest.json").read_text()
    calls = {"n": 0}
    real_loss = getattr(gan, loss)

    def poisoned(*logits):
        calls["n"] += 1
        out = real_loss(*logits)
        return out * float("nan") if calls["n"] == nth else out

    monkeypatch.setattr(gan, loss, poisoned)
    # resumed from step 2; the poisoned call falls in generator step 4 (n_dis=2: two D losses per step)
    with pytest.raises(TrainingDivergedError, match=f"{which} loss became nan at generator step 4.*step 2"):
        run(images, CFG, tmp_path / "a")
    assert (tmp_path / "a" / "latest.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "a").glob("step_*")) == ["step_00000002"]


def test_loading_a_mismatched_generator_names_the_file(images, tmp_path):
    from diffrepro.artifacts.gan import weights_metadata
    from diffrepro.tensorfile import save_safetensors

    res = run(images, CFG, tmp_path / "a")
    path = tmp_path / "g.safetensors"
    save_safetensors(res.ema_state, path, weights_metadata("g", CFG, {}, 8, 1, res.steps, 0))
    G, meta = load_gan_generator(path, CFG, "cpu", image_size=8, channels=1)
    assert not G.training and meta["width"] == "8"
    x = gan_sample(G, 5, z_dim=8, batch_size=2, generator=torch.Generator().manual_seed(0), device="cpu")
    y = gan_sample(G, 5, z_dim=8, batch_size=5, generator=torch.Generator().manual_seed(0), device="cpu")
    assert x.shape == (5, 1, 8, 8) and x.abs().max() <= 1 and torch.allclose(x, y, atol=1e-5)
    for cfg, kw, message in [
        ({**CFG, "channels": 16}, {}, "width=8 but gans.*.channels says 16"),
        ({**CFG, "z_dim": 4}, {}, "z_dim=8 but gans.*.z_dim says 4"),
        (CFG, {"image_size": 16}, "image_size=8 but the data says 16"),
        (CFG, {"channels": 3}, "channels=1 but the data says 3"),
    ]:
        with pytest.raises(GanWeightsError, match=f"{path}.*{message}"):
            load_gan_generator(path, cfg, "cpu", **kw)
    other = tmp_path / "unet.safetensors"
    save_safetensors(res.ema_state, other, {"model": "ddgm_a", "image_size": "8"})
    with pytest.raises(GanWeightsError, match=f"{other} is not an SNGAN generator"):
        load_gan_generator(other, CFG, "cpu")
    broken = tmp_path / "broken.safetensors"
    save_safetensors(
        {k: v for k, v in res.ema_state.items() if not k.startswith("out.")},
        broken,
        weights_metadata("g", CFG, {}, 8, 1, res.steps, 0),
    )
    with pytest.raises(GanWeightsError, match=f"{broken} does not hold the generator"):
        load_gan_generator(broken, CFG, "cpu")
    with pytest.raises(GanWeightsError, match="cannot read"):
        load_gan_generator(tmp_path / "missing.safetensors", CFG, "cpu")


def test_train_gan_step_writes_every_output(tmp_path, tiny_config, capsys, monkeypatch):
    from diffrepro.data import load_dataset, save_processed

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_config))
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    out = tmp_path / "out"
    args = [
        "--data",
        str(data),
        "--checkpoint-dir",
        str(out / "ck"),
        "--weights",
        str(out / "g.safetensors"),
        "--loss-csv",
        str(out / "loss.csv"),
        "--summary",
        str(out / "summary.json"),
        "--timing",
        str(out / "timing.json"),
        "--grid",
        str(out / "grid.png"),
        "--params",
        str(params),
        "--device",
        "cpu",
    ]
    assert cli_main(["train-gan", "--gan", "nope", *args]) == 1
    assert "--gan 'nope' is not a key of gans (sngan)" in capsys.readouterr().err
    assert cli_main(["train-gan", "--gan", "sngan", *args]) == 0
    gcfg = tiny_config["gans"]["sngan"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == gcfg["train"]["steps"] and "resumed_from_step" not in summary
    assert read_timing(out / "timing.json", "train-gan sngan")["resumed_from_step"] == 0
    assert summary["parameters_generator"] > 0 and summary["parameters_discriminator"] > 0
    assert {"final_d_loss", "final_g_loss", "device"} <= set(summary) and "train_seconds_total" not in summary
    assert read_timing(out / "timing.json", "train-gan sngan")["train_seconds_total"] > 0
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,d_loss,g_loss,d_real,d_fake"
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(3, gcfg["train"]["steps"] + 1, 3))
    assert (out / "grid.png").stat().st_size > 0
    G, meta = load_gan_generator(out / "g.safetensors", gcfg, "cpu", image_size=8, channels=1)
    assert meta["gan"] == "sngan" and meta["dataset"] == "digits" and meta["steps"] == str(summary["steps"])
    assert json.loads(meta["config"]) == gcfg and int(meta["parameters"]) == summary["parameters_generator"]
    # the finished run's checkpoints are gone (scratch): a rerun trains from step 0, to the same weights
    assert not (out / "ck").exists()
    first = (out / "g.safetensors").read_bytes()
    monkeypatch.setenv("DIFFREPRO_KEEP_CHECKPOINTS", "1")
    assert cli_main(["train-gan", "--gan", "sngan", *args]) == 0
    assert read_timing(out / "timing.json", "train-gan sngan")["resumed_from_step"] == 0
    assert (out / "g.safetensors").read_bytes() == first and (out / "ck").is_dir()
    # kept, a rerun finds the final checkpoint: nothing is trained again
    assert cli_main(["train-gan", "--gan", "sngan", *args]) == 0
    assert read_timing(out / "timing.json", "train-gan sngan")["resumed_from_step"] == gcfg["train"]["steps"]
    assert (out / "g.safetensors").read_bytes() == first
