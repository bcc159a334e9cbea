"""The verdict on a finding from an interval of our effect (pure: no files, no networks).

A finding compares two quantities ``a`` and ``b`` and states the sign of ``a - b``: ``less`` (a below b),
``greater``, or ``equal`` within a stated margin. Our effect is ``a - b`` with a 95% interval:

- ``reproduced``: the interval excludes no effect, on the paper's side (for ``equal``: it lies inside
  ``[-margin, margin]``);
- ``contradicted``: the interval excludes no effect, on the other side (for ``equal``: it lies wholly outside
  the margin);
- ``inconclusive``: otherwise (the interval holds 0, or straddles a margin);
- ``not in this preset``: the preset has not produced one of the quantities.

An :class:`Estimate` is one measured quantity with what is known of its uncertainty: bootstrap replicates
(drawn so that two estimates against the same reference set are paired replicate by replicate), a standard
error, or neither when it is computed exactly (a closed form, a count). The interval of a difference uses the
replicates when both sides have them (the percentile interval of the paired differences, re-centred on the
point difference: see :mod:`diffrepro.evaluation.bootstrap`, "Location"), else a normal interval from the
standard errors (a side without one counts as exact).

A quantity measured on a model trained with several seeds (``runs``: one value per training run) is the mean
over its runs, and the difference takes the training-seed spread into account: Welch's t-interval when both sides
have runs; when one side has runs and the other a single run, the other side's variance is that of its
bootstrap replicates (or its standard error squared), with infinite degrees of freedom in Welch-Satterthwaite.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "EXPECTATIONS",
    "VERDICTS",
    "Difference",
    "Estimate",
    "combine",
    "difference",
    "verdict",
]

EXPECTATIONS = ("less", "greater", "equal")
REPRODUCED, CONTRADICTED, INCONCLUSIVE, MISSING = "reproduced", "contradicted", "inconclusive", "not in this preset"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, MISSING)


@dataclass(frozen=True)
class Estimate:
    """One measured quantity: ``value``; ``replicates``, its bootstrap replicates (or None); ``sem``, its
    standard error (or None); both None: exact."""

    value: float
    replicates: np.ndarray | None = None
    sem: float | None = None
    runs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.value):
            raise ValueError(f"an estimate must be finite, got {self.value}")
        if self.runs is not None and len(self.runs) < 2:
            raise ValueError(f"runs are the values of at least 2 training runs, got {len(self.runs)}")

    @classmethod
    def over_runs(cls, runs, replicates: np.ndarray | None = None) -> Estimate:
        """The mean over a model's training runs (``runs``: one value each), keeping its own run's replicates."""
        values = np.asarray(runs, dtype=float)
        return cls(float(values.mean()), replicates=replicates, runs=values)

    def variance(self) -> tuple[float, float]:
        """The variance of the estimate and its degrees of freedom: over runs (s^2 / n, n - 1), else of the
        bootstrap replicates or the standard error (infinite), else exact (0)."""
        if self.runs is not None:
            return float(np.var(self.runs, ddof=1)) / len(self.runs), float(len(self.runs) - 1)
        if self.replicates is not None:
            return float(np.var(np.asarray(self.replicates, dtype=float), ddof=1)), float("inf")
        if self.sem is not None:
            return float(self.sem) ** 2, float("inf")
        return 0.0, float("inf")


@dataclass(frozen=True)
class Difference:
    """``a - b`` with its interval at ``level`` and how the interval was made (``method``)."""

    value: float
    lo: float
    hi: float
    level: float
    method: str


def difference(a: Estimate, b: Estimate, level: float = 0.95) -> Difference:
    """``a - b`` with a ``level`` interval: percentile of paired replicate differences when both have
    replicates, else normal from the standard errors (exact when neither has one)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    value = a.value - b.value
    if a.runs is not None or b.runs is not None:
        return _over_runs(a, b, level)
    if a.replicates is not None and b.replicates is not None:
        ra, rb = np.asarray(a.replicates, dtype=float), np.asarray(b.replicates, dtype=float)
        if ra.shape != rb.shape:
            raise ValueError(f"paired replicates differ in number: {ra.shape[0]} vs {rb.shape[0]}")
        diffs = ra - rb
        tail = (1.0 - level) / 2.0
        lo, median, hi = np.quantile(diffs, [tail, 0.5, 1.0 - tail])
        # re-centred on the point difference (the resamples shift FID-like metrics; their spread is kept)
        method = f"paired bootstrap ({diffs.size} replicates)"
        return Difference(value, value - float(median - lo), value + float(hi - median), level, method)
    sems = [s for s in (a.sem, b.sem) if s is not None]
    if not sems:
        return Difference(value, value, value, level, "exact")
    half = NormalDist().inv_cdf(0.5 + level / 2.0) * float(np.sqrt(sum(s * s for s in sems)))
    return Difference(value, value - half, value + half, level, "normal (standard errors)")


def _over_runs(a: Estimate, b: Estimate, level: float) -> Difference:
    """Welch's t-interval of ``a - b`` when a side is a mean over training runs (see the module docstring)."""
    from scipy.stats import t

    (va, da), (vb, db) = a.variance(), b.variance()
    total = va + vb
    value = a.value - b.value
    # Welch-Satterthwaite: a side with infinite degrees of freedom adds nothing to the denominator
    denominator = sum(v * v / d for v, d in ((va, da), (vb, db)) if np.isfinite(d) and v > 0)
    df = total * total / denominator if denominator > 0 else float("inf")
    quantile = NormalDist().inv_cdf(0.5 + level / 2.0) if not np.isfinite(df) else float(t.ppf(0.5 + level / 2, df))
    half = quantile * float(np.sqrt(total))
    counts = " vs ".join(f"{len(e.runs)} runs" if e.runs is not None else "1 run" for e in (a, b))
    return Difference(value, value - half, value + half, level, f"Welch t over training runs ({counts}, df {df:.1f})")


def verdict(diff: Difference, expect: str, margin: float = 0.0) -> str:
    """The verdict on ``diff`` (``a - b``) for a finding that expects ``a - b`` ``less``/``greater`` than 0 or
    ``equal`` to it within ``margin``."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {EXPECTATIONS}, got {expect!r}")
    lo, hi = diff.lo, diff.hi
    if expect == "equal":
        if margin <= 0:
            raise ValueError(f"an 'equal' finding needs a positive margin, got {margin}")
        if -margin <= lo and hi <= margin:
            return REPRODUCED
        if lo > margin or hi < -margin:
            return CONTRADICTED
        return INCONCLUSIVE
    below, above = hi < 0.0, lo > 0.0
    if expect == "less":
        return REPRODUCED if below else CONTRADICTED if above else INCONCLUSIVE
    return REPRODUCED if above else CONTRADICTED if below else INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """One verdict for a finding of several parts: missing if any part is missing, contradicted if any part is,
    reproduced if all are, else inconclusive."""
    if not verdicts:
        raise ValueError("a finding has at least one part")
    if MISSING in verdicts:
        return MISSING
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE
