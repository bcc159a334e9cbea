"""Loading and validating the parameter file (params.yaml or configs/*.yaml).

The JSON schema lives in ``workflow/schemas/config.schema.yaml`` so Snakemake's workflow and
the ``diffrepro`` steps validate against the same file.  Errors name the offending key by its
dotted path (``models.ddgm_simple.train.lr``) and the file it came from.

:func:`load_config` returns the validated parameters with every default of the schema filled in
(:func:`with_defaults`; the schema's ``default`` keywords are the one place defaults live, see
:mod:`diffrepro.schema`), and :func:`model_config` a model's section as a typed, frozen
:class:`~diffrepro.sections.ModelConfig`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .reporting.catalogue import MODEL_TABLES
from .schema import SCHEMA_RELPATH, ConfigError, apply_defaults, load_schema, schema_path
from .sections import ModelConfig

__all__ = [
    "SCHEMA_RELPATH",
    "ConfigError",
    "ModelConfig",
    "data_of",
    "dataset_of",
    "dddm_run",
    "load_config",
    "load_schema",
    "model_config",
    "normalize_model",
    "posthoc_splits",
    "schema_path",
    "split_label",
    "surrogate_kind",
    "validate_config",
    "with_defaults",
]


def dotted(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Validate ``config`` against the schema; raise ConfigError naming key path and file. ``config`` is left as
    it is (Snakemake's rules track its values as written) and returned."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(config).__name__}")
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        lines = []
        for err in errors[:10]:
            where = dotted(err.absolute_path)
            if err.validator == "additionalProperties":
                lines.append(f"  {where}: {err.message} (unknown key; allowed keys are listed in {SCHEMA_RELPATH})")
            else:
                lines.append(f"  {where}: {err.message}")
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines) + more)
    _check_semantics(config, source)
    return config


# Defaults of the optional keys, and of the options a named choice takes, live in one place: the schema's
# ``default`` keywords (diffrepro.schema). `with_defaults` fills them into a whole validated parameter file, and
# the typed sections (diffrepro.sections) are built from it, so no step carries a fallback value of its own.


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of the validated ``config`` with every default of the schema filled in, in every section (a named
    choice of a model stays as written; :func:`model_config` spells it out)."""
    return apply_defaults(copy.deepcopy(config))


def normalize_model(model: dict[str, Any]) -> dict[str, Any]:
    """A model section with every choice spelled out (named choices as ``{"name": ..., options}``) and every
    default filled in, as plain data: ``ModelConfig.from_dict(model).as_dict()``."""
    return ModelConfig.from_dict(model).as_dict()


def split_label(point: float | str) -> str:
    """The name of a post-hoc DAED split point in paths and commands: the value as written, ``0.1`` or
    ``linear`` (DVC's ``foreach`` over ``daed.posthoc.split_points`` spells ``${item}`` the same way)."""
    return "linear" if point == "linear" else str(point)


def posthoc_splits(config: dict[str, Any]) -> dict[str, float | str]:
    """``label -> split point`` of the post-hoc DAEDs (empty without a ``daed`` section)."""
    daed = config.get("daed")
    return {} if not daed else {split_label(p): p for p in daed["posthoc"]["split_points"]}


def data_of(config: dict[str, Any], name: str) -> str:
    """The data set (a key of ``datasets``) that model or GAN ``name`` is trained on; ``"dddm"`` names the DDDM's."""
    if name == "dddm":
        return config["dddm"]["data"]
    for section in ("models", "gans"):
        if name in config.get(section, {}):
            return config[section][name]["data"]
    raise ConfigError(f"{name!r} is neither a model, a GAN nor dddm")


def dataset_of(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``datasets`` section of the data set model/GAN ``name`` is trained on."""
    return config["datasets"][data_of(config, name)]


def data_refs(config: dict[str, Any]) -> dict[str, str]:
    """Every reference to a data set: dotted key -> data-set name."""
    refs = {f"models.{n}.data": m["data"] for n, m in config["models"].items()}
    refs.update({f"gans.{n}.data": g["data"] for n, g in config.get("gans", {}).items()})
    if config.get("dddm"):
        refs["dddm.data"] = config["dddm"]["data"]
    for key in ("snr", "reconstruction", "transferability"):
        if key in config["analysis"]:
            refs[f"analysis.{key}.data"] = config["analysis"][key]["data"]
    if config.get("daed"):
        refs["daed.posthoc.data"] = config["daed"]["posthoc"]["data"]
    if config.get("surrogate"):
        refs["surrogate.data"] = config["surrogate"]["data"]
    return refs


#: sections that name their model(s) and state the models' data set beside them (DVC cannot look it up)
def _stated_data(config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    analysis, out = config["analysis"], {}
    if "reconstruction" in analysis:
        out["analysis.reconstruction"] = (analysis["reconstruction"]["data"], [analysis["reconstruction"]["model"]])
    if "transferability" in analysis:
        out["analysis.transferability"] = (
            analysis["transferability"]["data"],
            list(analysis["transferability"]["models"].values()),
        )
    if config.get("daed"):
        out["daed.posthoc"] = (config["daed"]["posthoc"]["data"], [config["daed"]["posthoc"]["generator"]])
    if config.get("surrogate"):
        sur = config["surrogate"]
        out["surrogate"] = (sur["data"], [sur["base_model"], *sur["surrogates"]])
    return out


def _check_data_refs(config: dict[str, Any], source: str) -> None:
    known = sorted(config["datasets"])
    for key, name in data_refs(config).items():
        if name not in config["datasets"]:
            raise ConfigError(f"{source}: {key}: unknown data set {name!r}; datasets are {', '.join(known)}")
    # a section naming models states their data set too; it must be theirs
    for key, (stated, names) in _stated_data(config).items():
        for name in names:
            if name in config["models"] or name in config.get("gans", {}):
                if data_of(config, name) != stated:
                    raise ConfigError(
                        f"{source}: {key}.data: {stated!r}, but {name!r} is trained on "
                        f"{data_of(config, name)!r}; the models of {key} and its data must agree"
                    )
    dyn = {n: data_of(config, n) for n in config["analysis"].get("dynamics", {}).values() if n in config["models"]}
    if len(set(dyn.values())) > 1:
        raise ConfigError(f"{source}: analysis.dynamics: the models are trained on different data sets ({dyn})")


def _check_model_ref(config: dict[str, Any], source: str, key: str, name: str, kind: str | None = "ddgm") -> None:
    if name not in config["models"]:
        raise ConfigError(f"{source}: {key}: unknown model {name!r}; models are {', '.join(sorted(config['models']))}")
    actual = model_config(config, name).kind
    if kind is not None and actual != kind:
        raise ConfigError(f"{source}: {key}: model {name!r} is of kind {actual}, but a {kind} is needed here")


def _check_daed(config: dict[str, Any], source: str) -> None:
    daed, analysis = config.get("daed"), config["analysis"]
    splits = []
    if daed:
        post = daed["posthoc"]
        _check_model_ref(config, source, "daed.posthoc.generator", post["generator"])
        splits = [p for p in post["split_points"] if p != "linear"]
        labels = [split_label(p) for p in post["split_points"]]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{source}: daed.posthoc.split_points: {post['split_points']} repeat a split point")
        t = post["train"]
        if t["checkpoint_every"] % t["log_every"]:
            raise ConfigError(
                f"{source}: daed.posthoc.train.checkpoint_every must be a multiple of log_every "
                f"(got {t['checkpoint_every']} and {t['log_every']})"
            )
    for key in ("reconstruction", "toy_examples"):
        if key in analysis:
            _check_model_ref(config, source, f"analysis.{key}.model", analysis[key]["model"])
    for key in ("transferability", "toy_examples"):
        if key in analysis:
            beta = analysis[key]["beta_1"]
            if not daed or not any(abs(float(beta) - float(p)) < 1e-12 for p in splits):
                raise ConfigError(
                    f"{source}: analysis.{key}.beta_1: {beta} is not one of daed.posthoc.split_points "
                    f"{splits}; its DAE is the post-hoc DAE of that split point"
                )
    if "transferability" in analysis:
        for key, name in analysis["transferability"]["models"].items():
            _check_model_ref(config, source, f"analysis.transferability.models.{key}", name)
    if "dynamics" in analysis:
        _check_model_ref(config, source, "analysis.dynamics.ddgm", analysis["dynamics"]["ddgm"])
        _check_model_ref(config, source, "analysis.dynamics.daed", analysis["dynamics"]["daed"], kind="daed")


def surrogate_kind(config: dict[str, Any], name: str) -> str:
    """``"gan"`` for a key of ``gans``, ``"lowres"`` for a model trained at a lower ``resolution``."""
    if name in config.get("gans", {}):
        return "gan"
    if name in config["models"] and config["models"][name]["resolution"]:
        return "lowres"
    raise ConfigError(
        f"surrogate {name!r} is neither a key of gans ({', '.join(sorted(config.get('gans', {}))) or 'none'}) "
        "nor a model with a lower `resolution`"
    )


def _check_surrogate_dddm(config: dict[str, Any], source: str) -> None:
    both = sorted(set(config.get("gans", {})) & set(config["models"]))
    if both:
        raise ConfigError(f"{source}: gans and models share the names {both}; each name is one folder under models/")
    sur = config.get("surrogate")
    lowres = {n for n, m in config["models"].items() if m["resolution"]}
    if sur:
        _check_model_ref(config, source, "surrogate.base_model", sur["base_model"])
        if sur["base_model"] in lowres:
            raise ConfigError(
                f"{source}: surrogate.base_model: {sur['base_model']!r} is trained at a lower "
                "resolution; the base DDGM runs at the data resolution"
            )
        for name in sur["surrogates"]:
            if name in config.get("gans", {}) and name in config["models"]:
                raise ConfigError(f"{source}: surrogate.surrogates: {name!r} names both a GAN and a model")
            try:
                surrogate_kind(config, name)
            except ConfigError as exc:
                raise ConfigError(f"{source}: surrogate.surrogates: {exc}") from None
    for name in sorted(lowres):
        res, data = config["models"][name]["resolution"], config["models"][name]["data"]
        data_res = config["datasets"][data]["resolution"]
        if data_res is not None and res >= data_res:
            raise ConfigError(
                f"{source}: models.{name}.resolution: {res} is not below datasets.{data}.resolution {data_res}"
            )
    # a low-resolution model is a surrogate only: the analyses and the DAED need full-resolution DDGMs
    analysis, daed = config["analysis"], config.get("daed") or {}
    refs = {"daed.posthoc.generator": daed.get("posthoc", {}).get("generator")}
    for key in ("reconstruction", "toy_examples"):
        refs[f"analysis.{key}.model"] = analysis.get(key, {}).get("model")
    for key, name in analysis.get("transferability", {}).get("models", {}).items():
        refs[f"analysis.transferability.models.{key}"] = name
    for key, name in analysis.get("dynamics", {}).items():
        refs[f"analysis.dynamics.{key}"] = name
    for key, name in refs.items():
        if name in lowres:
            raise ConfigError(
                f"{source}: {key}: {name!r} is trained at a lower resolution (a surrogate); "
                "this step needs a model at the data resolution"
            )
    dddm = config.get("dddm")
    if dddm:
        if dddm["main"] not in dddm["runs"]:
            raise ConfigError(
                f"{source}: dddm.main: {dddm['main']!r} is not one of dddm.runs ({', '.join(sorted(dddm['runs']))})"
            )
        t = dddm["train"]
        if t["checkpoint_every"] % t["log_every"]:
            raise ConfigError(
                f"{source}: dddm.train.checkpoint_every must be a multiple of log_every "
                f"(got {t['checkpoint_every']} and {t['log_every']})"
            )
        levels = len(dddm["unet"]["channel_mult"])
        data_res = config["datasets"][dddm["data"]]["resolution"]
        if data_res is not None and data_res % (2 ** (levels - 1)):
            raise ConfigError(
                f"{source}: dddm.unet.channel_mult has {levels} levels, so datasets.{dddm['data']}"
                f".resolution must be divisible by {2 ** (levels - 1)}, got {data_res}"
            )
        if dddm["schedule"] == "linear" and dddm["timesteps"] <= 20:
            raise ConfigError(f"{source}: dddm.timesteps: the linear schedule needs T > 20, got {dddm['timesteps']}")


def _check_semantics(config: dict[str, Any], source: str) -> None:
    """Cross-field rules the schema cannot express."""
    _check_data_refs(config, source)
    _check_daed(config, source)
    for name in config["models"]:
        model = model_config(config, name)
        where = f"{source}: models.{name}"
        for table in model.tables:
            if table not in MODEL_TABLES:
                raise ConfigError(
                    f"{where}.tables: unknown table {table!r}; a model can be a row of {', '.join(MODEL_TABLES)}"
                )
        objective, T = model.objective.name, model.timesteps
        if model.kind == "daed" and objective not in ("simple", "vlb"):
            raise ConfigError(
                f"{where}.objective: a joint DAED is trained with the simple or the vlb objective, got {objective}"
            )
        levels = len(model.unet.channel_mult)
        resolution = model.resolution or config["datasets"][model.data]["resolution"]
        res_key = "resolution" if model.resolution else f"datasets.{model.data}.resolution"
        if resolution is not None and resolution % (2 ** (levels - 1)):
            raise ConfigError(
                f"{where}.unet.channel_mult has {levels} levels, so {res_key} "
                f"must be divisible by {2 ** (levels - 1)}, got {resolution}"
            )
        if objective == "hybrid" and model.variance != "learned_range":
            raise ConfigError(
                f"{where}.variance: the hybrid objective learns the variance, so variance must be "
                f"learned_range, got {model.variance}"
            )
        sched = model.schedule
        if sched.name in ("linear", "linear_combine") and T <= 20:
            raise ConfigError(
                f"{where}.timesteps: the {sched.name} schedule scales beta up to "
                f"0.02 * 1000 / T, so T must be > 20, got {T}"
            )
        if sched.name == "linear_range" and sched["beta_start"] > sched["beta_end"]:
            raise ConfigError(
                f"{where}.schedule: beta_start {sched['beta_start']} is larger than beta_end {sched['beta_end']}"
            )
        s = model.sample
        if s.method == "ancestral" and s.steps not in (None, T):
            raise ConfigError(
                f"{where}.sample.steps: ancestral sampling runs all {T} steps; use method respaced "
                f"or ddim for {s.steps} steps (or set steps: null)"
            )
        if s.steps is not None and s.steps > T:
            raise ConfigError(f"{where}.sample.steps: {s.steps} is more than the model's {T} timesteps")
        t = model.train
        if t.loss_buckets > T:
            raise ConfigError(f"{where}.train.loss_buckets: {t.loss_buckets} buckets for {T} timesteps")
        snapshots = list(t.snapshots)
        snap_steps = [round(f * t.steps) for f in snapshots]
        if any(step < 1 for step in snap_steps):
            raise ConfigError(f"{where}.train.snapshots: {snapshots} of {t.steps} steps rounds to step 0")
        if len(set(snap_steps)) != len(snap_steps):
            raise ConfigError(
                f"{where}.train.snapshots: {snapshots} of {t.steps} steps gives repeated steps {snap_steps}"
            )
    _check_surrogate_dddm(config, source)


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a parameter file; the parameters with every default of the schema filled in
    (:func:`with_defaults`)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"parameter file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter file {path} is not valid YAML: {exc}") from None
    return with_defaults(validate_config(config, source=str(path)))


def model_config(config: dict[str, Any], name: str) -> ModelConfig:
    """The section of model ``name`` as a :class:`~diffrepro.sections.ModelConfig` (every default filled in, the
    named choices spelled out); a clear error for an unknown name."""
    if name not in config["models"]:
        known = ", ".join(sorted(config["models"]))
        raise ConfigError(f"unknown model '{name}': params define models {known}")
    return ModelConfig.from_dict(config["models"][name])


def dddm_run(config: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config["dddm"], config["dddm"]["runs"][name])``; a clear error naming the runs otherwise."""
    dddm = config.get("dddm")
    if not dddm:
        raise ConfigError("the parameter file has no dddm section")
    if name not in dddm["runs"]:
        raise ConfigError(f"unknown DDDM run {name!r}: params define dddm.runs {', '.join(sorted(dddm['runs']))}")
    return dddm, dddm["runs"][name]
