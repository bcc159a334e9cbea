"""The quantities a finding compares, found in one preset's results (:func:`estimate`).

A quantity is named in the registry by where it lives (``workflow/claims.yaml`` lists the forms): a model
by the paper row it stands for in a table, a snapshot, a post-hoc DAED split, a surrogate hand-over, a DDDM run,
an analysis. Metrics of sample quality come with their bootstrap replicates (from the evaluation's
``.safetensors`` beside its record; :mod:`diffrepro.evaluation.intervals`), analyses with their standard
errors, counts and closed forms exact. A quantity the preset has not produced raises :class:`Missing`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.intervals import load_replicates
from ..sections_pipeline import RUN_OVERRIDES
from .verdicts import Estimate

__all__ = ["BACKEND_METRICS", "Missing", "Record", "Results", "estimate", "transfer_targets"]

#: metrics of sample quality: one value per metric backend, with bootstrap replicates
BACKEND_METRICS = ("fid", "sfid", "kid_mean", "precision", "recall", "prd_precision", "prd_recall", "score_mean")


class Missing(LookupError):
    """This preset has not produced the quantity (the finding is "not in this preset")."""


@dataclass
class Record:
    """A metrics record (JSON) and the bootstrap replicates of its metrics (dotted path -> array)."""

    data: dict[str, Any]
    replicates: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, replicates: str | Path | None = None) -> Record:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(data, load_replicates(replicates) if replicates is not None else {})


@dataclass
class Results:
    """What the claims step reads: the parameter file and every record, by name."""

    config: Mapping[str, Any]
    models: dict[str, Record]
    snapshots: dict[str, Record]
    posthoc: Record | None
    surrogates: dict[str, Record]
    dddm: dict[str, Record]
    reconstruction: list[dict[str, str]]
    transferability: list[dict[str, str]]
    snr: dict[str, Any] | None
    #: model -> the records of its training-seed replicates (params.replicates), by seed
    replicates: dict[str, list[Record]] = field(default_factory=dict)
    #: model -> its sample step's timings, surrogate -> its sample-surrogate step's (diffrepro.timing: wall-clock
    #: speeds live apart from the metrics)
    sample_timing: dict[str, dict[str, Any]] = field(default_factory=dict)
    surrogate_timing: dict[str, dict[str, Any]] = field(default_factory=dict)


def _backend_metric(record: Record, prefix: str, metric: str, backend: str) -> Estimate:
    node: Any = record.data
    for part in [p for p in prefix.split(".") if p]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    values = node.get("backends", {}).get(backend)
    if values is None:
        raise Missing(f"no {backend} metrics")
    value = values.get(metric)
    if value is None:
        raise Missing(f"no {metric} [{backend}]")
    key = ".".join(p for p in (prefix, "backends", backend, metric) if p)
    reps = record.replicates.get(key)
    if reps is None:
        raise ValueError(f"the record has {metric} [{backend}] but no bootstrap replicates under {key!r}")
    return Estimate(float(value), replicates=reps)


def _over_runs(own: Estimate, replicates: list[Record], metric: str, backend: str) -> Estimate:
    """A model's metric: its own run's with its bootstrap replicates, or with training-seed replicates the mean
    over all its runs (the own run's bootstrap kept beside)."""
    if not replicates:
        return own
    values = [own.value]
    for rec in replicates:
        value = rec.data.get("backends", {}).get(backend, {}).get(metric)
        if value is None:
            raise Missing(f"a seed replicate of the model has no {metric} [{backend}]")
        values.append(float(value))
    return Estimate.over_runs(values, replicates=own.replicates)


def _row_model(config: Mapping[str, Any], ref: str) -> str:
    table, _, row = ref.partition("/")
    for name, model in config["models"].items():
        if model["tables"].get(table, "\0") == row:
            return name
    raise Missing(f"no model is row {row!r} of {table}")


def _only(record: Record, metric: str, value: Any) -> Estimate:
    if value is None:
        raise Missing(f"no {metric}")
    return Estimate(float(value))


def _sorted_index(rows: list[dict[str, Any]], key: str) -> list[int]:
    return sorted(range(len(rows)), key=lambda i: float(rows[i][key]))


def estimate(results: Results, ref: Mapping[str, Any], metric: str, backend: str) -> Estimate:
    """The quantity ``ref`` (a registry reference) measured by ``metric`` (on ``backend`` for a metric of sample
    quality); raises :class:`Missing` when this preset has not produced it."""
    config = results.config
    kind = next(k for k in ref if k not in ("t", "t_mid", "nfe", "target"))
    spec = ref[kind]
    quality = metric in BACKEND_METRICS
    if kind == "constant":
        return Estimate(float(spec))
    if kind == "model":
        name = _row_model(config, spec)
        record = results.models[name]
        if not quality:
            return _only(record, metric, {**results.sample_timing.get(name, {}), **record.data}.get(metric))
        return _over_runs(
            _backend_metric(record, "", metric, backend), results.replicates.get(name, []), metric, backend
        )
    if kind == "snapshot":
        record = results.snapshots[_row_model(config, spec)]
        snaps = record.data["snapshots"]
        if not snaps:
            raise Missing("the model keeps no snapshots")
        return _backend_metric(record, f"snapshots.{_sorted_index(snaps, 'step')[0]}", metric, backend)
    if kind == "posthoc":
        record = _present(results.posthoc, "the post-hoc DAED")
        if spec == "ddgm":  # the generator alone: its own evaluation (the same samples and numbers)
            if metric == "generator_calls":
                return Estimate(float(record.data["timesteps"]))
            return _backend_metric(results.models[record.data["generator"]], "", metric, backend)
        splits = record.data["splits"]
        order = _split_order(splits)
        i = order[0] if spec == "first" else order[-1]
        if quality:
            return _backend_metric(record, f"splits.{i}", metric, backend)
        return _only(record, metric, splits[i].get(metric))
    if kind == "base":
        base = config["surrogate"]["base_model"]
        record = results.models[base]
        if metric == "speedup":
            return Estimate(1.0)
        if not quality:
            return _only(record, metric, {**results.sample_timing.get(base, {}), **record.data}.get(metric))
        return _over_runs(
            _backend_metric(record, "", metric, backend), results.replicates.get(base, []), metric, backend
        )
    if kind == "surrogate":
        name = _surrogate(config, spec)
        record = results.surrogates[name]
        T = int(record.data["timesteps"])
        rows = record.data["rows"]
        fraction = float(ref["t_mid"])
        i = min(range(len(rows)), key=lambda j: abs(int(rows[j]["t_mid"]) / T - fraction))
        if abs(int(rows[i]["t_mid"]) / T - fraction) > 1.0 / T:
            raise Missing(f"{name} has no hand-over at t_mid = {fraction} T")
        if metric == "speedup":
            base = results.sample_timing.get(config["surrogate"]["base_model"], {}).get("samples_per_second")
            rate = results.surrogate_timing.get(name, {}).get(f"samples_per_second_tmid{rows[i]['t_mid']}")
            if not base or rate is None:
                raise Missing(f"no timings of {name} at t_mid {rows[i]['t_mid']} or of the base model")
            return Estimate(float(rate) / float(base))
        return _backend_metric(record, f"rows.{i}", metric, backend)
    if kind == "dddm":
        run = _dddm_run(config, spec)
        record = results.dddm[run]
        rows = record.data["rows"]
        match = [i for i, r in enumerate(rows) if int(r["nfe"]) == int(ref["nfe"])]
        if not match:
            raise Missing(f"DDDM run {run} was not sampled with {ref['nfe']} steps")
        return _backend_metric(record, f"rows.{match[0]}", metric, backend)
    if kind == "reconstruction":
        return _reconstruction(results.reconstruction, spec, ref["t"])
    if kind == "transfer":
        return _transfer(results, spec, ref["target"])
    if kind == "snr":
        schedules = (results.snr or {}).get("schedules", {})
        if spec not in schedules or schedules[spec].get("crossing_fraction") is None:
            raise Missing(f"no log-SNR crossing for the {spec} schedule")
        return Estimate(float(schedules[spec]["crossing_fraction"]))
    raise ValueError(f"unknown quantity {kind!r}")


def _present(record: Record | None, what: str) -> Record:
    if record is None:
        raise Missing(f"this preset has no {what}")
    return record


def _split_order(splits: list[dict[str, Any]]) -> list[int]:
    """The post-hoc splits of the beta_1 sweep (Fig 4), by beta_1; the ``linear`` split (the first step of the
    plain schedule, a Table 1 row) is not part of the sweep."""
    sweep = [i for i, s in enumerate(splits) if s["split"] != "linear"]
    if not sweep:
        raise Missing("no post-hoc split point of the beta_1 sweep")
    return sorted(sweep, key=lambda i: float(splits[i]["beta_1"]))


def _surrogate(config: Mapping[str, Any], kind: str) -> str:
    gans = config.get("gans", {})
    for name in config["surrogate"]["surrogates"]:
        if (kind == "gan") == (name in gans):
            return name
    raise Missing(f"no {kind} surrogate")


def _dddm_run(config: Mapping[str, Any], spec: str) -> str:
    dddm = config["dddm"]
    if spec == "main":
        return dddm["main"]

    def metric_name(run: Mapping[str, Any]) -> str:
        m = run["metric"]
        return m if isinstance(m, str) else m["name"]

    main_data = dddm["runs"][dddm["main"]].get("data")

    def plain(run: Mapping[str, Any]) -> bool:  # the metric ablation: the main run's data, the section's settings
        return (
            all(run.get(k) is None for k in RUN_OVERRIDES)
            and run.get("data") == main_data
            and not run.get("class_conditional")
        )

    runs = [dddm["main"], *sorted(r for r in dddm["runs"] if r != dddm["main"])]
    for run in runs:
        if metric_name(dddm["runs"][run]) == spec and plain(dddm["runs"][run]):
            return run
    raise Missing(f"no DDDM run trained with the {spec} metric")


def _reconstruction(rows: list[dict[str, str]], which: str, t: str) -> Estimate:
    if not rows:
        raise Missing("no reconstruction analysis")
    steps = sorted({int(r["t"]) for r in rows})
    step = steps[0] if t == "first" else steps[-1]
    at = [r for r in rows if int(r["t"]) == step]
    inside = [r for r in at if r["in_domain"] == "true"]
    outside = [r for r in at if r["in_domain"] != "true"]

    def mean(group: list[dict[str, str]]) -> tuple[float, float]:
        if not group:
            raise Missing("no out-of-domain target in the reconstruction analysis")
        values = np.array([float(r["mae_mean"]) for r in group])
        sems = np.array([float(r["mae_sem"]) for r in group])
        return float(values.mean()), float(np.sqrt((sems**2).sum()) / len(group))

    v_in, s_in = mean(inside)
    if which == "in":
        return Estimate(v_in, sem=s_in)
    v_out, s_out = mean(outside)
    if which == "out":
        return Estimate(v_out, sem=s_out)
    return Estimate(v_out - v_in, sem=float(np.hypot(s_in, s_out)))


def _transfer(results: Results, which: str, target: str) -> Estimate:
    analysis = results.config["analysis"].get("transferability")
    if not analysis or not results.transferability:
        raise Missing("no transferability analysis")
    first = next(iter(analysis["sources"].values()))  # the claims read the first source (the claims' data set)
    model = "DAED" if which == "dae" else first["models"].get(which)
    for row in results.transferability:
        if row["model"] == model and row["target"] == target:
            return Estimate(float(row["mae_mean"]), sem=float(row["mae_sem"]))
    raise Missing(f"no transferability row for {model} on {target}")


def transfer_targets(results: Results) -> list[str]:
    """The target sets of the transferability analysis, in the order measured."""
    seen: list[str] = []
    for row in results.transferability:
        if row["target"] not in seen:
            seen.append(row["target"])
    return seen
