"""Schema validation: every preset is valid; bad keys and values fail naming their path."""

import copy
import re

import pytest
import yaml

from diffrepro.config import ConfigError, load_config, validate_config, with_defaults


@pytest.mark.parametrize(
    "name", ["params.yaml", "configs/tiny.yaml", "configs/small.yaml", "configs/paper.yaml", "configs/coursework.yaml"]
)
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
    bad["datasets"]["digits"]["resolution"] = 7
    with pytest.raises(
        ConfigError, match=r"models\.ddgm_a\.unet\.channel_mult.*datasets\.digits\.resolution.*divisible by 2"
    ):
        validate_config(bad)


def test_unreadable_file_named(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:2:1: not valid YAML"):  # the file, line and column
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
    bad["datasets"]["digits"]["dataset"] = "imagenet"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="datasets.digits.dataset"):
        use_preset("bad.yaml")
    assert (tmp_path / "params.yaml").read_text() == original
    use_preset("tiny")
    assert load_config(tmp_path / "params.yaml") == with_defaults(tiny_config)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("objective",), "elbo", "models.ddgm_a.objective: 'elbo' is not one of"),
        (("objective",), {"name": "iwdiff", "k": 0}, "models.ddgm_a.objective.k: 0 is less than the minimum of 1"),
        (
            ("objective",),
            {"name": "simple", "k": 2},
            "models.ddgm_a.objective: Unevaluated properties are not allowed ('k'",
        ),
        (
            ("schedule",),
            {"name": "linear_range", "beta_start": 4e-4},
            "models.ddgm_a.schedule: 'beta_end' is a required property",
        ),
        (
            ("schedule",),
            {"name": "linear_combine", "beta_1": 1.5},
            "models.ddgm_a.schedule.beta_1: 1.5 is greater than or equal to the maximum of 1",
        ),
        (("timestep_sampler",), "importance", "models.ddgm_a.timestep_sampler: 'importance' is not one of"),
        (
            ("timestep_sampler",),
            {"name": "dae_weighted"},
            "models.ddgm_a.timestep_sampler: 'beta_1' is a required property",
        ),
        (("timestep_sampler",), {"name": "uniform", "history": 3}, "Unevaluated properties are not allowed ('history'"),
        (("variance",), "learned", "models.ddgm_a.variance: 'learned' is not one of"),
        (("unet", "block"), "convnext", "models.ddgm_a.unet.block: 'convnext' is not one of"),
        (("sample", "method"), "euler", "models.ddgm_a.sample.method: 'euler' is not one of"),
        (("tables",), {"table_9": None}, "models.ddgm_a.tables: unknown table 'table_9'"),
    ],
)
def test_new_options_fail_naming_their_path(tiny_config, path, value, message):
    bad = copy.deepcopy(tiny_config)
    node = bad["models"]["ddgm_a"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, source="params.yaml")
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"objective": "hybrid", "variance": "fixed_small"}, "models.ddgm_a.variance: the hybrid objective"),
        (
            {"sample": {"method": "respaced", "steps": 41, "num_samples": 8, "batch_size": 8}},
            "models.ddgm_a.sample.steps: 41 is more than the model's 40 timesteps",
        ),
        (
            {"sample": {"method": "ancestral", "steps": 10, "num_samples": 8, "batch_size": 8}},
            "models.ddgm_a.sample.steps: ancestral sampling runs all 40 steps",
        ),
        (
            {"schedule": {"name": "linear_range", "beta_start": 0.2, "beta_end": 0.1}},
            "beta_start 0.2 is larger than beta_end",
        ),
        ({"timesteps": 20}, "models.ddgm_a.timesteps: the linear schedule"),
    ],
)
def test_cross_field_rules_name_the_key(tiny_config, change, message):
    bad = copy.deepcopy(tiny_config)
    bad["models"]["ddgm_a"].update(change)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(bad)


def test_named_choices_are_normalised_with_defaults(tiny_config):
    from diffrepro.config import model_config
    from diffrepro.sections import Choice

    m = model_config(tiny_config, "ddgm_iwdiff")
    assert m.objective == Choice("iwdiff", {"k": 2}) and m.objective["k"] == 2
    assert m.objective.as_dict() == {"name": "iwdiff", "k": 2}
    assert model_config(tiny_config, "ddgm_hybrid").objective.as_dict() == {"name": "hybrid", "lambda": 0.001}
    assert model_config(tiny_config, "ddgm_vlb").timestep_sampler.as_dict() == {
        "name": "loss_second_moment",
        "history": 10,
        "uniform_prob": 0.001,
    }
    a = model_config(tiny_config, "ddgm_a")
    assert a.schedule.as_dict() == {"name": "linear"}
    assert a.sample.method == "ancestral" and a.sample.steps is None
    assert a.unet.block == "resnet" and a.train.snapshots == (0.5,)
    assert a.as_dict()["train"]["snapshots"] == [0.5]


def _set(cfg, dotted, value):
    node = cfg
    *path, last = dotted.split(".")
    for k in path:
        node = node[k]
    node[last] = value


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ("surrogate.surrogates", ["sngan", "nope"]),
            r"surrogate\.surrogates: surrogate 'nope' is neither a key of gans",
        ),
        (
            ("surrogate.surrogates", ["ddgm_a"]),
            r"surrogate 'ddgm_a' is neither a key of gans .* nor a model with a lower",
        ),
        (("surrogate.base_model", "ddgm_half"), r"surrogate\.base_model: 'ddgm_half' is trained at a lower resolution"),
        (
            ("daed.posthoc.studies.digits.generator", "ddgm_half"),
            r"daed\.posthoc\.studies\.digits\.generator: 'ddgm_half' is trained at a lower",
        ),
        (
            ("models.ddgm_half.resolution", 8),
            r"models\.ddgm_half\.resolution: 8 is not below datasets\.digits\.resolution 8",
        ),
        (
            ("models.ddgm_half.timesteps", 30),
            r"models\.ddgm_half\.timesteps: 30, but the base model 'ddgm_a' has 40; a low-resolution surrogate",
        ),
        (
            ("models.ddgm_half.schedule", "cosine"),
            r"models\.ddgm_half\.schedule: \{'name': 'cosine'\}, but the base model 'ddgm_a' has \{'name': 'linear'\}",
        ),
        (("dddm.main", "dddm_l9"), r"dddm\.main: 'dddm_l9' is not one of dddm\.runs"),
        (("dddm.train.log_every", 3), r"dddm\.train\.checkpoint_every must be a multiple of log_every"),
        (("dddm.runs.dddm_l1.metric", "huber"), r"dddm\.runs\.dddm_l1\.metric"),
        (("gans.sngan.train.betas", [0.0]), r"gans\.sngan\.train\.betas"),
    ],
)
def test_surrogate_and_dddm_rules_name_the_key(tiny_config, change, message):
    bad = copy.deepcopy(tiny_config)
    _set(bad, *change)
    with pytest.raises(ConfigError, match=message):
        validate_config(bad)


def test_gan_and_model_names_must_differ(tiny_config):
    bad = copy.deepcopy(tiny_config)
    bad["gans"]["ddgm_a"] = bad["gans"]["sngan"]
    with pytest.raises(ConfigError, match=r"gans and models share the names \['ddgm_a'\]"):
        validate_config(bad)


def test_every_data_reference_names_a_data_set(tiny_config):
    for key, setter in [
        ("models.ddgm_a.data", lambda c: c["models"]["ddgm_a"].__setitem__("data", "cifar")),
        ("gans.sngan.data", lambda c: c["gans"]["sngan"].__setitem__("data", "cifar")),
        ("dddm.runs.dddm_l1.data", lambda c: c["dddm"]["runs"]["dddm_l1"].__setitem__("data", "cifar")),
        ("dddm.datasets[0]", lambda c: c["dddm"].__setitem__("datasets", ["cifar"])),
        ("analysis.snr.data", lambda c: c["analysis"]["snr"].__setitem__("data", "cifar")),
        ("analysis.snr.data[1]", lambda c: c["analysis"]["snr"].__setitem__("data", ["digits", "cifar"])),
        (
            "analysis.reconstruction.panels.digits.data",
            lambda c: c["analysis"]["reconstruction"]["panels"]["digits"].__setitem__("data", "cifar"),
        ),
    ]:
        bad = copy.deepcopy(tiny_config)
        setter(bad)
        with pytest.raises(ConfigError, match=rf"{re.escape(key)}: unknown data set 'cifar'; datasets are digits"):
            validate_config(bad)


def test_stated_data_must_be_the_models_data(tiny_config):
    """Sections that name a model state its data set beside it (for DVC); a mismatch is an error."""
    two = copy.deepcopy(tiny_config)
    two["datasets"]["faces"] = {"dataset": "lfw_subset", "root": None, "download": False, "resolution": 8}
    validate_config(copy.deepcopy(two))
    generator = two["daed"]["posthoc"]["studies"]["digits"]["generator"]
    bad = copy.deepcopy(two)
    bad["daed"]["posthoc"]["studies"]["digits"]["data"] = "faces"
    with pytest.raises(
        ConfigError, match=rf"daed.posthoc.studies.digits.data: 'faces', but '{generator}' is trained on 'digits'"
    ):
        validate_config(bad)
    bad = copy.deepcopy(two)  # a second reconstruction panel whose model is trained on another set than it says
    bad["analysis"]["reconstruction"]["panels"]["faces"] = {"data": "faces", "model": "ddgm_a", "targets": ["digits"]}
    with pytest.raises(
        ConfigError, match="analysis.reconstruction.panels.faces.data: 'faces', but 'ddgm_a' is trained on 'digits'"
    ):
        validate_config(bad)
    bad = copy.deepcopy(two)  # a transferability source whose post-hoc study is on another data set
    bad["daed"]["posthoc"]["studies"]["faces"] = {"data": "faces", "generator": "ddgm_b"}
    bad["models"]["ddgm_b"]["data"] = "faces"
    bad["evaluation"]["reference_images"] = 32  # within the 40 test images of faces
    bad["analysis"]["transferability"]["sources"]["digits"]["posthoc"] = "faces"
    with pytest.raises(
        ConfigError, match="analysis.transferability.sources.digits.posthoc: study 'faces' is on 'faces'"
    ):
        validate_config(bad)
    bad = copy.deepcopy(two)
    bad["gans"]["sngan"]["data"] = "faces"  # a surrogate GAN on another data set than the base model
    with pytest.raises(ConfigError, match="surrogate.data: 'digits', but 'sngan' is trained on 'faces'"):
        validate_config(bad)
    # a model moved to the other data set with every section that names it: valid
    ok = copy.deepcopy(two)
    ok["models"]["ddgm_b"]["data"] = "faces"
    with pytest.raises(ConfigError, match="evaluation.reference_images: 48 is more than the 40 test images of faces"):
        validate_config(copy.deepcopy(ok))  # the faces' test split is smaller than the reference set
    ok["evaluation"]["reference_images"] = 40
    validate_config(ok)


# --- a strict parameter file (issue 15): each malformed file refused before any job, naming the key --------------


def _written(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_duplicate_keys_are_refused_with_their_dotted_path_and_lines(tmp_path):
    from diffrepro.paramfile import read_params

    path = _written(tmp_path, "seed: 0\nmodels:\n  a:\n    lr: 1\n    steps: 2\n  a:\n    lr: 3\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:6: models\.a is given twice \(first on line 3\)"):
        read_params(path)
    path = _written(tmp_path, "x: {a: 1, b: 2, a: 3}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:1: x\.a is given twice"):
        read_params(path)
    # a merge key's value may be overridden by an explicit key: not a duplicate
    assert read_params(_written(tmp_path, "base: &b {lr: 1, steps: 2}\nrun: {<<: *b, lr: 3}\n"))["run"] == {
        "lr": 3,
        "steps": 2,
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("models.ddgm_a.train.steps", 20.0, r"models\.ddgm_a\.train\.steps: 20\.0 is not of type 'integer'"),
        ("models.ddgm_a.timesteps", 8.0, r"models\.ddgm_a\.timesteps: 8\.0 is not of type 'integer'"),
        ("models.ddgm_a.train.lr", float("nan"), r"models\.ddgm_a\.train\.lr: nan is not a finite number"),
        ("models.ddgm_a.train.lr", float("inf"), r"models\.ddgm_a\.train\.lr: inf is not a finite number"),
        ("models.ddgm_a.train.ema_decay", 1.0, r"models\.ddgm_a\.train\.ema_decay: 1\.0 is greater than or equal"),
        ("gans.sngan.train.ema_decay", 0.0, r"gans\.sngan\.train\.ema_decay: 0\.0 is less than or equal"),
        (
            "models.ddgm_a.train.batch_size",
            5000,
            r"models\.ddgm_a\.train\.batch_size: 5000 is more than the 1438 train",
        ),
        ("evaluation.reference_images", 400, r"evaluation\.reference_images: 400 is more than the 359 test images"),
        ("dddm.train.subset", 2000, r"dddm\.train\.subset: 2000 is more than the 1438 train images"),
        (
            "datasets.digits.root",
            "/nonexistent/folder",
            r"datasets\.digits\.root: '/nonexistent/folder' does not exist",
        ),
        ("models.ddgm_a.train.bogus", 1, r"models\.ddgm_a\.train: Additional properties are not allowed \('bogus'"),
    ],
)
def test_malformed_values_are_refused_naming_the_key(tiny_config, key, value, message):
    bad = copy.deepcopy(tiny_config)
    *parents, last = key.split(".")
    node = bad
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(ConfigError, match=message):
        validate_config(bad)


def test_the_classifier_backend_needs_class_labels_and_inception_is_always_a_backend(tmp_path):
    """CelebA has no class labels: listing the classifier backend beside it is refused before any job runs,
    naming the key and the data set; a list without Inception (the papers' metric) is refused by the schema."""
    from pathlib import Path

    cfg = yaml.safe_load((Path(__file__).parents[1] / "configs" / "paper.yaml").read_text())
    assert cfg["evaluation"]["backends"] == ["inception"]

    def load_config_text(c):
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(c))
        return load_config(tmp_path / "p.yaml")

    load_config_text(cfg)
    cfg["evaluation"]["backends"] = ["inception", "classifier"]
    expected = r"evaluation.backends lists 'classifier', but datasets.celeba64 \(celeba64\) has no class labels"
    with pytest.raises(ConfigError, match=expected):
        load_config_text(cfg)
    cfg["evaluation"]["backends"] = ["classifier"]
    with pytest.raises(ConfigError, match="evaluation.backends"):
        load_config_text(cfg)


@pytest.mark.parametrize(
    "column,match",
    [
        ({"source": "nope", "model": "DAED"}, r"columns\[0\]\.source: 'nope' is not one of"),
        ({"source": "digits", "model": "vlb"}, "source 'digits' has no target 'cifar10'"),
    ],
)
def test_a_transferability_figure_names_sources_that_have_its_target(repo, column, match):
    import yaml

    from diffrepro.config import ConfigError, validate_config

    config = yaml.safe_load((repo / "configs/tiny.yaml").read_text())
    fig = {"target": "cifar10" if "cifar10" in match else "digits", "columns": [column]}
    config["analysis"]["transferability"]["figures"] = {"f": fig}
    with pytest.raises(ConfigError, match=match):
        validate_config(config)
