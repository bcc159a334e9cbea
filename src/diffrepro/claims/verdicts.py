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

    def __post_init__(self) -> None:
        if not np.isfinite(self.value):
            raise ValueError(f"an estimate must be finite, got {self.value}")


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
