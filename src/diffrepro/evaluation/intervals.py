"""Intervals on the metrics of a sample set, and where their bootstrap replicates are kept.

An evaluation attaches to each backend's metrics a 95% interval (``fid_lo``, ``fid_hi``, ...): the re-centred
percentile interval (:func:`~diffrepro.evaluation.bootstrap.centred_interval`) of seeded bootstrap replicates
of the generated and the reference features
(:mod:`diffrepro.evaluation.bootstrap`), and keeps the replicates themselves beside the record: the metrics
JSON stays small and readable for ``dvc metrics``, and a ``.safetensors`` file holds one float64 vector per
metric, keyed by the metric's dotted path in the record (``backends.inception.fid``,
``rows.2.backends.classifier.prd_recall``). The reference is resampled alike in every evaluation against the
same reference set (same seed, same replicate count), so replicate ``i`` of two models' FIDs is a paired draw:
the claims step forms intervals of differences from them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..atomic import write_json
from ..tensorfile import save_safetensors

__all__ = [
    "REPLICATE_FIELDS",
    "attach_intervals",
    "interval_fields",
    "load_replicates",
    "split_replicates",
    "write_metrics",
]

#: the bootstrap's name of a metric -> the record's field
REPLICATE_FIELDS = {
    "fid": "fid",
    "sfid": "sfid",
    "kid": "kid_mean",
    "precision": "precision",
    "recall": "recall",
    "prd_precision": "prd_precision",
    "prd_recall": "prd_recall",
    "score": "score_mean",
}
#: the key under which a backend's metrics carry their replicates until they are written
REPLICATES_KEY = "bootstrap"
#: the ``format`` metadata of a replicates file
REPLICATES_FORMAT = "diffrepro bootstrap replicates v1"


def interval_fields(metric: str) -> tuple[str, str]:
    """The record's fields of the interval of ``metric``: ``(metric_lo, metric_hi)``."""
    return f"{metric}_lo", f"{metric}_hi"


def attach_intervals(metrics: dict[str, Any], replicates: Mapping[str, np.ndarray], level: float = 0.95) -> None:
    """Add the re-centred percentile interval of each metric with replicates to ``metrics`` (in place) and keep
    the replicates under :data:`REPLICATES_KEY` (:func:`write_metrics` moves them to their own file)."""
    from .bootstrap import centred_interval

    kept = {}
    for name, values in replicates.items():
        field = REPLICATE_FIELDS[name]
        if metrics.get(field) is None:
            continue
        lo, hi = centred_interval(metrics[field], values, level=level, name=field)
        lo_key, hi_key = interval_fields(field)
        metrics[lo_key], metrics[hi_key] = float(lo), float(hi)
        kept[field] = np.asarray(values, dtype=np.float64)
    metrics["interval_level"] = level
    metrics[REPLICATES_KEY] = kept


def split_replicates(record: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """``record`` without its replicates, and the replicates by dotted path (lists index by position)."""
    found: dict[str, np.ndarray] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == REPLICATES_KEY and isinstance(value, dict):
                    for metric, values in value.items():
                        found[f"{path}{metric}"] = np.asarray(values, dtype=np.float64)
                    continue
                out[key] = walk(value, f"{path}{key}.")
            return out
        if isinstance(node, list):
            return [walk(v, f"{path}{i}.") for i, v in enumerate(node)]
        return node

    return walk(record, prefix), found


def write_metrics(json_path: str | os.PathLike, replicates_path: str | os.PathLike, record: Any) -> None:
    """Write a metrics record: the JSON without replicates at ``json_path``, the replicates at
    ``replicates_path`` (safetensors, one float64 vector per metric path, canonical key order)."""
    clean, found = split_replicates(record)
    tensors = {key: torch.from_numpy(found[key].copy()) for key in sorted(found)}  # none: a record without sets
    save_safetensors(tensors, replicates_path, metadata={"format": REPLICATES_FORMAT})
    write_json(json_path, clean)


def load_replicates(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The replicates of a record, by dotted path; errors name the file."""
    from ..tensorfile import read

    tensors, _ = read(path, {"format": REPLICATES_FORMAT})  # content hash checked; errors name the file
    arrays = {k: v.numpy() for k, v in tensors.items()}
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) > 1 or any(len(s) != 1 for s in lengths):
        raise ValueError(f"{path}: bootstrap replicates must be vectors of one length, got shapes {sorted(lengths)}")
    return {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
