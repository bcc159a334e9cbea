"""A model trained with several seeds (its own run and its replicates, ``params.replicates``): the metrics records
of its runs pooled into one record, which the tables show like a single run's.

Every metric that carries an interval (``<name>_lo``, ``<name>_hi``: the bootstrap interval of one evaluation)
becomes the mean over the runs, and its interval the two-sided t-interval of that mean over the runs,
``mean -/+ t_{(1 + level) / 2, n - 1} * s / sqrt(n)`` (``s``: the sample standard deviation over runs). The spread
over runs holds both the training-seed variance and each run's sampling variance (every run is evaluated on its
own samples against the same reference set), so it is the interval of "this configuration, trained again". The
per-run values stay in ``run_values``; ``runs`` and ``seeds`` say how many runs and which seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["pool_runs", "t_interval"]


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean of ``values`` and the t-interval of the mean at ``level`` (n >= 2)."""
    from scipy.stats import t

    n = len(values)
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf((1.0 + level) / 2.0, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pool_level(records: Sequence[Mapping[str, Any]], level: float) -> dict[str, Any]:
    first = records[0]
    out = dict(first)
    values: dict[str, list[float]] = {}
    for key in first:
        if f"{key}_lo" not in first or f"{key}_hi" not in first:
            continue
        runs = [r.get(key) for r in records]
        if not all(_is_number(v) for v in runs):  # a metric some run lacks: no pooled value
            out[key] = out[f"{key}_lo"] = out[f"{key}_hi"] = None
            continue
        values[key] = [float(v) for v in runs]
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = t_interval(values[key], level)
    out["run_values"] = values
    out["interval_kind"] = f"t-interval over {len(records)} training runs"
    return out


def pool_runs(records: Sequence[Mapping[str, Any]], seeds: Sequence[int], level: float = 0.95) -> dict[str, Any]:
    """One record from the metrics records of a model's runs (its own first), trained with ``seeds``: every
    metric with an interval the mean over runs with its t-interval, at the top and in each backend's record."""
    if len(records) != len(seeds) or len(records) < 2:
        raise ValueError(f"pooling needs a record per seed and at least 2 runs, got {len(records)} and {len(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs of a model must have different seeds, got {list(seeds)}")
    out = _pool_level(records, level)
    if "backends" in records[0]:
        out["backends"] = {
            name: _pool_level([r["backends"][name] for r in records], level) for name in records[0]["backends"]
        }
    out["runs"] = len(records)
    out["seeds"] = [int(s) for s in seeds]
    return out
