"""Class-conditional DDDMs (Zhang et al. 2024 Sec. 5.1: "all models on ImageNet 64x64 are conditioned on class
labels") and DDDM runs on several data sets: the U-Net's label embedding, the labels a run trains and samples
with, the weights' record of them, the per-data-set configuration rules and the table's published values per data
set (Table 1 for CIFAR-10, Table 2 for ImageNet 64)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from diffrepro.cli import main as cli_main
from diffrepro.config import ConfigError, dddm_run, validate_config
from diffrepro.diffusion.dddm import build_dddm_unet, dddm_forward, dddm_sample
from diffrepro.models.unet import UNet
from diffrepro.reporting.dddm_table import sweep_rows, table_rows
from diffrepro.training.dddm import check_labels, dddm_fingerprint

UNET = {
    "base_channels": 8,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attention_resolutions": [4],
    "num_heads": 2,
    "dropout": 0.0,
}


def _randomize(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


# ------------------------------------------------------------------------------------------------ the network
def test_a_zero_label_embedding_is_the_unconditional_network():
    """The label enters only as an addition to the time embedding: with a zero embedding the conditional U-Net
    computes exactly what the unconditional one with the same other weights does, for any label."""
    torch.manual_seed(0)
    cond = UNet(image_size=8, in_channels=2, out_channels=1, num_classes=5, **UNET)
    plain = UNet(image_size=8, in_channels=2, out_channels=1, **UNET)
    _randomize(plain, 1)
    state = plain.state_dict()
    cond.load_state_dict({**state, "label_embed.weight": torch.zeros(5, 4 * UNET["base_channels"])})
    x, t = torch.randn(3, 2, 8, 8), torch.tensor([0, 5, 9])
    with torch.no_grad():
        ref = plain(x, t)
        for labels in ([0, 1, 4], [4, 4, 4]):
            torch.testing.assert_close(cond(x, t, y=torch.tensor(labels)), ref, rtol=0, atol=0)


def test_labels_change_the_output_through_the_embedding_only():
    """Two labels whose embeddings are equal give the same output; different embeddings give different outputs;
    the output for label k equals the unconditional network's with the time embedding shifted by emb[k]."""
    cond = UNet(image_size=8, in_channels=1, out_channels=1, num_classes=3, **UNET)
    _randomize(cond, 2)
    with torch.no_grad():
        cond.label_embed.weight[2] = cond.label_embed.weight[0]
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    with torch.no_grad():
        out0 = cond(x, t, y=torch.tensor([0, 0]))
        out1 = cond(x, t, y=torch.tensor([1, 1]))
        out2 = cond(x, t, y=torch.tensor([2, 2]))
        # the same computation by hand: the unconditional network whose time MLP's last bias carries emb[1]
        plain = UNet(image_size=8, in_channels=1, out_channels=1, **UNET)
        plain.load_state_dict({k: v for k, v in cond.state_dict().items() if not k.startswith("label_embed")})
        plain.time_embed[2].bias += cond.label_embed.weight[1]
        by_hand = plain(x, t)
    torch.testing.assert_close(out0, out2, rtol=0, atol=0)
    assert not torch.allclose(out0, out1)
    torch.testing.assert_close(out1, by_hand, rtol=1e-5, atol=1e-6)


def test_the_network_refuses_missing_extra_or_misshapen_labels():
    cond = UNet(image_size=8, in_channels=1, out_channels=1, num_classes=3, **UNET)
    plain = UNet(image_size=8, in_channels=1, out_channels=1, **UNET)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="takes class labels"):
        cond(x, t)
    with pytest.raises(ValueError, match="takes no class labels"):
        plain(x, t, y=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"class labels must have shape \(2,\)"):
        cond(x, t, y=torch.tensor([0, 1, 2]))
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="num_classes"):
            UNet(image_size=8, in_channels=1, out_channels=1, num_classes=bad, **UNET)


def test_an_unconditional_network_is_built_as_before():
    """num_classes=0 adds no module and draws no random numbers: the same seed gives the same weights."""
    torch.manual_seed(7)
    a = build_dddm_unet(UNET, image_size=8, channels=1)
    torch.manual_seed(7)
    b = build_dddm_unet(UNET, image_size=8, channels=1, num_classes=0)
    assert not hasattr(a, "label_embed")
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_the_sampler_and_the_loss_hand_the_labels_to_the_network():
    seen = []

    def network(x, t, cond=None, y=None):
        seen.append(None if y is None else y.clone())
        return torch.zeros_like(x if cond is not None else x[:, : x.shape[1] // 2])

    labels = torch.tensor([2, 0, 1])
    dddm_sample(
        network, (3, 1, 4, 4), steps=2, num_timesteps=10, generator=torch.Generator().manual_seed(0), labels=labels
    )
    assert len(seen) == 2 and all(torch.equal(y, labels) for y in seen)
    seen.clear()
    dddm_forward(network, torch.zeros(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), torch.zeros(3, 1, 4, 4))
    assert seen == [None]
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        dddm_sample(
            network, (3, 1, 4, 4), steps=1, num_timesteps=10, generator=torch.Generator(), labels=torch.tensor([1])
        )


def test_check_labels_accepts_a_conditional_run_s_labels_only():
    labels = torch.tensor([0, 3, 1])
    assert check_labels({"class_conditional": True}, labels, 4, 3) == (4, labels)
    assert check_labels({"class_conditional": False}, None, 0, 3) == (0, None)
    with pytest.raises(ValueError, match="not class_conditional"):
        check_labels({}, labels, 4, 3)
    with pytest.raises(ValueError, match="needs the images' labels"):
        check_labels({"class_conditional": True}, None, 4, 3)
    with pytest.raises(ValueError, match=r"lie in 0..2"):
        check_labels({"class_conditional": True}, labels, 3, 3)
    with pytest.raises(ValueError, match="int64 of shape"):
        check_labels({"class_conditional": True}, labels[:2], 4, 3)


def test_the_fingerprint_of_an_unconditional_run_is_unchanged_by_the_option():
    section = {"timesteps": 40, "schedule": "linear", "unet": UNET, "train": {"lr": 0.001}}
    run = {"metric": "l1"}
    base = dddm_fingerprint(section, run, seed=0, data_id="d")
    assert dddm_fingerprint(section, run, seed=0, data_id="d", num_classes=0) == base
    assert dddm_fingerprint(section, run, seed=0, data_id="d", num_classes=10) != base


# ------------------------------------------------------------------------------------------- the steps
def _params(tmp_path: Path, tiny_config: dict) -> Path:
    config = copy.deepcopy(tiny_config)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_conditional_run_trains_on_the_labels_and_samples_uniform_classes(tmp_path, tiny_config, capsys):
    """The tiny preset's dddm_cond: train-dddm records the classes (the largest training label + 1), sample-dddm
    keeps the samples' classes (the same at every NFE, from their own seeded stream) and is repeatable; the
    weights of a conditional run are refused for an unconditional one and the other way round."""
    from diffrepro.data import load_dataset, save_processed

    assert tiny_config["dddm"]["runs"]["dddm_cond"]["class_conditional"] is True
    params = _params(tmp_path, tiny_config)
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    common = ["--params", str(params), "--device", "cpu", "--threads", "2"]

    def train(run: str, out: Path) -> int:
        return cli_main(
            ["train-dddm", "--run", run, "--data", str(data), "--checkpoint-dir", str(out / "ck"),
             "--weights", str(out / "w.safetensors"), "--loss-csv", str(out / "loss.csv"),
             "--summary", str(out / "summary.json"), *common]
        )  # fmt: skip

    def sample(run: str, weights: Path, out: Path) -> int:
        return cli_main(
            ["sample-dddm", "--run", run, "--weights", str(weights), "--out", str(out),
             "--grid", str(out.with_suffix(".png")), *common]
        )  # fmt: skip

    out = tmp_path / "cond"
    assert train("dddm_cond", out) == 0
    with safe_open(str(out / "w.safetensors"), framework="pt") as fh:
        meta, embed = fh.metadata(), fh.get_slice("label_embed.weight").get_shape()
    assert meta["num_classes"] == "10" and embed[0] == 10
    for name in ("a", "b"):
        assert sample("dddm_cond", out / "w.safetensors", out / f"{name}.safetensors") == 0
    with safe_open(str(out / "a.safetensors"), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        smeta = fh.metadata()
    n = tiny_config["dddm"]["sample"]["num_samples"]
    labels = tensors["labels"]
    assert labels.dtype == torch.int64 and labels.shape == (n,) and 0 <= int(labels.min()) and int(labels.max()) < 10
    assert smeta["num_classes"] == "10"
    with safe_open(str(out / "b.safetensors"), framework="pt") as fh:
        assert all(torch.equal(fh.get_tensor(k), v) for k, v in tensors.items())  # repeatable
    # the labels come from their own stream: the same uniform draw as an independent computation
    from diffrepro.seeding import generator

    expected = torch.randint(10, (n,), generator=generator(tiny_config["seed"], "dddm-sample-labels", "dddm_cond"))
    assert torch.equal(labels, expected)

    # an unconditional run's weights have no classes, and their samples no labels
    plain = tmp_path / "plain"
    assert train("dddm_l1", plain) == 0
    with safe_open(str(plain / "w.safetensors"), framework="pt") as fh:
        assert "num_classes" not in fh.metadata()
    assert sample("dddm_l1", plain / "w.safetensors", plain / "s.safetensors") == 0
    with safe_open(str(plain / "s.safetensors"), framework="pt") as fh:
        assert "labels" not in set(fh.keys()) and "num_classes" not in fh.metadata()
    # a run's weights under the other kind of run: refused with the key to fix
    flipped = copy.deepcopy(tiny_config)
    flipped["dddm"]["runs"]["dddm_l1"]["class_conditional"] = True
    (tmp_path / "flipped.yaml").write_text(yaml.safe_dump(flipped))
    rc = cli_main(
        ["sample-dddm", "--run", "dddm_l1", "--weights", str(plain / "w.safetensors"), "--out",
         str(tmp_path / "x.safetensors"), "--grid", str(tmp_path / "x.png"), "--params", str(tmp_path / "flipped.yaml"),
         "--device", "cpu", "--threads", "2"]
    )  # fmt: skip
    assert rc == 1 and "dddm.runs.dddm_l1.class_conditional is true" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- configuration
def test_runs_on_several_data_sets_and_their_rules(tiny_config):
    ok = copy.deepcopy(tiny_config)
    validate_config(ok)
    missing = copy.deepcopy(tiny_config)
    missing["datasets"]["digits_b"] = dict(missing["datasets"]["digits"])
    missing["dddm"]["runs"]["dddm_l1"]["data"] = "digits_b"
    with pytest.raises(ConfigError, match=r"dddm\.datasets: \['digits'\] must list each data set of dddm\.runs"):
        validate_config(missing)
    missing["dddm"]["datasets"] = ["digits", "digits_b"]
    validate_config(missing)
    unlabelled = copy.deepcopy(tiny_config)
    unlabelled["datasets"]["faces"] = {"dataset": "celeba64", "root": None, "download": False, "resolution": 8}
    unlabelled["evaluation"]["backends"] = ["inception"]
    unlabelled["dddm"]["datasets"] = ["digits", "faces"]
    unlabelled["dddm"]["runs"]["dddm_cond"]["data"] = "faces"
    with pytest.raises(ConfigError, match=r"dddm\.runs\.dddm_cond\.class_conditional: faces \(celeba64\) has no class"):
        validate_config(unlabelled)
    # a run's own width reaches the network, whose own check refuses heads that do not divide an attention
    # channel count (the tiny DDDM attends in its middle block only: 5 x 2 = 10 channels there are fine)
    heads = copy.deepcopy(tiny_config)
    heads["dddm"]["runs"]["dddm_cond"].update(base_channels=5, channel_mult=[1, 3])
    validate_config(heads)
    section = dddm_run(heads, "dddm_cond")[0]
    with pytest.raises(ValueError, match="num_heads=2 must divide the attention channel count 15"):
        build_dddm_unet(section.unet, image_size=8, channels=1, num_classes=10)
    heads["dddm"]["runs"]["dddm_cond"]["channel_mult"] = [1, 2]
    validate_config(heads)
    build_dddm_unet(dddm_run(heads, "dddm_cond")[0].unet, image_size=8, channels=1, num_classes=10)


def test_a_paper_row_must_be_a_row_of_its_data_set_s_table(paper_config):
    bad = copy.deepcopy(paper_config)
    bad["dddm"]["runs"]["dddm_in64"]["paper_row"] = "DDDM (T=8000)"  # a CIFAR-10 row (Table 1 only)
    with pytest.raises(ConfigError, match=r"dddm\.runs\.dddm_in64\.paper_row: 'DDDM \(T=8000\)' is not a row of "
                                          r"Zhang et al\. Table 2 \(ImageNet 64\)"):  # fmt: skip
        validate_config(bad)


@pytest.fixture
def paper_config(repo):
    return yaml.safe_load((repo / "configs" / "paper.yaml").read_text())


# ------------------------------------------------------------------------------------------- the table
def _record(run: str, dataset: str, nfes=(1, 2, 8), **extra) -> dict:
    return {
        "run": run,
        "dataset": dataset,
        "metric": {"name": "pseudo_lpips", "c": 0.00014},
        "timesteps": 1000,
        "epochs": extra.pop("epochs", 1000),
        "num_res_blocks": 3,
        "rows": [
            {"nfe": k, "fid": 10.0 + k, "kid_mean": 0.1, "precision": 0.5, "recall": 0.4, "samples_per_second": 5.0}
            for k in nfes
        ],
        **extra,
    }


def test_each_run_stands_beside_the_published_table_of_its_data_set():
    """CIFAR-10: Table 1 (FID, IS); ImageNet 64: Table 2 (FID, k-NN Prec/Rec), never the other's numbers."""
    cifar = {r["NFE"]: r for r in table_rows(_record("c", "cifar10"))}
    imagenet = {r["NFE"]: r for r in table_rows(_record("i", "imagenet64"), "DDDM-deep (T=1000)")}
    assert (cifar[1]["Paper table"], cifar[1]["Paper FID"], cifar[1]["Paper IS"]) == ("Table 1 (CIFAR-10)", 2.90, 9.81)
    assert cifar[1]["Paper k-NN Prec"] is None and cifar[8]["Paper FID"] == 1.87  # largest NFE beside 1000 steps
    assert (imagenet[1]["Paper table"], imagenet[1]["Paper FID"]) == ("Table 2 (ImageNet 64)", 3.47)
    assert (imagenet[2]["Paper k-NN Prec"], imagenet[2]["Paper k-NN Rec"]) == (74.0, 66.0)
    assert imagenet[1]["Paper IS"] is None and imagenet[8]["Paper FID"] == 2.11
    assert imagenet[1]["Data"] == "imagenet64"
    with pytest.raises(ValueError, match=r"no row 'DDDM \(T=8000\)' in Zhang et al\. Table 2"):
        table_rows(_record("i", "imagenet64"), "DDDM (T=8000)")


def test_table_3_s_sweep_keeps_to_the_main_run_s_data_set():
    records = [
        _record("main", "cifar10"),
        _record("t2000", "cifar10", timesteps=2000, epochs=2000),
        _record("in64", "imagenet64", epochs=520),
    ]
    records[1]["timesteps"] = 2000
    assert [r["run"] for r in sweep_rows(records, "main")] == ["main", "t2000"]
