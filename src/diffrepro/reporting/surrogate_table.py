"""Coursework Table 4.5 (surrogate diffusion): one row per surrogate and ``t_mid`` (samples/s, the speedup over
the plain DDGM, quality on every metric backend) beside the published row at the same share of the steps, and
the base DDGM alone as the reference row. The records are evaluate-surrogate's (one per surrogate) and the base
DDGM's evaluate record."""

from __future__ import annotations

from .paper_values import COURSEWORK_4_5_T, COURSEWORK_TABLE_4_5
from .tables import Record, TableResult, backend_notes, backends_of, quality, quality_columns

__all__ = ["surrogate_table", "table_rows"]

TITLE = "Table 4.5: surrogate diffusion (coursework layout)"

PAPER_ROW = {"gan": "SNGAN-ResNet-32", "lowres": "DDPM-16"}
KEYS = ("score", "fid", "prd_precision", "prd_recall")


def columns(backends: list[str]) -> list[str]:
    """The table's columns for the metric backends ``backends``."""
    return [
        "Surrogate",
        "Kind",
        "t_mid",
        "t_mid / T",
        "Samples/s",
        "Speedup",
        *quality_columns(backends, KEYS),
        "N",
        "Paper surrogate",
        "Paper t_mid",
        "Paper samples/s",
        "Paper speedup",
        "Paper IS",
        "Paper FID",
    ]


def _score(mean, std) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f}"


def table_rows(records: list[dict], base: dict) -> list[dict]:
    """One row per surrogate and t_mid beside the paper's row at the same t_mid / T, then the base DDGM's row."""
    bk = backends_of([base])
    paper = COURSEWORK_TABLE_4_5["cifar10"]
    ddpm_rate = paper["DDPM"][COURSEWORK_4_5_T]["Samples/s"]
    base_rate = base["samples_per_second"]
    T = None
    rows = []
    for rec in records:
        T = rec["timesteps"]
        label = PAPER_ROW[rec["surrogate_kind"]]
        for r in rec["rows"]:
            frac = r["t_mid"] / T
            # the paper's row at the same share of the steps (t_mid = round(f T) may be off by one step)
            paper_t = next((k for k in paper[label] if abs(k / COURSEWORK_4_5_T - frac) <= 1.0 / T), None)
            p = paper[label][paper_t] if paper_t is not None else None
            rows.append(
                {
                    "Surrogate": rec["surrogate"],
                    "Kind": "GAN"
                    if rec["surrogate_kind"] == "gan"
                    else f"DDGM at {rec['native_image_size']} px, upsampled",
                    "t_mid": r["t_mid"],
                    "t_mid / T": frac,
                    "Samples/s": r["samples_per_second"],
                    "Speedup": r["samples_per_second"] / base_rate,
                    **quality(r, bk, KEYS),
                    "Paper surrogate": label if p else None,
                    "Paper t_mid": paper_t,
                    "Paper samples/s": p["Samples/s"] if p else None,
                    "Paper speedup": p["Samples/s"] / ddpm_rate if p else None,
                    "Paper IS": _score(p["IS"], p.get("IS std")) if p else None,
                    "Paper FID": p["FID"] if p else None,
                }
            )
    p = paper["DDPM"][COURSEWORK_4_5_T]
    rows.append(
        {
            "Surrogate": f"none ({base['model']})",
            "Kind": "DDGM alone",
            "t_mid": base.get("timesteps", T),
            "t_mid / T": 1.0,
            "Samples/s": base_rate,
            "Speedup": 1.0,
            **quality(base, bk, KEYS),
            "Paper surrogate": "DDPM",
            "Paper t_mid": COURSEWORK_4_5_T,
            "Paper samples/s": p["Samples/s"],
            "Paper speedup": 1.0,
            "Paper IS": _score(p["IS"], None),
            "Paper FID": p["FID"],
        }
    )
    return rows


def surrogate_table(records: list[Record], base: Record) -> TableResult:
    """``(rows, columns, title, notes)`` of Table 4.5; ``base`` carries the base DDGM's ``timesteps``."""
    rows = table_rows(records, base)
    n = records[0]["num_samples"] if records else base.get("n_generated")
    notes = [
        f"Data set: {base.get('dataset')} at {base.get('resolution')} px; {n} surrogate-diffusion samples per row vs "
        f"{base.get('n_reference')} reference images ({base.get('reference_split')} split); the DDGM row uses its own "
        f"{base.get('n_generated')} samples.",
        *backend_notes([base]),
        "Samples/s: wall clock on this machine, the surrogate's time for all samples (DDPM-16: its T - t_mid steps and "
        "the upsampling) plus the base model's t_mid steps; "
        "Speedup: samples/s over the base DDGM's plain ancestral sampling (all T steps). t_mid = 0 is the surrogate "
        "alone.",
        f"Paper columns: coursework Table 4.5 (CIFAR-10, T = {COURSEWORK_4_5_T}, SNGAN-ResNet-32 and DDPM-16); the "
        "paper row is matched by t_mid / T; paper speedup is over its plain DDPM (1.00 samples/s, Table 4.3 Default).",
    ]
    return rows, columns(backends_of([base])), TITLE, notes
