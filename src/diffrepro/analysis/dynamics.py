"""Training dynamics of Deja et al. (appendix A.3, Fig 14 and 15), from the DAG's CSV files: the per-step NLL
terms of the nll step (:func:`read_terms`), their cumulative sum and the share of the bound the first step and
the first 1% of the steps carry (:func:`contributions`, optionally without the first step), and the training
loss per timestep bucket over training (:func:`read_loss_by_t`, train-ddgm's ``loss_by_t.csv``)."""

from __future__ import annotations

from ..csvio import read_csv

__all__ = ["contributions", "cumulative", "read_loss_by_t", "read_terms"]


def read_terms(path: str) -> list[float]:
    """Per-step NLL terms (bits/dim) in step order from an nll terms CSV (columns t, nll_bpd)."""
    rows = read_csv(path)
    if not rows or "nll_bpd" not in rows[0] or "t" not in rows[0]:
        raise ValueError(f"{path}: expected columns t and nll_bpd (written by the nll step)")
    rows.sort(key=lambda r: int(r["t"]))
    if [int(r["t"]) for r in rows] != list(range(1, len(rows) + 1)):
        raise ValueError(f"{path}: steps must run 1..T without gaps")
    return [float(r["nll_bpd"]) for r in rows]


def cumulative(values: list[float]) -> list[float]:
    """Running sums of ``values`` (float additions in order)."""
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def contributions(terms: list[float], skip_first: bool = False) -> dict:
    """Cumulative sum of per-step terms (optionally without step 1) and the share carried by the first
    step and by the first 1% of the steps."""
    used = terms[1:] if skip_first else terms
    cum = cumulative(used)
    total = cum[-1] if cum else 0.0
    k = max(1, int(0.01 * len(terms)))
    return {
        "terms": used,
        "cumulative": cum,
        "total": total,
        "first_step_share": (used[0] / total) if total else None,
        "first_1pct_share": (sum(used[:k]) / total) if total else None,
    }


def read_loss_by_t(path: str) -> dict[int, list[tuple[int, float]]]:
    """bucket -> [(step, loss)] from a train-ddgm loss_by_t.csv (empty losses skipped)."""
    out: dict[int, list[tuple[int, float]]] = {}
    labels: dict[int, str] = {}
    for r in read_csv(path):
        if r["loss"] == "":
            continue
        b = int(r["bucket"])
        out.setdefault(b, []).append((int(r["step"]), float(r["loss"])))
        labels[b] = f"t {r['t_first']}-{r['t_last']}"
    return {"series": out, "labels": labels}
