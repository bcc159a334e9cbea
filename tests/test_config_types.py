"""The typed configuration: the dataclasses are the schema's sections (their fields cannot drift from its
properties), their defaults come from the schema's ``default`` keywords alone, and every section of a loaded
parameter file has them filled in, so no consumer carries a fallback of its own."""

import copy
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from diffrepro import sections_pipeline as sp
from diffrepro.config import (
    analysis_config,
    classifier_config,
    daed_config,
    dddm_config,
    dddm_run,
    evaluation_config,
    gan_config,
    load_config,
    model_config,
    normalize_model,
    surrogate_config,
    validate_config,
    with_defaults,
)
from diffrepro.schema import ConfigError, apply_defaults, load_schema, property_defaults, schema_node
from diffrepro.sections import Choice, ModelConfig, SampleConfig, Section, TrainConfig, UNetConfig, as_model

#: every section class of the models and of the other sections (diffrepro.sections_pipeline)
PIPELINE_SECTIONS = [getattr(sp, name) for name in sp.__all__ if isinstance(getattr(sp, name), type)]
SECTIONS = [ModelConfig, UNetConfig, TrainConfig, SampleConfig, *PIPELINE_SECTIONS]
#: the top-level sections besides ``models`` and their accessors
TOP_LEVEL = {
    "classifier": classifier_config,
    "evaluation": evaluation_config,
    "analysis": analysis_config,
    "daed": daed_config,
    "surrogate": surrogate_config,
    "dddm": dddm_config,
}
PRESETS = ["params.yaml", "configs/tiny.yaml", "configs/small.yaml", "configs/paper.yaml", "configs/coursework.yaml"]


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.__name__)
def test_fields_are_the_schema_properties(cls):
    """One field per property of the section's schema, in its order, and none with a default of its own."""
    node = schema_node(cls.SCHEMA)
    assert [f.name for f in dataclasses.fields(cls)] == list(node["properties"])
    assert node.get("additionalProperties") is False  # a closed section: the fields are all its keys
    for f in dataclasses.fields(cls):
        assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name


def test_every_pipeline_section_is_typed():
    """Each closed mapping under the sections beside ``models`` has a class (its nested ones are fields)."""
    assert all(issubclass(cls, Section) for cls in PIPELINE_SECTIONS) and len(PIPELINE_SECTIONS) == 27
    schemas = {cls.SCHEMA for cls in PIPELINE_SECTIONS}

    def closed(dotted):
        node = schema_node(dotted)
        if node.get("type") == "object" and isinstance(node.get("properties"), dict):
            yield dotted
            for key in node["properties"]:
                yield from closed(f"{dotted}.{key}")
        elif isinstance(node.get("additionalProperties"), dict):
            yield from closed(f"{dotted}.*")

    found = {d for top in [*TOP_LEVEL, "gans"] for d in closed(top) if not d.endswith(".unet")}
    assert found == schemas
    for cls in PIPELINE_SECTIONS:  # a nested section's field is of its class; a mapping of entries too
        for name, sub in {**cls.SECTIONS, **cls.ENTRIES}.items():
            assert sub.SCHEMA in (f"{cls.SCHEMA}.{name}", f"{cls.SCHEMA}.{name}.*", UNetConfig.SCHEMA), (cls, name)


@pytest.mark.parametrize("preset", PRESETS)
def test_pipeline_sections_give_back_the_loaded_mappings(repo, preset):
    """``as_dict()`` of every typed section is the loaded parameter file's mapping (fingerprints hash it)."""
    config = load_config(repo / preset)
    for key, accessor in TOP_LEVEL.items():
        section = accessor(config)
        assert section.as_dict() == config[key], key
        assert type(section).from_dict(section.as_dict()) == section
    for name in config["gans"]:
        assert gan_config(config, name).as_dict() == config["gans"][name]
    dddm = dddm_config(config)
    assert dict(dddm.runs) == {r: dddm_run(config, r)[1] for r in config["dddm"]["runs"]}
    assert {r: run.as_dict() for r, run in dddm.runs.items()} == config["dddm"]["runs"]
    assert isinstance(evaluation_config(config).prd, sp.PRDConfig)
    sources = analysis_config(config).transferability.sources
    assert {n: src.models.as_dict() for n, src in sources.items()} == {
        n: src["models"] for n, src in config["analysis"]["transferability"]["sources"].items()
    }


def test_pipeline_sections_are_frozen(tiny_config):
    dddm, gan = dddm_config(tiny_config), gan_config(tiny_config, "sngan")
    with pytest.raises(dataclasses.FrozenInstanceError):
        dddm.main = "x"
    with pytest.raises(TypeError):
        dddm.runs["x"] = None
    assert isinstance(gan.train.betas, tuple) and isinstance(dddm.sample.steps, tuple)
    assert isinstance(dddm.unet, UNetConfig) and sp.GANConfig.of(gan) is gan and sp.GANConfig.of(gan.as_dict()) == gan
    assert daed_config(tiny_config).posthoc.train.as_dict() == tiny_config["daed"]["posthoc"]["train"]
    with pytest.raises(ConfigError, match="unknown GAN 'nope'"):
        gan_config(tiny_config, "nope")
    with pytest.raises(ConfigError, match="unknown DDDM run 'nope'"):
        dddm_run(tiny_config, "nope")


def test_the_dddm_unet_is_the_model_unet():
    assert schema_node("dddm.unet") == schema_node("$defs.ddgm.unet") == schema_node(UNetConfig.SCHEMA)


def _minimal_model() -> dict:
    """A model section with the required keys only (the choices by name)."""
    with open(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml") as fh:
        model = yaml.safe_load(fh)["models"]["ddgm_a"]
    node = schema_node("$defs.ddgm")
    out = {k: v for k, v in model.items() if k in node["required"]}
    for section in ("unet", "train", "sample"):
        required = schema_node(f"$defs.ddgm.{section}")["required"]
        out[section] = {k: v for k, v in model[section].items() if k in required}
    return out


def test_omitted_keys_take_the_schema_defaults():
    minimal = _minimal_model()
    m = ModelConfig.from_dict(minimal)
    for cls, section in ((UNetConfig, m.unet), (TrainConfig, m.train), (SampleConfig, m.sample)):
        defaults = property_defaults(cls.SCHEMA)
        assert defaults  # every section has optional keys
        assert {k: getattr(section, k) for k in defaults} == {
            k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()
        }
    assert minimal == _minimal_model()  # the section given is left as it is


def test_defaults_come_from_the_schema_alone(tmp_path, monkeypatch):
    """Change a default in a copy of the schema: the typed sections and the filled-in parameters follow it."""
    schema = load_schema()
    model = schema["$defs"]["ddgm"]["properties"]
    model["unet"]["properties"]["block"]["default"] = "mbconv"
    model["train"]["properties"]["loss_buckets"]["default"] = 3
    model["sample"]["properties"]["eta"]["default"] = 0.5
    iwdiff = schema["$defs"]["objective_options"]["allOf"][0]["then"]["properties"]["k"]
    iwdiff["default"] = 5
    schema["properties"]["distributed"]["properties"]["backend"]["default"] = "gloo"
    schema["properties"]["dddm"]["properties"]["sample"]["properties"]["method"]["default"] = "renoise"
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    minimal = _minimal_model()
    minimal["objective"] = "iwdiff"
    before = ModelConfig.from_dict(minimal)
    monkeypatch.setenv("DIFFREPRO_SCHEMA", str(path))
    after = ModelConfig.from_dict(minimal)
    assert (before.unet.block, before.train.loss_buckets, before.sample.eta, before.objective["k"]) == (
        "resnet",
        10,
        0.0,
        2,
    )
    assert (after.unet.block, after.train.loss_buckets, after.sample.eta, after.objective["k"]) == ("mbconv", 3, 0.5, 5)
    with open(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml") as fh:
        filled = with_defaults(yaml.safe_load(fh))
    assert filled["distributed"]["backend"] == "gloo" and filled["dddm"]["sample"]["method"] == "renoise"
    assert filled["dddm"]["unet"]["block"] == "mbconv"


@pytest.mark.parametrize("preset", PRESETS)
def test_loaded_parameters_have_every_default(repo, preset):
    """load_config fills the schema's defaults into every section; the file's own values stay."""
    with open(repo / preset) as fh:
        raw = yaml.safe_load(fh)
    config = load_config(repo / preset)
    assert config["speed"] == property_defaults("speed")
    assert config["distributed"] == {"nproc_per_node": 1, "backend": "auto"}
    assert config["dddm"]["sample"]["method"] == "fixed_point"
    assert set(config["dddm"]["unet"]) == set(schema_node("dddm.unet")["properties"])
    for name, model in config["models"].items():
        assert set(model["unet"]) == {f.name for f in dataclasses.fields(UNetConfig)}
        assert set(model["train"]) == {f.name for f in dataclasses.fields(TrainConfig)}
        assert set(model["sample"]) == {f.name for f in dataclasses.fields(SampleConfig)}
        assert normalize_model(model) == normalize_model(raw["models"][name]) == model_config(config, name).as_dict()

    def stated(a, b):  # every value of the file is in the loaded parameters as it was
        if isinstance(a, dict):
            return all(stated(v, b[k]) for k, v in a.items())
        return a == b

    assert stated(raw, config)


def test_validation_leaves_the_parameters_as_written(tiny_config):
    """Snakemake validates its config in place and tracks the values as written: no default is added there."""
    config = copy.deepcopy(tiny_config)
    validate_config(config)
    assert config == tiny_config and "speed" not in config
    assert with_defaults(config)["speed"] and config == tiny_config


def test_named_choice_mappings_get_their_option_defaults(tiny_config):
    config = copy.deepcopy(tiny_config)
    config["models"]["ddgm_iwdiff"]["objective"] = {"name": "iwdiff"}
    config["models"]["ddgm_a"]["objective"] = "simple"
    filled = with_defaults(validate_config(config))
    assert filled["models"]["ddgm_iwdiff"]["objective"] == {"name": "iwdiff", "k": 2}
    assert filled["models"]["ddgm_a"]["objective"] == "simple"  # a name stays as written
    assert model_config(filled, "ddgm_a").objective == Choice("simple", {})
    # metric names are no named choice with options (a run's T, epochs, blocks and paper row default to null)
    assert {n: r["metric"] for n, r in filled["dddm"]["runs"].items()} == {
        n: r["metric"] for n, r in tiny_config["dddm"]["runs"].items()
    }


def test_model_config_is_frozen_and_round_trips(tiny_config):
    m = model_config(tiny_config, "ddgm_vlb")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.timesteps = 3
    with pytest.raises(TypeError):
        m.tables["x"] = None
    assert isinstance(m.unet.channel_mult, tuple)
    assert ModelConfig.from_dict(m.as_dict()) == m
    assert as_model(m) is m and as_model(m.as_dict()) == m
    smaller = dataclasses.replace(m, sample=dataclasses.replace(m.sample, num_samples=2))
    assert smaller.sample.num_samples == 2 and m.sample.num_samples != 2


def test_apply_defaults_follows_refs_items_and_branches():
    gan = {"data": "d", "z_dim": 2, "channels": 4, "train": {}}
    assert apply_defaults(copy.deepcopy(gan), "gans.sngan") == gan  # no defaults there
    unet = apply_defaults({}, "dddm.unet")  # $ref to the model unet
    assert unet == {"block": "resnet", "time_conditioning": "scale_shift", "architecture": None}
    sampler = apply_defaults({"name": "loss_second_moment_plus2", "history": 4}, "$defs.ddgm.timestep_sampler")
    assert sampler == {"name": "loss_second_moment_plus2", "history": 4, "uniform_prob": 0.001}
    assert apply_defaults({"name": "uniform"}, "$defs.ddgm.timestep_sampler") == {"name": "uniform"}


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_descriptions_naming_a_default_agree_with_it():
    """A description that calls a value the default ("fixed_point (default; ...)") says the ``default`` keyword."""
    checked = 0
    for path, node in _walk(load_schema()):
        text = node.get("description")
        if not isinstance(text, str):
            continue
        for value in re.findall(r"(\w+) \(default\b", text):
            assert "default" in node and str(node["default"]) == value, path
            checked += 1
    assert checked >= 1


#: ``.get(KEY, fallback)`` calls of a parameter's name that remain in the package: reads of files the steps wrote
#: (metrics records written before a key existed lack it; a weights file's metadata), not of parameters
ALLOWED_FALLBACKS = {
    ("reporting/tables.py", "kind"),
    ("reporting/tables.py", "block"),
    ("steps/sample_dddm.py", "steps"),  # the training steps in the weights' metadata
    ("reporting/surrogate_table.py", "timesteps"),  # the base record's T (not a DDDM run's)
}
#: required keys that had fallbacks of their own
FORMER_FALLBACKS = {"betas", "weight_decay", "grad_clip"}


def test_no_fallback_for_a_parameter_with_a_default(repo):
    """No module carries its own fallback value for a parameter the schema gives a default (or requires)."""
    defaulted = set(FORMER_FALLBACKS)
    for _, node in _walk(load_schema()):
        props = node.get("properties")
        if isinstance(props, dict):
            defaulted.update(k for k, spec in props.items() if isinstance(spec, dict) and "default" in spec)
    assert {"block", "method", "nproc_per_node", "k", "lambda", "speed", "distributed"} <= defaulted
    package = repo / "src" / "diffrepro"
    found = {
        (path.relative_to(package).as_posix(), key)
        for path in sorted(package.rglob("*.py"))
        for key in re.findall(r'\.get\("(\w+)", [^)]', path.read_text(encoding="utf-8"))
        if key in defaulted
    }
    assert found <= ALLOWED_FALLBACKS, sorted(found - ALLOWED_FALLBACKS)
