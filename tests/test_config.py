"""Schema validation: every preset is valid; bad keys and values fail naming their path."""

import copy

import pytest
import yaml

from diffrepro.config import ConfigError, load_config, validate_config


@pytest.mark.parametrize("name", ["params.yaml", "configs/tiny.yaml", "configs/paper.yaml"])
def test_presets_are_valid(repo, name):
    cfg = load_config(repo / name)
    assert cfg["models"]


def test_unknown_key_names_its_path(tiny_config):
    bad = copy.deepcopy(tiny_config)
    bad["models"]["ddgm_a"]["train"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, source="params.yaml")
    msg = str(exc.value)
    assert "params.yaml" in msg
    assert "models.ddgm_a.train" in msg and "learning_rate" in msg


def test_bad_value_names_its_path(tiny_config):
    bad = copy.deepcopy(tiny_config)
    bad["models"]["ddgm_b"]["schedule"] = "quadratic"
    bad["models"]["ddgm_a"]["train"]["lr"] = -1
    with pytest.raises(ConfigError) as exc:
        validate_config(bad)
    msg = str(exc.value)
    assert "models.ddgm_b.schedule: 'quadratic' is not one of" in msg
    assert "models.ddgm_a.train.lr" in msg


def test_resolution_must_fit_unet_depth(tiny_config):
    bad = copy.deepcopy(tiny_config)
    bad["data"]["resolution"] = 7
    with pytest.raises(ConfigError, match=r"models\.ddgm_a\.unet\.channel_mult.*divisible by 2"):
        validate_config(bad)


def test_unreadable_file_named(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="p.yaml is not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_cli_validate_reports_error(tmp_path, tiny_config, capsys):
    from diffrepro.cli import main

    bad = copy.deepcopy(tiny_config)
    bad["seed"] = "zero"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    assert main(["validate-config", str(p)]) == 1
    assert "seed: 'zero' is not of type 'integer'" in capsys.readouterr().err


def test_preset_switch_validates_before_overwriting(tmp_path, repo, monkeypatch, tiny_config):
    from diffrepro.workspace import use_preset

    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text((repo / "configs" / "tiny.yaml").read_text())
    original = "seed: 1\n"
    (tmp_path / "params.yaml").write_text(original)
    bad = copy.deepcopy(tiny_config)
    bad["data"]["dataset"] = "imagenet"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="data.dataset"):
        use_preset("bad.yaml")
    assert (tmp_path / "params.yaml").read_text() == original
    use_preset("tiny")
    assert load_config(tmp_path / "params.yaml") == tiny_config
