"""Training-seed replicates: the pooled record of a model's runs (t-interval of the mean, closed forms), the
config checks of ``replicates`` and the declared replicate steps."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from diffrepro.config import ConfigError, replicate_runs, validate_config
from diffrepro.dag import STEPS
from diffrepro.evaluation.seeds import pool_runs, t_interval
from workflow_tools import REPO

#: the 97.5% quantiles of Student's t with 1, 2 and 4 degrees of freedom (tables)
T975 = {1: 12.706204736174698, 2: 4.302652729911275, 4: 2.7764451051977987}


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [10.0, 12.0], [0.5, 0.1, 0.9, 0.3, 0.7]])
def test_t_interval_is_the_closed_form(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    m, lo, hi = t_interval(values)
    assert m == pytest.approx(mean, rel=1e-12)
    assert (lo, hi) == pytest.approx((mean - T975[n - 1] * sd / math.sqrt(n), mean + T975[n - 1] * sd / math.sqrt(n)))


def test_t_interval_refuses_one_value():
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])


def record(fid: float, kid: float, extra: float) -> dict:
    backend = {"fid": fid, "fid_lo": fid - 1, "fid_hi": fid + 1, "kid_mean": kid, "kid_mean_lo": 0, "kid_mean_hi": 1}
    return {**backend, "n_generated": 250, "extra": extra, "backends": {"inception": dict(backend)}}


def test_pool_runs_means_every_metric_with_an_interval_and_keeps_the_rest():
    runs = [record(10.0, 0.01, 1.0), record(14.0, 0.03, 2.0), record(12.0, 0.02, 3.0)]
    pooled = pool_runs(runs, [0, 1, 2])
    half = T975[2] * 2.0 / math.sqrt(3)  # the FIDs 10, 14, 12: mean 12, sd 2
    for level in (pooled, pooled["backends"]["inception"]):
        assert level["fid"] == pytest.approx(12.0)
        assert (level["fid_lo"], level["fid_hi"]) == pytest.approx((12.0 - half, 12.0 + half))
        assert level["kid_mean"] == pytest.approx(0.02)
        assert level["run_values"]["fid"] == [10.0, 14.0, 12.0]
    assert pooled["extra"] == 1.0 and pooled["n_generated"] == 250  # no interval: the model's own run's value
    assert pooled["runs"] == 3 and pooled["seeds"] == [0, 1, 2]


def test_pool_runs_leaves_a_metric_some_run_lacks_empty():
    runs = [record(10.0, 0.01, 1.0), record(12.0, 0.02, 1.0)]
    runs[1]["fid"] = None
    pooled = pool_runs(runs, [0, 5])
    assert pooled["fid"] is None and pooled["fid_lo"] is None and pooled["kid_mean"] == pytest.approx(0.015)


def test_pool_runs_needs_distinct_seeds_and_two_runs():
    with pytest.raises(ValueError, match="different seeds"):
        pool_runs([record(1, 0, 0), record(2, 0, 0)], [3, 3])
    with pytest.raises(ValueError, match="at least 2 runs"):
        pool_runs([record(1, 0, 0)], [0])


@pytest.fixture
def tiny():
    return yaml.safe_load((REPO / "configs/tiny.yaml").read_text())


def test_the_runs_of_a_model_are_its_own_then_its_replicates(tiny):
    config = validate_config(copy.deepcopy(tiny))
    assert replicate_runs(config, "ddgm_a") == [("ddgm_a", 0), ("ddgm_a_s1", 1)]
    assert replicate_runs(config, "ddgm_b") == [("ddgm_b", 0)]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"model": "nope", "seed": 1, "data": "digits"}, r"replicates\.r\.model: 'nope' is not a key of models"),
        ({"model": "ddgm_a", "seed": 1, "data": "other"}, r"replicates\.r\.data: 'other', but models\.ddgm_a\.data"),
        ({"model": "ddgm_a", "seed": 0, "data": "digits"}, r"replicates\.r\.seed: 0 is the seed of the model's own"),
        ({"model": "ddgm_a", "seed": 1, "data": "digits"}, r"replicates\.ddgm_a_s1 already runs ddgm_a with seed 1"),
        ({"model": "ddgm_a", "seed": 2}, r"replicates\.r.*'data' is a required property"),
    ],
)
def test_bad_replicates_are_refused_naming_the_key(tiny, entry, message):
    tiny["replicates"]["r"] = entry
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny)


def test_a_replicate_cannot_take_a_models_name(tiny):
    tiny["replicates"]["ddgm_b"] = {"model": "ddgm_a", "seed": 2, "data": "digits"}
    with pytest.raises(ConfigError, match=r"replicates\.ddgm_b: the name is a model's"):
        validate_config(tiny)


def test_replicate_steps_run_the_model_steps_code_with_the_replicates_seed(tiny):
    config = validate_config(copy.deepcopy(tiny))
    by_name = {s.name: s for s in STEPS}
    train, sample = by_name["train_replicate"], by_name["sample_replicate"]
    assert train.code() == by_name["train_ddgm"].code() and sample.code() == by_name["sample"].code()
    argv = train.argv(config, "ddgm_a_s1", "configs/tiny.yaml")
    assert argv[argv.index("--model") + 1] == "ddgm_a" and argv[argv.index("--seed") + 1] == "1"
    assert "presets/tiny/models/ddgm_a_s1/ema.safetensors" in argv
    # the model's own run leaves --seed at its default (the params seed): its command line is as before
    assert "--seed" not in by_name["train_ddgm"].argv(config, "ddgm_a", "configs/tiny.yaml")
    assert "replicates.ddgm_a_s1" in train.param_keys(config, "ddgm_a_s1")
    assert "models.ddgm_a.train" in train.param_keys(config, "ddgm_a_s1")
