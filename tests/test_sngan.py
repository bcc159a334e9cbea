"""Surrogate SNGAN: spectral normalisation, hinge loss, shapes, resume, NaN handling, the train-gan step."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from diffrepro.cli import main as cli_main
from diffrepro.models.sngan import SNGANDiscriminator, SNGANGenerator, upsampling_plan
from diffrepro.training.ddgm import TrainingDivergedError
from diffrepro.training.gan import (GanWeightsError, d_hinge_loss, g_hinge_loss, gan_sample, load_gan_generator,
                                    train_gan)

CFG = {"z_dim": 8, "channels": 8,
       "train": {"steps": 6, "batch_size": 8, "lr_g": 0.0002, "lr_d": 0.0002, "betas": [0.0, 0.9], "n_dis": 2,
                 "ema_decay": 0.9, "checkpoint_every": 2, "log_every": 2}}


@pytest.fixture
def images():
    return torch.randint(0, 256, (40, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def run(images, cfg, ckpt, **kw):
    return train_gan(images, cfg, seed=1, checkpoint_dir=ckpt, data_id="test", **kw)


def test_spectral_normalised_layers_have_largest_singular_value_one(images, tmp_path):
    D = SNGANDiscriminator(16, 16, 1)
    D.train()
    x = torch.randn(4, 1, 16, 16)
    for _ in range(30):  # power iterations run on every training-mode forward
        D(x)
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) >= 6
    D.eval()
    with torch.no_grad():
        for m in layers:
            w = m.weight  # the normalised weight W / sigma(W)
            sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)
            assert abs(float(sigma) - 1.0) < 0.05, (m, float(sigma))


@pytest.mark.parametrize("size, base, k", [(8, 4, 1), (16, 4, 2), (28, 7, 2), (32, 4, 3)])
def test_generator_shapes_and_range(size, base, k):
    assert upsampling_plan(size) == (base, k)
    G = SNGANGenerator(8, 8, size, 3).eval()
    out = G(torch.randn(5, 8))
    assert out.shape == (5, 3, size, size) and out.abs().max() <= 1
    assert SNGANDiscriminator(8, size, 3)(out).shape == (5,)


def test_unusable_size_is_a_clear_error():
    with pytest.raises(ValueError, match="image size 6 does not suit"):
        upsampling_plan(6)


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
    other = train_gan(images, CFG, seed=2, checkpoint_dir=tmp_path / "c", data_id="test")
    assert any(not torch.equal(full.ema_state[k], other.ema_state[k]) for k in full.ema_state)


def test_nan_stops_without_overwriting_the_last_good_checkpoint(images, tmp_path, monkeypatch):
    run(images, CFG, tmp_path / "a", stop_at_step=2)
    before = (tmp_path / "a" / "latest.json").read_text()
    longer = copy.deepcopy(CFG)
    longer["train"]["steps"] = 6
    import diffrepro.training.gan as gan

    calls = {"n": 0}
    real_loss = gan.g_hinge_loss

    def poisoned(logits):
        calls["n"] += 1
        out = real_loss(logits)
        return out * float("nan") if calls["n"] == 2 else out

    monkeypatch.setattr(gan, "g_hinge_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match="generator loss became nan at generator step 4.*step 2"):
        run(images, longer, tmp_path / "a")
    assert (tmp_path / "a" / "latest.json").read_text() == before


def test_loading_a_mismatched_generator_names_the_file(images, tmp_path):
    from diffrepro.atomic import save_safetensors

    res = run(images, CFG, tmp_path / "a")
    path = tmp_path / "g.safetensors"
    save_safetensors(res.ema_state, path, {"kind": "sngan_generator", "gan_z_dim": "8", "gan_channels": "8",
                                           "image_size": "8", "image_channels": "1"})
    G, _ = load_gan_generator(path, CFG, "cpu")
    x = gan_sample(G, 5, z_dim=8, batch_size=2, generator=torch.Generator().manual_seed(0), device="cpu")
    assert x.shape == (5, 1, 8, 8)
    wide = {**CFG, "channels": 16}
    with pytest.raises(GanWeightsError, match=f"{path}.*channels=8 but params say 16"):
        load_gan_generator(path, wide, "cpu")


def test_train_gan_step_writes_every_output(tmp_path, tiny_config, capsys):
    from diffrepro.data import load_dataset, save_processed

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_config))
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    out = tmp_path / "out"
    args = ["--data", str(data), "--checkpoint-dir", str(out / "ck"), "--weights", str(out / "g.safetensors"),
            "--loss-csv", str(out / "loss.csv"), "--summary", str(out / "summary.json"), "--grid",
            str(out / "grid.png"), "--params", str(params), "--device", "cpu"]
    assert cli_main(["train-gan", "--gan", "nope", *args]) == 1
    assert "--gan 'nope' is not a key of gans (sngan)" in capsys.readouterr().err
    assert cli_main(["train-gan", "--gan", "sngan", *args]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == tiny_config["gans"]["sngan"]["train"]["steps"]
    assert (out / "loss.csv").read_text().startswith("step,d_loss,g_loss,d_real,d_fake\n")
    assert (out / "grid.png").stat().st_size > 0
    G, meta = load_gan_generator(out / "g.safetensors", tiny_config["gans"]["sngan"], "cpu")
    assert meta["gan"] == "sngan" and meta["image_size"] == "8"
