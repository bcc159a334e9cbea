"""Composed DAEDs (``daed.composed``; Deja et al. Table 4 "DAED (IN)", Fig 13): the configuration's checks, the
compose step's tensors and metadata, the composed network's routing, sampling it as its generator's model and its
row in the extended table."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from diffrepro.artifacts.ddgm import build_model, weights_metadata
from diffrepro.cli import main as cli_main
from diffrepro.config import ConfigError, model_config, validate_config
from diffrepro.factory import build_unet
from diffrepro.reporting.tables import deja_extended
from diffrepro.steps.compose_daed import compose
from diffrepro.tensorfile import ArtifactError, read, read_metadata, save_safetensors

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    """The tiny preset with a second joint DAED (daed_b: daed_combine's network, other training) and a composed
    DAED of daed_combine's generator with daed_b's DAE."""
    c = yaml.safe_load((REPO / "configs/tiny.yaml").read_text())
    c["models"]["daed_b"] = copy.deepcopy(c["models"]["daed_combine"])
    c["models"]["daed_b"]["train"]["lr"] = 0.01
    c["models"]["daed_b"]["tables"] = {}
    c["daed"]["composed"] = {
        "mixed": {"data": "digits", "generator": "daed_combine", "dae": "daed_b", "tables": {"deja_extended": "x"}}
    }
    return validate_config(c)


def _weights(tmp_path: Path, config: dict, name: str, torch_seed: int) -> Path:
    mcfg = model_config(config, name)
    torch.manual_seed(torch_seed)
    net = build_unet(mcfg, image_size=8, channels=1)
    with torch.no_grad():  # the output layers start at zero: perturb every weight so the two networks differ
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    meta = {**weights_metadata(name, mcfg, {"dataset": "digits"}, 8, 1, 20, 1), "seed": str(config["seed"])}
    path = tmp_path / f"{name}.safetensors"
    save_safetensors(net.state_dict(), path, meta)
    return path


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda c: c["daed"]["composed"]["mixed"].update(dae="nope"), "daed.composed.mixed.dae: unknown model 'nope'"),
        (lambda c: c["daed"]["composed"]["mixed"].update(dae="ddgm_a"), "model 'ddgm_a' is of kind ddgm"),
        (lambda c: c["daed"]["composed"]["mixed"].update(dae="daed_combine"), "that is the model itself"),
        (lambda c: c["models"]["daed_b"].update(timesteps=50), "differ in timesteps"),
        (lambda c: c["models"]["daed_b"]["unet"].update(base_channels=16), "differ in unet"),
        (lambda c: c["daed"]["composed"].update(daed_b=c["daed"]["composed"]["mixed"]), "the name is a model's"),
        (lambda c: c["models"]["daed_combine"].update(data="other"), "unknown data set 'other'"),
    ],
)
def test_config_refuses_what_cannot_be_composed(config, change, match):
    bad = copy.deepcopy(config)
    change(bad)
    with pytest.raises(ConfigError, match=match):
        validate_config(bad)


def test_composed_weights_are_one_generator_and_the_other_dae(config, tmp_path):
    a, b = _weights(tmp_path, config, "daed_combine", 0), _weights(tmp_path, config, "daed_b", 1)
    tensors, meta = compose(config, "mixed", str(a), str(b))
    (sa, ma), (sb, mb) = read(a), read(b)
    assert sorted(tensors) == sorted(sa) == sorted(sb)
    for k, v in tensors.items():
        assert torch.equal(v, sa[k] if k.startswith("generator.") else sb[k]), k
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("dae."))  # two different sources
    assert meta["model"] == "daed_combine" and meta["composed"] == "mixed" and meta["dae_model"] == "daed_b"
    assert (meta["generator_content_sha256"], meta["dae_content_sha256"]) == (
        ma["content_sha256"],
        mb["content_sha256"],
    )
    assert {k: v for k, v in meta.items() if k in ma} == {k: v for k, v in ma.items() if k != "content_sha256"}
    # the composed joint DAED routes t = 0 to daed_b's DAE and every other step to daed_combine's generator
    out = tmp_path / "mixed.safetensors"
    rc = cli_main(["compose-daed", "--params", str(_params(tmp_path, config)), "--name", "mixed",
                   "--generator-weights", str(a), "--dae-weights", str(b), "--out", str(out)])  # fmt: skip
    assert rc in (0, None) and read_metadata(out)["composed"] == "mixed"
    mcfg = model_config(config, "daed_combine")
    mixed, *_ = build_model(str(out), mcfg, "cpu")
    net_a, *_ = build_model(str(a), mcfg, "cpu")
    net_b, *_ = build_model(str(b), model_config(config, "daed_b"), "cpu")
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 3, 0, 39])
    with torch.inference_mode():
        got, from_a, from_b = mixed(x, t), net_a(x, t), net_b(x, t)
    assert torch.equal(got[[0, 2]], from_b[[0, 2]]) and torch.equal(got[[1, 3]], from_a[[1, 3]])
    assert not torch.allclose(from_a[[0, 2]], from_b[[0, 2]])


def test_compose_checks_its_sources(config, tmp_path):
    a, b = _weights(tmp_path, config, "daed_combine", 0), _weights(tmp_path, config, "daed_b", 1)
    with pytest.raises(ArtifactError, match="metadata 'model' is 'daed_b', expected 'daed_combine'"):
        compose(config, "mixed", str(b), str(a))
    with pytest.raises(ConfigError, match="unknown composed DAED 'nope'"):
        compose(config, "nope", str(a), str(b))
    blob = bytearray(b.read_bytes())
    blob[-3] ^= 0xFF
    b.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        compose(config, "mixed", str(a), str(b))


def _params(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_composed_daed_is_sampled_as_its_generator_model_and_only_when_asked(config, tmp_path):
    config = copy.deepcopy(config)
    config["models"]["daed_combine"]["sample"].update(num_samples=3, batch_size=3)
    params = _params(tmp_path, config)
    a, b = _weights(tmp_path, config, "daed_combine", 0), _weights(tmp_path, config, "daed_b", 1)
    tensors, meta = compose(config, "mixed", str(a), str(b))
    mixed = tmp_path / "mixed.safetensors"
    save_safetensors(tensors, mixed, meta)

    def sample(weights: Path, out: str, *composed: str) -> None:  # sample-composed takes --composed NAME
        cli_main(["sample-composed" if composed else "sample", "--params", str(params), "--model", "daed_combine",
                  "--weights", str(weights), "--out", str(tmp_path / f"{out}.safetensors"),
                  "--grid", str(tmp_path / f"{out}.png"), "--device", "cpu", *composed])  # fmt: skip

    sample(mixed, "composed", "--composed", "mixed")
    sample(a, "own")
    got, gmeta = read(tmp_path / "composed.safetensors")
    own, ometa = read(tmp_path / "own.safetensors")
    assert gmeta["composed"] == "mixed" and "composed" not in ometa and gmeta["model"] == ometa["model"]
    # the same noise stream and generator: the two differ only by the last (DAE) step, so they differ but correlate
    g, o = got["images"].double().flatten(), own["images"].double().flatten()
    assert not torch.equal(g, o) and torch.corrcoef(torch.stack([g, o]))[0, 1] > 0.5
    with pytest.raises(ArtifactError, match="metadata 'composed' is 'mixed', expected None"):
        sample(mixed, "plain")  # composed weights are not the model's own
    with pytest.raises(ArtifactError, match="metadata 'composed' is None, expected 'mixed'"):
        sample(a, "wrong", "--composed", "mixed")


def test_extended_table_shows_a_composed_row_beside_its_published_row():
    def record(model, composed=None):
        m = {"model": model, "kind": "daed", "objective": "simple", "schedule": "linear_combine",
             "schedule_options": {"beta_1": 0.1}, "timesteps": 900, "fid": 20.0, "resolution": 64,
             "reference_split": "test"}  # fmt: skip
        if composed:
            m["composed"] = composed
        return m

    recs = [
        {"tables": {"deja_extended": "daed_simple_b0.1"}, "metrics": record("celeba_daed_simple_b01"),
         "nll": {"bits_per_dim": 3.1}, "snapshots": {}, "train": {}},
        {"tables": {"deja_extended": "daed_in_simple_b0.1"},
         "metrics": record("celeba_daed_in_simple_b01", {"generator": "celeba_daed_simple_b01",
                                                          "dae": "in64_daed_simple_b01", "dae_data": "imagenet64"}),
         "nll": None, "snapshots": None, "train": None},
    ]  # fmt: skip
    rows, columns, _, notes = deja_extended(recs, "celeba64")
    by_row = {r["Paper row"]: r for r in rows}
    row = by_row["daed_in_simple_b0.1"]
    assert row["Model"] == "celeba_daed_in_simple_b01" and row["Split"] == "β1=0.1" and row["Bits/dim"] is None
    assert row["Paper FID"] == 25.6 and row["Paper T"] == 900  # Deja et al. Table 4, "DAED (IN)"
    assert by_row["daed_simple_b0.1"]["Bits/dim"] == 3.1
    assert any("celeba_daed_in_simple_b01: a composed DAED, the generator of celeba_daed_simple_b01 with the DAE of "
               "in64_daed_simple_b01 (trained on imagenet64)" in n for n in notes)  # fmt: skip
