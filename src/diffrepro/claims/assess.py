"""Each finding of the registry assessed on one preset's results: per part, the two quantities, the paper's
numbers, our effect ``a - b`` with its 95% interval and the verdict, on every metric backend for metrics of
sample quality (the verdict of the finding is the primary backend's: the first of ``evaluation.backends``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .sources import BACKEND_METRICS, Missing, Results, estimate, transfer_targets
from .verdicts import MISSING, combine, difference, verdict

__all__ = ["assess", "expand_parts"]

LEVEL = 0.95


def describe(ref: Mapping[str, Any]) -> str:
    """A quantity reference in words: ``model deja_table1/ddgm_vlb``, ``surrogate gan t_mid=0.5``."""
    return " ".join(f"{k} {v}" if i == 0 else f"{k}={v}" for i, (k, v) in enumerate(ref.items()))


def expand_parts(parts: Sequence[Mapping[str, Any]], results: Results) -> list[dict[str, Any]]:
    """The parts of a finding with ``target: "*"`` expanded into one part per target set measured."""
    out = []
    for part in parts:
        if part["a"].get("target") == "*" or part["b"].get("target") == "*":
            targets = transfer_targets(results)
            if not targets:
                out.append(dict(part))
            for target in targets:
                each = {**part, "a": dict(part["a"]), "b": dict(part["b"])}
                for side in ("a", "b"):
                    if each[side].get("target") == "*":
                        each[side]["target"] = target
                out.append(each)
        else:
            out.append(dict(part))
    return out


def _margin(part: Mapping[str, Any], b_value: float) -> float:
    if "margin" in part:
        return float(part["margin"])
    if "margin_relative" in part:
        return float(part["margin_relative"]) * abs(b_value)
    return 0.0


def assess_part(part: Mapping[str, Any], results: Results, backend: str) -> dict[str, Any]:
    """One part on one backend: ``{a, b, diff, lo, hi, method, verdict}`` (``verdict`` "not in this preset" and
    ``reason`` when a quantity is missing)."""
    metric = part["metric"]
    try:
        a = estimate(results, part["a"], metric, backend)
        b = estimate(results, part["b"], metric, backend)
    except (Missing, KeyError) as exc:
        reason = str(exc) if isinstance(exc, Missing) else f"missing {exc}"
        return {"verdict": MISSING, "reason": reason}
    diff = difference(a, b, LEVEL)
    margin = _margin(part, b.value)
    return {
        "a": a.value,
        "b": b.value,
        "diff": diff.value,
        "lo": diff.lo,
        "hi": diff.hi,
        "method": diff.method,
        "margin": margin if part["expect"] == "equal" else None,
        "verdict": verdict(diff, part["expect"], margin),
    }


def assess(claims: Sequence[Mapping[str, Any]], results: Results, backends: Sequence[str]) -> list[dict[str, Any]]:
    """Every finding: its registry entry's fields, its parts assessed on every backend, and its verdict per
    backend and overall (the primary backend's)."""
    primary = backends[0]
    out = []
    for claim in claims:
        parts = []
        for part in expand_parts(claim["parts"], results):
            on = backends if part["metric"] in BACKEND_METRICS else [primary]
            by_backend = {bk: assess_part(part, results, bk) for bk in on}
            parts.append({"part": part, "by_backend": by_backend, "quality": part["metric"] in BACKEND_METRICS})
        verdicts = {}
        for bk in backends:
            counted = []
            for p in parts:
                result = p["by_backend"].get(bk, p["by_backend"][primary])
                if result["verdict"] == MISSING and p["part"].get("optional"):
                    continue
                counted.append(result["verdict"])
            verdicts[bk] = combine(counted) if counted else MISSING
        out.append({**claim, "assessed_parts": parts, "verdicts": verdicts, "verdict": verdicts[primary]})
    return out
