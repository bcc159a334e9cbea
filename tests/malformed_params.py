"""A catalogue of malformed parameter files: the tiny preset (configs/tiny.yaml) with one thing broken each.

Every entry is refused before any job runs (tests/test_malformed_params.py: by the validator and by
``snakemake -n``), and the refusal names the dotted key (or, for a YAML error, the file and line).  The categories
are those of issue 15: duplicate keys, YAML syntax, integers given as floats, non-finite numbers, probabilities and
decays outside their open intervals, sizes the named data set cannot supply, an explicit ``root:`` that does not
exist, and unknown keys at every level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs/tiny.yaml"


@dataclass(frozen=True)
class Malformed:
    name: str
    category: str
    edit: Callable[[str], str]  # tiny.yaml's text -> the malformed text
    message: str  # a regular expression the refusal must match (it names the key, or file:line)


def _once(old: str, new: str) -> Callable[[str], str]:
    """Replace the first occurrence of ``old`` (which must occur) by ``new``."""

    def edit(text: str) -> str:
        assert old in text, f"{old!r} is not in configs/tiny.yaml: update the catalogue"
        return text.replace(old, new, 1)

    return edit


def _set(dotted: str, value) -> Callable[[str], str]:
    """Set one value through YAML (the file is dumped again: comments go, keys keep their order)."""

    def edit(text: str) -> str:
        cfg = yaml.safe_load(text)
        *parents, last = dotted.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        assert last in node or last == "bogus", f"{dotted} is not in configs/tiny.yaml: update the catalogue"
        node[last] = value
        return yaml.safe_dump(cfg, sort_keys=False)

    return edit


def _key(dotted: str) -> str:
    return re.escape(dotted) + ":"


def _dup(dotted: str) -> str:
    return re.escape(dotted) + " is given twice"


CATALOGUE: list[Malformed] = [
    # -- duplicate keys: the last value would win silently, a duplicated model would drop a model
    Malformed("dup_top_level_seed", "duplicate key", _once("seed: 0\n", "seed: 0\nseed: 1\n"), _dup("seed")),
    Malformed("dup_model_name", "duplicate key", _once("  ddgm_b:\n", "  ddgm_a:\n"), _dup("models.ddgm_a")),
    Malformed(
        "dup_train_lr",
        "duplicate key",
        _once("      lr: 0.001\n", "      lr: 0.001\n      lr: 0.01\n"),
        _dup("models.ddgm_a.train.lr"),
    ),
    Malformed(
        "dup_in_flow_mapping",
        "duplicate key",
        _once("prd: {clusters: 5, angles: 101, runs: 2}", "prd: {clusters: 5, angles: 101, runs: 2, clusters: 9}"),
        _dup("evaluation.prd.clusters"),
    ),
    Malformed(
        "dup_dataset",
        "duplicate key",
        _once("    resolution: 8\n", "    resolution: 8\n    resolution: 16\n"),
        _dup("datasets.digits.resolution"),
    ),
    # -- YAML syntax: the file and the line
    Malformed(
        "yaml_unclosed_bracket",
        "YAML syntax",
        _once("backends: [inception, classifier]", "backends: [inception, classifier"),
        r"params\.yaml:\d+:\d+: ",
    ),
    Malformed("yaml_tab_indent", "YAML syntax", _once("  width: 8\n", "\twidth: 8\n"), r"params\.yaml:\d+:\d+: "),
    Malformed(
        "yaml_bad_indent", "YAML syntax", _once("  feature_dim: 16\n", " feature_dim: 16\n"), r"params\.yaml:\d+:\d+: "
    ),
    Malformed(
        "yaml_unterminated_quote",
        "YAML syntax",
        _once("    source: auto\n", '    source: "auto\n'),
        r"params\.yaml:\d+:\d+: ",
    ),
    # -- integers given as floats
    Malformed(
        "float_steps", "integer as float", _set("models.ddgm_a.train.steps", 20.0), _key("models.ddgm_a.train.steps")
    ),
    Malformed(
        "float_timesteps", "integer as float", _set("models.ddgm_a.timesteps", 8.0), _key("models.ddgm_a.timesteps")
    ),
    Malformed(
        "float_reference_images",
        "integer as float",
        _set("evaluation.reference_images", 48.0),
        _key("evaluation.reference_images"),
    ),
    Malformed("float_n_dis", "integer as float", _set("gans.sngan.train.n_dis", 2.0), _key("gans.sngan.train.n_dis")),
    Malformed("float_epochs", "integer as float", _set("dddm.train.epochs", 3.0), _key("dddm.train.epochs")),
    Malformed("float_seed", "integer as float", _set("seed", 0.0), _key("seed")),
    # -- non-finite numbers
    Malformed("nan_lr", "non-finite", _set("models.ddgm_a.train.lr", float("nan")), _key("models.ddgm_a.train.lr")),
    Malformed("inf_lr", "non-finite", _set("models.ddgm_a.train.lr", float("inf")), _key("models.ddgm_a.train.lr")),
    Malformed("nan_classifier_lr", "non-finite", _set("classifier.lr", float("nan")), _key("classifier.lr")),
    Malformed(
        "inf_grad_clip",
        "non-finite",
        _set("daed.posthoc.train.grad_clip", float("inf")),
        _key("daed.posthoc.train.grad_clip"),
    ),
    Malformed(
        "neg_inf_lr_g", "non-finite", _set("gans.sngan.train.lr_g", float("-inf")), _key("gans.sngan.train.lr_g")
    ),
    # -- probabilities and decays outside their open intervals
    Malformed(
        "ema_decay_one",
        "open interval",
        _set("models.ddgm_a.train.ema_decay", 1.0),
        _key("models.ddgm_a.train.ema_decay"),
    ),
    Malformed(
        "ema_decay_zero", "open interval", _set("gans.sngan.train.ema_decay", 0.0), _key("gans.sngan.train.ema_decay")
    ),
    Malformed(
        "ema_decay_above_one",
        "open interval",
        _set("daed.posthoc.train.ema_decay", 1.5),
        _key("daed.posthoc.train.ema_decay"),
    ),
    Malformed("dddm_ema_negative", "open interval", _set("dddm.train.ema_decay", -0.1), _key("dddm.train.ema_decay")),
    Malformed(
        "transfer_beta_one",
        "open interval",
        _set("analysis.transferability.beta_1", 1.0),
        _key("analysis.transferability.beta_1"),
    ),
    Malformed(
        "split_point_zero",
        "open interval",
        _set("daed.posthoc.split_points", [0.0, "linear"]),
        r"daed\.posthoc\.split_points\.0:",
    ),
    # -- sizes the named data set cannot supply (digits: 1438 train, 359 test images)
    Malformed(
        "batch_over_train", "size", _set("models.ddgm_a.train.batch_size", 5000), _key("models.ddgm_a.train.batch_size")
    ),
    Malformed(
        "gan_batch_over_train", "size", _set("gans.sngan.train.batch_size", 5000), _key("gans.sngan.train.batch_size")
    ),
    Malformed(
        "reference_over_test", "size", _set("evaluation.reference_images", 400), _key("evaluation.reference_images")
    ),
    Malformed("dddm_subset_over_train", "size", _set("dddm.train.subset", 2000), _key("dddm.train.subset")),
    Malformed("nll_images_over_test", "size", _set("evaluation.nll_images", 1000), _key("evaluation.nll_images")),
    Malformed(
        "analysis_images_over_test",
        "size",
        _set("analysis.reconstruction.images", 500),
        _key("analysis.reconstruction.images"),
    ),
    Malformed(
        "classifier_batch_over_train", "size", _set("classifier.batch_size", 4096), _key("classifier.batch_size")
    ),
    # -- an explicit root that does not exist (it would fall back to another source silently)
    Malformed(
        "root_missing", "root", _set("datasets.digits.root", "/nonexistent/digits"), _key("datasets.digits.root")
    ),
    Malformed("root_is_a_file", "root", _set("datasets.digits.root", "/etc/hostname"), _key("datasets.digits.root")),
    # -- unknown keys, at every level
    Malformed("unknown_top_level", "unknown key", _set("bogus", 1), r"Additional properties are not allowed \('bogus'"),
    Malformed(
        "unknown_in_train", "unknown key", _set("models.ddgm_a.train.bogus", 1), r"models\.ddgm_a\.train: .*'bogus'"
    ),
    Malformed(
        "unknown_in_unet", "unknown key", _set("models.ddgm_a.unet.bogus", 1), r"models\.ddgm_a\.unet: .*'bogus'"
    ),
    Malformed("unknown_in_dataset", "unknown key", _set("datasets.digits.bogus", 1), r"datasets\.digits: .*'bogus'"),
    Malformed(
        "unknown_in_bootstrap",
        "unknown key",
        _set("evaluation.bootstrap.bogus", 1),
        r"evaluation\.bootstrap: .*'bogus'",
    ),
    Malformed(
        "unknown_in_dddm_run", "unknown key", _set("dddm.runs.dddm_l1.bogus", 1), r"dddm\.runs\.dddm_l1: .*'bogus'"
    ),
    Malformed("unknown_in_analysis", "unknown key", _set("analysis.snr.bogus", 1), r"analysis\.snr: .*'bogus'"),
    Malformed("unknown_in_gan", "unknown key", _set("gans.sngan.bogus", 1), r"gans\.sngan: .*'bogus'"),
]

CATEGORIES = sorted({m.category for m in CATALOGUE})


def malformed_text(entry: Malformed) -> str:
    return entry.edit(TINY.read_text(encoding="utf-8"))
