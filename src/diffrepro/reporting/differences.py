"""Ours - paper: the ``Δ X`` columns every table gets beside each ``Paper X`` column that has a column of ours
(:func:`add_differences`), the difference of two cells (:func:`difference`) and which of our columns stands
beside a paper column (:func:`ours_column`: the ``[Inception]`` one where there is one, the paper's backend)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DELTA",
    "INCEPTION_SUFFIX",
    "PAPER_PREFIX",
    "SETTINGS",
    "add_differences",
    "difference",
    "is_number",
    "ours_column",
]

PAPER_PREFIX = "Paper "
INCEPTION_SUFFIX = " [Inception]"
DELTA = "Δ"
#: paper columns of a row's setting, not of a result, which the paper's row is matched on: no Δ beside them
SETTINGS = frozenset({"t", "nfe", "t_mid", "iterations", "row", "split", "setup", "surrogate"})


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def difference(ours: Any, paper: Any) -> int | float | None:
    """``ours - paper`` when both are finite numbers (not bools), else None; float noise rounded off at 12
    significant digits (3.5 - 5.0 = -1.5; 0.3 - 0.1 = 0.2, not 0.19999999999999998)."""
    if not (is_number(ours) and is_number(paper)):
        return None
    d = ours - paper
    return d if isinstance(d, int) else float(f"{d:.12g}")


def ours_column(name: str, columns: Sequence[str]) -> str | None:
    """Our column standing beside ``Paper <name>``: ``<name> [Inception]`` (the paper's metric backend) when the
    table has it, else ``<name>``; exact names first, then ignoring case ("Paper params (M)" -> "Params (M)")."""
    candidates = (name + INCEPTION_SUFFIX, name)
    for same in (str.__eq__, lambda a, b: a.casefold() == b.casefold()):
        for cand in candidates:
            hit = next((c for c in columns if not c.startswith(PAPER_PREFIX) and same(c, cand)), None)
            if hit is not None:
                return hit
    return None


def add_differences(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], notes: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Insert ``Δ X`` = ours - paper right after every ``Paper X`` column that has our column beside it
    (:func:`ours_column`) and a numeric pair in some row, except for settings (:data:`SETTINGS`: T, NFE, ...); a
    cell is None unless both values are finite numbers.
    Returns new rows, columns and notes (one note explaining the Δ columns); the arguments are not changed."""
    out_rows = [dict(r) for r in rows]
    out_cols: list[str] = []
    added: list[str] = []
    inception: list[str] = []
    for col in columns:
        out_cols.append(col)
        if not col.startswith(PAPER_PREFIX) or col[len(PAPER_PREFIX) :].casefold() in SETTINGS:
            continue
        ours = ours_column(col[len(PAPER_PREFIX) :], columns)
        if ours is None:
            continue
        base = ours[: -len(INCEPTION_SUFFIX)] if ours.endswith(INCEPTION_SUFFIX) else ours
        name = f"{DELTA} {base}"
        if name in columns or name in out_cols:
            continue
        values = [difference(r.get(ours), r.get(col)) for r in rows]
        if all(v is None for v in values):
            continue
        out_cols.append(name)
        for r, v in zip(out_rows, values):
            r[name] = v
        added.append(name)
        if ours.endswith(INCEPTION_SUFFIX):
            inception.append(ours)
    out_notes = list(notes)
    if added:
        note = (
            f"{DELTA} X: ours − paper ({', '.join(added)}), in the unit of X; empty where either value is "
            "missing or not a number."
        )
        if inception:
            note += (
                f" Ours is the [Inception] column ({', '.join(inception)}): the Inception backend is the "
                "paper's metric; the [classifier] columns have no published counterpart."
            )
        out_notes.append(note)
    return out_rows, out_cols, out_notes
