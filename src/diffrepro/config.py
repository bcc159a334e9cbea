"""Loading and validating the parameter file (params.yaml or configs/*.yaml).

The JSON schema lives in ``workflow/schemas/config.schema.yaml`` so Snakemake's workflow and
the ``diffrepro`` steps validate against the same file.  Errors name the offending key by its
dotted path (``models.ddgm_simple.train.lr``) and the file it came from.

:func:`load_config` returns the validated parameters with every default of the schema filled in
(:func:`with_defaults`; the schema's ``default`` keywords are the one place defaults live, see
:mod:`diffrepro.schema`), and :func:`model_config` a model's section as a typed, frozen
:class:`~diffrepro.sections.ModelConfig`; the other sections have accessors of their own
(:func:`gan_config`, :func:`dddm_config`, :func:`evaluation_config`, ...; the dataclasses are in
:mod:`diffrepro.sections_pipeline`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from .paramfile import read_params
from .reporting.catalogue import MODEL_TABLES
from .schema import SCHEMA_RELPATH, ConfigError, apply_defaults, load_schema, schema_path
from .sections import ModelConfig, network_settings
from .sections_pipeline import (
    AnalysisConfig,
    ClassifierConfig,
    DAEDConfig,
    DDDMConfig,
    DDDMRunConfig,
    EvaluationConfig,
    GANConfig,
    SurrogateConfig,
)

__all__ = [
    "SCHEMA_RELPATH",
    "ConfigError",
    "ModelConfig",
    "analysis_config",
    "target_location",
    "classifier_config",
    "daed_config",
    "data_of",
    "dataset_of",
    "dddm_config",
    "dddm_run",
    "evaluation_config",
    "gan_config",
    "load_config",
    "load_schema",
    "model_config",
    "normalize_model",
    "posthoc_splits",
    "replicate_runs",
    "run_seed",
    "schema_path",
    "split_label",
    "surrogate_config",
    "surrogate_kind",
    "validate_config",
    "with_defaults",
]


def dotted(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _is_integer(_checker: Any, value: Any) -> bool:
    """JSON Schema's integers without floats: ``steps: 20.0`` is refused (jsonschema would accept it)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker: Any, value: Any) -> bool:
    """Finite numbers only (``.nan`` and ``.inf`` are refused; :func:`_check_finite` names them first)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Draft 2020-12 with strict integers and finite numbers
_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}
    ),
)


def _check_finite(node: Any, path: tuple[str, ...], source: str) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{source} is invalid:\n  {dotted(path)}: {node} is not a finite number")
    if isinstance(node, dict):
        for key, value in node.items():
            _check_finite(value, (*path, str(key)), source)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_finite(value, (*path, str(i)), source)


def validate_config(config: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Validate ``config`` against the schema; raise ConfigError naming key path and file. ``config`` is left as
    it is (Snakemake's rules track its values as written) and returned."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(config).__name__}")
    _check_finite(config, (), source)
    validator = _StrictValidator(load_schema())
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
    if not config.get("daed"):
        return {}
    return {split_label(p): p for p in daed_config(config).posthoc.split_points}


def data_of(config: dict[str, Any], name: str) -> str:
    """The data set (a key of ``datasets``) that model or GAN ``name`` is trained on."""
    if name in config["models"]:
        return model_config(config, name).data
    if name in config["gans"]:
        return gan_config(config, name).data
    raise ConfigError(f"{name!r} is neither a model nor a GAN")


def dataset_of(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``datasets`` section of the data set model/GAN ``name`` is trained on."""
    return config["datasets"][data_of(config, name)]


def target_location(config: dict[str, Any], name: str, download: bool) -> tuple[str | None, bool]:
    """``(root, download)`` of target data set ``name`` (a registry name) of an analysis whose own data set's
    ``download`` is ``download``: ``analysis.target_roots.<name>``, else the first ``datasets`` entry of that data
    set (one with a root first: its root and download), else the registry's default locations (root ``None``)."""
    roots = analysis_config(config).target_roots
    if name in roots:
        return roots[name], download
    entries = sorted((ds for ds in config["datasets"].values() if ds["dataset"] == name), key=lambda d: not d["root"])
    return (entries[0]["root"], entries[0]["download"]) if entries else (None, download)


def data_refs(config: dict[str, Any]) -> dict[str, str]:
    """Every reference to a data set: dotted key -> data-set name."""
    refs = {f"models.{n}.data": model_config(config, n).data for n in config["models"]}
    refs.update({f"gans.{n}.data": gan_config(config, n).data for n in config["gans"]})
    dddm = dddm_config(config)
    refs.update({f"dddm.runs.{n}.data": run.data for n, run in dddm.runs.items()})
    refs.update({f"dddm.datasets[{i}]": name for i, name in enumerate(dddm.datasets)})
    analysis = analysis_config(config)
    snr = analysis.snr
    if isinstance(snr.data, str):
        refs["analysis.snr.data"] = snr.data
    else:
        refs.update({f"analysis.snr.data[{i}]": name for i, name in enumerate(snr.datasets)})
    for name, panel in analysis.reconstruction.panels.items():
        refs[f"analysis.reconstruction.panels.{name}.data"] = panel.data
    for name, src in analysis.transferability.sources.items():
        refs[f"analysis.transferability.sources.{name}.data"] = src.data
    for name, study in daed_config(config).posthoc.studies.items():
        refs[f"daed.posthoc.studies.{name}.data"] = study.data
    for name, entry in daed_config(config).composed.items():
        refs[f"daed.composed.{name}.data"] = entry.data
    refs["surrogate.data"] = surrogate_config(config).data
    return refs


#: sections that name their model(s) and state the models' data set beside them (DVC cannot look it up)
def _stated_data(config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    analysis, post, sur = analysis_config(config), daed_config(config).posthoc, surrogate_config(config)
    transfer = analysis.transferability
    return {
        **{
            f"analysis.reconstruction.panels.{name}": (panel.data, [panel.model])
            for name, panel in analysis.reconstruction.panels.items()
        },
        **{
            f"analysis.transferability.sources.{name}": (src.data, list(src.models.as_dict().values()))
            for name, src in transfer.sources.items()
        },
        **{f"daed.posthoc.studies.{name}": (study.data, [study.generator]) for name, study in post.studies.items()},
        **{f"daed.composed.{name}": (c.data, [c.generator]) for name, c in daed_config(config).composed.items()},
        "surrogate": (sur.data, [sur.base_model, *sur.surrogates]),
    }


def _check_data_refs(config: dict[str, Any], source: str) -> None:
    known = sorted(config["datasets"])
    for key, name in data_refs(config).items():
        if name not in config["datasets"]:
            raise ConfigError(f"{source}: {key}: unknown data set {name!r}; datasets are {', '.join(known)}")
    # a section naming models states their data set too; it must be theirs
    for key, (stated, names) in _stated_data(config).items():
        for name in names:
            if name in config["models"] or name in config["gans"]:
                if data_of(config, name) != stated:
                    raise ConfigError(
                        f"{source}: {key}.data: {stated!r}, but {name!r} is trained on "
                        f"{data_of(config, name)!r}; the models of {key} and its data must agree"
                    )
    dynamics = analysis_config(config).dynamics.as_dict()
    dyn = {n: data_of(config, n) for n in dynamics.values() if n in config["models"]}
    if len(set(dyn.values())) > 1:
        raise ConfigError(f"{source}: analysis.dynamics: the models are trained on different data sets ({dyn})")


def _check_model_ref(config: dict[str, Any], source: str, key: str, name: str, kind: str | None = "ddgm") -> None:
    if name not in config["models"]:
        raise ConfigError(f"{source}: {key}: unknown model {name!r}; models are {', '.join(sorted(config['models']))}")
    actual = model_config(config, name).kind
    if kind is not None and actual != kind:
        raise ConfigError(f"{source}: {key}: model {name!r} is of kind {actual}, but a {kind} is needed here")


def _check_composed(config: dict[str, Any], source: str) -> None:
    """A composed DAED takes the generator of one joint DAED and the DAE of another: both of kind daed with the
    same network, schedule and T (so the DAE's step is the generator's first; the compose step checks the image
    shapes in their weights), under a name no model or replicate has (it names its samples' and metrics' files)."""
    for name, entry in daed_config(config).composed.items():
        where = f"{source}: daed.composed.{name}"
        if name in config["models"] or name in config["replicates"]:
            raise ConfigError(f"{where}: the name is a model's or a replicate's; a composed DAED needs its own")
        _check_model_ref(config, source, f"daed.composed.{name}.generator", entry.generator, kind="daed")
        _check_model_ref(config, source, f"daed.composed.{name}.dae", entry.dae, kind="daed")
        if entry.generator == entry.dae:
            raise ConfigError(f"{where}: generator and dae are both {entry.dae!r}; that is the model itself")
        gen, dae = (
            network_settings(model_config(config, entry.generator)),
            network_settings(model_config(config, entry.dae)),
        )
        differ = [k for k in gen if gen[k] != dae[k]]
        if differ:
            raise ConfigError(
                f"{where}: models {entry.generator!r} and {entry.dae!r} differ in {', '.join(differ)}; the DAE of one "
                "joint DAED replaces the other's only with the same network, schedule and T"
            )


def _check_daed(config: dict[str, Any], source: str) -> None:
    _check_composed(config, source)
    post, analysis = daed_config(config).posthoc, analysis_config(config)
    for name, study in post.studies.items():
        _check_model_ref(config, source, f"daed.posthoc.studies.{name}.generator", study.generator)
        method = model_config(config, study.generator).sample.method
        if method not in ("ancestral", "respaced"):  # its chain hands its state at each split step to the DAE
            raise ConfigError(
                f"{source}: models.{study.generator}.sample.method: {method!r}, but the generator of post-hoc study "
                f"{name!r} runs the ancestral process (all T steps or respaced) down to each split step"
            )
    splits = [p for p in post.split_points if p != "linear"]
    labels = [split_label(p) for p in post.split_points]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{source}: daed.posthoc.split_points: {list(post.split_points)} repeat a split point")
    t = post.train
    if t.checkpoint_every % t.log_every:
        raise ConfigError(
            f"{source}: daed.posthoc.train.checkpoint_every must be a multiple of log_every "
            f"(got {t.checkpoint_every} and {t.log_every})"
        )
    for name, panel in analysis.reconstruction.panels.items():
        _check_model_ref(config, source, f"analysis.reconstruction.panels.{name}.model", panel.model)
    _check_model_ref(config, source, "analysis.toy_examples.model", analysis.toy_examples.model)
    # an analysis compares DDGMs with the post-hoc DAE at beta_1 of a study on their own data set
    transfer, toy = analysis.transferability, analysis.toy_examples
    uses = {f"analysis.transferability.sources.{n}": (src.posthoc, src.data) for n, src in transfer.sources.items()}
    uses["analysis.toy_examples"] = (toy.posthoc, data_of(config, toy.model))
    for key, (study, data) in uses.items():
        if study not in post.studies:
            raise ConfigError(
                f"{source}: {key}.posthoc: {study!r} is not one of daed.posthoc.studies ({', '.join(post.studies)})"
            )
        if post.studies[study].data != data:
            raise ConfigError(
                f"{source}: {key}.posthoc: study {study!r} is on {post.studies[study].data!r}, but the analysis' "
                f"DDGMs are trained on {data!r}; name a post-hoc study of that data set"
            )
    for key, beta in (("transferability", transfer.beta_1), ("toy_examples", toy.beta_1)):
        if not any(abs(float(beta) - float(p)) < 1e-12 for p in splits):
            raise ConfigError(
                f"{source}: analysis.{key}.beta_1: {beta} is not one of daed.posthoc.split_points "
                f"{splits}; its DAE is the post-hoc DAE of that split point"
            )
    for name, src in transfer.sources.items():
        for key, model in src.models.as_dict().items():
            _check_model_ref(config, source, f"analysis.transferability.sources.{name}.models.{key}", model)
    for name, fig in transfer.figures.items():
        for i, col in enumerate(fig.columns):
            where = f"{source}: analysis.transferability.figures.{name}.columns[{i}]"
            if col["source"] not in transfer.sources:
                raise ConfigError(
                    f"{where}.source: {col['source']!r} is not one of analysis.transferability.sources "
                    f"({', '.join(transfer.sources)})"
                )
            if fig.target not in transfer.sources[col["source"]].targets:
                raise ConfigError(
                    f"{where}: source {col['source']!r} has no target {fig.target!r} (its targets: "
                    f"{', '.join(transfer.sources[col['source']].targets)}); the figure's rows are that set's images"
                )
    _check_model_ref(config, source, "analysis.dynamics.ddgm", analysis.dynamics.ddgm)
    _check_model_ref(config, source, "analysis.dynamics.daed", analysis.dynamics.daed, kind="daed")


def surrogate_kind(config: dict[str, Any], name: str) -> str:
    """``"gan"`` for a key of ``gans``, ``"lowres"`` for a model trained at a lower ``resolution``."""
    if name in config["gans"]:
        return "gan"
    if name in config["models"] and model_config(config, name).resolution:
        return "lowres"
    raise ConfigError(
        f"surrogate {name!r} is neither a key of gans ({', '.join(sorted(config['gans'])) or 'none'}) "
        "nor a model with a lower `resolution`"
    )


def _check_surrogate_dddm(config: dict[str, Any], source: str) -> None:
    both = sorted(set(config["gans"]) & set(config["models"]))
    if both:
        raise ConfigError(f"{source}: gans and models share the names {both}; each name is one folder under models/")
    sur = surrogate_config(config)
    lowres = {n for n in config["models"] if model_config(config, n).resolution}
    _check_model_ref(config, source, "surrogate.base_model", sur.base_model)
    if sur.base_model in lowres:
        raise ConfigError(
            f"{source}: surrogate.base_model: {sur.base_model!r} is trained at a lower "
            "resolution; the base DDGM runs at the data resolution"
        )
    for name in sur.surrogates:
        if name in config["gans"] and name in config["models"]:
            raise ConfigError(f"{source}: surrogate.surrogates: {name!r} names both a GAN and a model")
        try:
            kind = surrogate_kind(config, name)
        except ConfigError as exc:
            raise ConfigError(f"{source}: surrogate.surrogates: {exc}") from None
        if kind == "lowres":  # its chain hands over at the base model's t_mid: one forward process for both
            low, base = model_config(config, name), model_config(config, sur.base_model)
            for key in ("timesteps", "schedule"):
                mine, theirs = (getattr(m, key) for m in (low, base))
                if mine != theirs:
                    mine, theirs = (v.as_dict() if hasattr(v, "as_dict") else v for v in (mine, theirs))
                    raise ConfigError(
                        f"{source}: models.{name}.{key}: {mine!r}, but the base model "
                        f"{sur.base_model!r} has {theirs!r}; a low-resolution surrogate hands over at "
                        "the base model's t_mid, so both need the same forward process"
                    )
    for name in sorted(lowres):
        model = model_config(config, name)
        res, data = model.resolution, model.data
        data_res = config["datasets"][data]["resolution"]
        if data_res is not None and res >= data_res:
            raise ConfigError(
                f"{source}: models.{name}.resolution: {res} is not below datasets.{data}.resolution {data_res}"
            )
    # a low-resolution model is a surrogate only: the analyses and the DAED need full-resolution DDGMs
    analysis = analysis_config(config)
    refs = {
        f"daed.posthoc.studies.{n}.generator": st.generator for n, st in daed_config(config).posthoc.studies.items()
    }
    for name, panel in analysis.reconstruction.panels.items():
        refs[f"analysis.reconstruction.panels.{name}.model"] = panel.model
    refs["analysis.toy_examples.model"] = analysis.toy_examples.model
    for src_name, src in analysis.transferability.sources.items():
        for key, name in src.models.as_dict().items():
            refs[f"analysis.transferability.sources.{src_name}.models.{key}"] = name
    for key, name in analysis.dynamics.as_dict().items():
        refs[f"analysis.dynamics.{key}"] = name
    for key, name in refs.items():
        if name in lowres:
            raise ConfigError(
                f"{source}: {key}: {name!r} is trained at a lower resolution (a surrogate); "
                "this step needs a model at the data resolution"
            )
    dddm = dddm_config(config)
    if dddm.conditioning == "cross_attention" and not dddm.unet.attention_resolutions:
        raise ConfigError(
            f"{source}: dddm.conditioning: cross_attention needs dddm.unet.attention_resolutions (the resolutions "
            "where the network attends to x_bar), which is empty"
        )
    if dddm.main not in dddm.runs:
        raise ConfigError(
            f"{source}: dddm.main: {dddm.main!r} is not one of dddm.runs ({', '.join(sorted(dddm.runs))})"
        )
    t = dddm.train
    if t.checkpoint_every % t.log_every:
        raise ConfigError(
            f"{source}: dddm.train.checkpoint_every must be a multiple of log_every "
            f"(got {t.checkpoint_every} and {t.log_every})"
        )
    used = sorted({run.data for run in dddm.runs.values()})
    if sorted(dddm.datasets) != used:
        raise ConfigError(
            f"{source}: dddm.datasets: {list(dddm.datasets)} must list each data set of dddm.runs once "
            f"({used}): DVC's foreach makes one reference-features job per entry"
        )
    from .data.registry import UNLABELLED_SETS
    from .reporting.paper_values import dddm_paper_table

    for name in sorted(dddm.runs):
        trained, run = dddm_run(config, name)
        key = f"dddm.runs.{name}"
        levels = len(trained.unet.channel_mult)
        data_res = config["datasets"][run.data]["resolution"]
        if data_res is not None and data_res % (2 ** (levels - 1)):
            raise ConfigError(
                f"{source}: {key}: its network's channel_mult has {levels} levels, so datasets.{run.data}"
                f".resolution must be divisible by {2 ** (levels - 1)}, got {data_res}"
            )
        if trained.schedule == "linear" and trained.timesteps <= 20:
            raise ConfigError(f"{source}: {key}: the linear schedule needs T > 20, got {trained.timesteps}")
        dataset = config["datasets"][run.data]["dataset"]
        label, published = dddm_paper_table(dataset)
        if run.paper_row is not None and run.paper_row not in published:
            raise ConfigError(
                f"{source}: {key}.paper_row: {run.paper_row!r} is not a row of Zhang et al. {label}, the table of "
                f"its data set {run.data} ({dataset}); rows: {', '.join(published)}"
            )
        if run.class_conditional and dataset in UNLABELLED_SETS:
            raise ConfigError(
                f"{source}: {key}.class_conditional: {run.data} ({dataset}) has no class labels to condition on"
            )


def _check_sizes(config: dict[str, Any], source: str) -> None:
    """Sizes the named data sets cannot supply (:data:`~diffrepro.data.registry.SPLIT_SIZES`), and explicit data
    folders that do not exist, refused with the dotted key."""
    from .data.registry import SPLIT_SIZES, UNLABELLED_SETS

    def split_size(data: str, split: str) -> int | None:
        return SPLIT_SIZES.get(config["datasets"][data]["dataset"], {}).get(split)

    def at_most(key: str, value: int | None, data: str, split: str, what: str) -> None:
        n = split_size(data, split)
        if value is not None and n is not None and value > n:
            raise ConfigError(f"{source}: {key}: {value} is more than the {n} {split} images of {data} ({what})")

    def folder(key: str, root: str, instead: str) -> None:
        if not Path(root).is_dir():
            what = "is not a folder" if Path(root).exists() else "does not exist"
            raise ConfigError(f"{source}: {key}: {root!r} {what} ({instead})")

    for name, ds in config["datasets"].items():
        if ds.get("root") not in (None, ""):
            folder(
                f"datasets.{name}.root",
                ds["root"],
                "set root: null to use the other sources: the Debian package or a download",
            )
    for name, root in analysis_config(config).target_roots.items():
        folder(
            f"analysis.target_roots.{name}",
            root,
            f"remove the entry to read {name} from its datasets entry's root or the registry's default locations",
        )
    for name, model in config["models"].items():
        at_most(f"models.{name}.train.batch_size", model["train"]["batch_size"], model["data"], "train", "a batch")
    for name, gan in config["gans"].items():
        at_most(f"gans.{name}.train.batch_size", gan["train"]["batch_size"], gan["data"], "train", "a batch")
    post = config["daed"]["posthoc"]
    for study in post["studies"].values():
        at_most("daed.posthoc.train.batch_size", post["train"]["batch_size"], study["data"], "train", "a batch")
    train = config["dddm"]["train"]
    for name, run in sorted(config["dddm"]["runs"].items()):
        data = run["data"]
        at_most("dddm.train.subset", train.get("subset"), data, "train", f"the training subset of dddm.runs.{name}")
        at_most("dddm.train.batch_size", train["batch_size"], data, "train", f"a batch of dddm.runs.{name}")
    if train.get("subset") is not None and train["batch_size"] > train["subset"]:
        raise ConfigError(
            f"{source}: dddm.train.batch_size: {train['batch_size']} is more than dddm.train.subset "
            f"({train['subset']} images)"
        )
    classifier_backend = "classifier" in config["evaluation"]["backends"]
    unlabelled = sorted(n for n, ds in config["datasets"].items() if ds["dataset"] in UNLABELLED_SETS)
    if classifier_backend and unlabelled:
        raise ConfigError(
            f"{source}: evaluation.backends lists 'classifier', but datasets.{unlabelled[0]} "
            f"({config['datasets'][unlabelled[0]]['dataset']}) has no class labels to train it on: use "
            "backends: [inception] (the papers' metric) with this data set"
        )
    for name in config["datasets"] if classifier_backend else ():
        at_most("classifier.batch_size", config["classifier"]["batch_size"], name, "train", "a batch")
    ev = config["evaluation"]
    split = ev["reference_split"]
    for data in sorted({m["data"] for m in config["models"].values()}):
        at_most("evaluation.reference_images", ev["reference_images"], data, split, "the reference set")
    dddm_split = config["dddm"].get("reference_split", split)
    for dddm_data in sorted(config["dddm"]["datasets"]):
        at_most(
            "evaluation.reference_images", ev["reference_images"], dddm_data, dddm_split, "the DDDM's reference set"
        )
    for data in sorted({m["data"] for m in config["models"].values()}):
        at_most("evaluation.nll_images", ev["nll_images"], data, "test", "the exact-NLL images")
    recon, transfer = config["analysis"]["reconstruction"], config["analysis"]["transferability"]
    for panel in recon["panels"].values():
        at_most("analysis.reconstruction.images", recon["images"], panel["data"], "test", "the analysis images")
    for src in transfer["sources"].values():
        at_most("analysis.transferability.images", transfer["images"], src["data"], "test", "the analysis images")


def _check_semantics(config: dict[str, Any], source: str) -> None:
    """Cross-field rules the schema cannot express."""
    _check_data_refs(config, source)
    _check_sizes(config, source)
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
    _check_replicates(config, source)


def _check_replicates(config: dict[str, Any], source: str) -> None:
    """A replicate names an existing model and its data set, a seed none of the model's runs has, and a name
    no model has (runs share the paths of models)."""
    seen: dict[tuple[str, int], str] = {}
    for name, rep in config["replicates"].items():
        where = f"{source}: replicates.{name}"
        if name in config["models"]:
            raise ConfigError(f"{where}: the name is a model's; a replicate needs its own (it names its files)")
        if rep["model"] not in config["models"]:
            raise ConfigError(f"{where}.model: {rep['model']!r} is not a key of models")
        data = config["models"][rep["model"]]["data"]
        if rep["data"] != data:
            raise ConfigError(f"{where}.data: {rep['data']!r}, but models.{rep['model']}.data is {data!r}")
        if rep["seed"] == config["seed"]:
            raise ConfigError(f"{where}.seed: {rep['seed']} is the seed of the model's own run (params seed)")
        other = seen.setdefault((rep["model"], rep["seed"]), name)
        if other != name:
            raise ConfigError(f"{where}.seed: replicates.{other} already runs {rep['model']} with seed {rep['seed']}")


def run_seed(config: Mapping[str, Any], seed: str | int | None) -> int:
    """The seed of a run: a step's ``--seed`` (a replicate's, params.replicates) or the params seed."""
    return int(config["seed"]) if seed is None else int(seed)


def replicate_runs(config: Mapping[str, Any], model: str) -> list[tuple[str, int]]:
    """The runs of ``model``: its own (name, params seed) first, then its replicates' (name, seed) by seed."""
    reps = sorted((rep["seed"], name) for name, rep in config["replicates"].items() if rep["model"] == model)
    return [(model, int(config["seed"]))] + [(name, seed) for seed, name in reps]


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a parameter file; the parameters with every default of the schema filled in
    (:func:`with_defaults`)."""
    path = Path(path)
    return with_defaults(validate_config(read_params(path), source=str(path)))


def model_config(config: dict[str, Any], name: str) -> ModelConfig:
    """The section of model ``name`` as a :class:`~diffrepro.sections.ModelConfig` (every default filled in, the
    named choices spelled out); a clear error for an unknown name."""
    if name not in config["models"]:
        known = ", ".join(sorted(config["models"]))
        raise ConfigError(f"unknown model '{name}': params define models {known}")
    return ModelConfig.from_dict(config["models"][name])


def _section(config: dict[str, Any], key: str) -> Any:
    if not config.get(key):
        raise ConfigError(f"the parameter file has no {key} section")
    return config[key]


def classifier_config(config: dict[str, Any]) -> ClassifierConfig:
    """The ``classifier`` section as a :class:`~diffrepro.sections_pipeline.ClassifierConfig`."""
    return ClassifierConfig.from_dict(_section(config, "classifier"))


def evaluation_config(config: dict[str, Any]) -> EvaluationConfig:
    """The ``evaluation`` section as an :class:`~diffrepro.sections_pipeline.EvaluationConfig`."""
    return EvaluationConfig.from_dict(_section(config, "evaluation"))


def analysis_config(config: dict[str, Any]) -> AnalysisConfig:
    """The ``analysis`` section as an :class:`~diffrepro.sections_pipeline.AnalysisConfig`."""
    return AnalysisConfig.from_dict(_section(config, "analysis"))


def daed_config(config: dict[str, Any]) -> DAEDConfig:
    """The ``daed`` section as a :class:`~diffrepro.sections_pipeline.DAEDConfig` (``.posthoc``: the post-hoc DAEs)."""
    return DAEDConfig.from_dict(_section(config, "daed"))


def surrogate_config(config: dict[str, Any]) -> SurrogateConfig:
    """The ``surrogate`` section as a :class:`~diffrepro.sections_pipeline.SurrogateConfig`."""
    return SurrogateConfig.from_dict(_section(config, "surrogate"))


def gan_config(config: dict[str, Any], name: str) -> GANConfig:
    """The section of GAN ``name`` (a key of ``gans``) as a :class:`~diffrepro.sections_pipeline.GANConfig`; a
    clear error for an unknown name."""
    gans = config.get("gans") or {}
    if name not in gans:
        raise ConfigError(f"unknown GAN {name!r}: params define gans {', '.join(sorted(gans)) or '(none)'}")
    return GANConfig.from_dict(gans[name])


def dddm_config(config: dict[str, Any]) -> DDDMConfig:
    """The ``dddm`` section as a :class:`~diffrepro.sections_pipeline.DDDMConfig`."""
    return DDDMConfig.from_dict(_section(config, "dddm"))


def dddm_run(config: dict[str, Any], name: str) -> tuple[DDDMConfig, DDDMRunConfig]:
    """``(the dddm section as run name trains it, the run)``: the section with the run's own T, epochs, network and
    training settings in place of its values (:meth:`DDDMRunConfig.overrides`); a clear error naming the runs
    otherwise. (The run's data set is ``run.data``.)"""
    dddm = dddm_config(config)
    if name not in dddm.runs:
        raise ConfigError(f"unknown DDDM run {name!r}: params define dddm.runs {', '.join(sorted(dddm.runs))}")
    run = dddm.runs[name]
    overrides = run.overrides()
    if not overrides:
        return dddm, run
    section = dddm.as_dict()
    for dotted, value in overrides.items():
        *path, last = dotted.split(".")
        node = section
        for key in path:
            node = node[key]
        node[last] = value
    return DDDMConfig.from_dict(section), run
