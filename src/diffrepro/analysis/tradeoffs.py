"""Quality against cost (coursework Fig 4.2 and 4.3): the points of Table 4.3 (FID against parameters, sampling
speed and training time), the least-squares line the coursework draws through the runs with standard residual
blocks, and the training-loss curves of Table 4.4's runs over their first steps.

Pure functions on rows already read (a table's CSV rows, a loss CSV's rows); the step
:mod:`diffrepro.steps.coursework_figures` reads the files and draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..reporting.paper_values import COURSEWORK_TABLE_4_3

__all__ = [
    "COSTS",
    "LOSS_STEPS",
    "PAPER_MBCONV",
    "architecture_points",
    "linear_fit",
    "loss_curve",
    "paper_architecture_points",
    "standard_fits",
    "standard_points",
]

#: the x axes of Fig 4.2, top to bottom: (our Table 4.3 column, the paper's value key, the axis label's words)
COSTS: tuple[tuple[str, str, str], ...] = (
    ("Params (M)", "Params (M)", "parameters (M)"),
    ("Samples/s", "Samples/s", "sampling speed (samples/s)"),
    ("Train s/step", "Train h", "training time"),
)

#: Fig 4.3 shows the first 50 000 training steps (coursework Sec. 4.5, "Train loss to step, first 50 000 steps")
LOSS_STEPS = 50_000

#: the rows of coursework Table 4.3 with MBConv blocks (its column "Residual block type"); the others are standard
PAPER_MBCONV = frozenset({"MBConv64", "MBConv96"})

#: our quality column, first present with a number wins: the Inception FID is the paper's metric
FID_COLUMNS = ("FID [Inception]", "FID", "FID [classifier]")


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float] | None:
    """The least-squares line y = slope * x + intercept (:func:`scipy.stats.linregress`), its r^2 and the slope's
    standard error (``slope_se``; None for 2 points, which the line passes through); None for fewer than 2 points or
    a constant x (no line through them is determined)."""
    from scipy.stats import linregress

    n = len(x)
    if n != len(y):
        raise ValueError(f"linear_fit: {n} x values but {len(y)} y values")
    if n < 2 or len(set(x)) == 1:
        return None
    fit = linregress(x, y)
    r2 = 1.0 if len(set(y)) == 1 else float(fit.rvalue) ** 2  # a constant y lies on its (flat) line
    se = float(fit.stderr) if n > 2 else None
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "r2": r2, "n": n, "slope_se": se}


def architecture_points(rows: Iterable[Mapping[str, str]], where: str = "Table 4.3") -> tuple[list[dict], str]:
    """Our Table 4.3 rows as points: model, block, the cost columns of :data:`COSTS`, FID and its interval; and
    the FID column they come from (the first of :data:`FID_COLUMNS` that holds a number).  Raises ValueError naming
    ``where`` and the column when a cost column is missing."""
    rows = list(rows)
    column = next((c for c in FID_COLUMNS if any(_number(r.get(c)) is not None for r in rows)), None)
    points = []
    for r in rows:
        for cost, _, _ in COSTS:
            if cost not in r:
                raise ValueError(f"{where}: no column {cost!r} (has {sorted(r)})")
        fid = _number(r.get(column)) if column else None
        if fid is None:
            continue
        points.append(
            {
                "model": r["Model"],
                "block": r.get("Block") or "Standard",
                **{cost: _number(r[cost]) for cost, _, _ in COSTS},
                "fid": fid,
                "fid_lo": _number(r.get(f"{column}_lo")),
                "fid_hi": _number(r.get(f"{column}_hi")),
            }
        )
    return points, column or "FID"


def paper_architecture_points(dataset: str = "cifar10") -> list[dict]:
    """Coursework Table 4.3's published rows as points (cost keys as in our table; training time in hours)."""
    out = []
    for name, v in COURSEWORK_TABLE_4_3[dataset].items():
        out.append(
            {
                "model": name,
                "block": "MBConv" if name in PAPER_MBCONV else "Standard",
                **{cost: v[paper] for cost, paper, _ in COSTS},
                "fid": v["FID"],
                "fid_lo": None,
                "fid_hi": None,
            }
        )
    return out


def standard_points(points: Sequence[Mapping[str, Any]], cost: str) -> list[tuple[float, float]]:
    """(cost, FID) of the standard-block points that have the cost (the coursework fits "runs with default blocks
    only")."""
    return [(p[cost], p["fid"]) for p in points if p["block"] == "Standard" and p[cost] is not None]


def standard_fits(points: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float] | None]:
    """Per cost column, the line of FID on that cost through :func:`standard_points` (None: no line determined)."""
    fits = {}
    for cost, _, _ in COSTS:
        pairs = standard_points(points, cost)
        fits[cost] = linear_fit([a for a, _ in pairs], [b for _, b in pairs])
    return fits


def loss_curve(rows: Iterable[Mapping[str, str]], max_step: int = LOSS_STEPS) -> list[tuple[int, float]]:
    """(step, loss) of a train-ddgm loss CSV up to ``max_step`` (rows without a finite loss left out)."""
    out = []
    for r in rows:
        step, loss = int(r["step"]), _number(r.get("loss"))
        if step <= max_step and loss is not None:
            out.append((step, loss))
    return out
