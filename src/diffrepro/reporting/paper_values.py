"""Published numbers of the studies in ../shared/papers, keyed by table, data set and row.

Deja et al. 2022, Table 1 (FID on TF-Inception features, distribution precision/recall of
Sajjadi et al. 2018 in percent).  Only rows that this pipeline can produce are looked up, but
the whole published table is kept so later rows plug in by key.
"""

from __future__ import annotations

# (model, loss, T) -> {"T", "FID", "Prec", "Rec"}
DEJA_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "fashion_mnist": {
        "ddgm_vlb": {"T": 500, "FID": 8.9, "Prec": 68, "Rec": 53},
        "daed_vlb_468": {"T": 468, "FID": 9.1, "Prec": 71, "Rec": 60},
        "daed_vlb_499": {"T": 499, "FID": 7.5, "Prec": 71, "Rec": 64},
        "ddgm_simple": {"T": 500, "FID": 7.8, "Prec": 72, "Rec": 65},
        "daed_simple_468": {"T": 468, "FID": 9.6, "Prec": 73, "Rec": 58},
        "daed_simple_499": {"T": 499, "FID": 5.7, "Prec": 69, "Rec": 64},
    },
    "cifar10": {
        "ddgm_vlb": {"T": 1000, "FID": 26, "Prec": 53, "Rec": 54},
        "daed_vlb_900": {"T": 900, "FID": 20, "Prec": 59, "Rec": 46},
        "daed_vlb_999": {"T": 999, "FID": 15, "Prec": 60, "Rec": 60},
        "ddgm_simple": {"T": 1000, "FID": 7.2, "Prec": 65, "Rec": 61},
        "daed_simple_900": {"T": 900, "FID": 19, "Prec": 62, "Rec": 50},
        "daed_simple_999": {"T": 999, "FID": 14.8, "Prec": 65, "Rec": 53},
    },
    "celeba64": {
        "ddgm_vlb": {"T": 1000, "FID": 23, "Prec": 51, "Rec": 21},
        "daed_vlb_900": {"T": 900, "FID": 18, "Prec": 63, "Rec": 30},
        "daed_vlb_999": {"T": 999, "FID": 16, "Prec": 70, "Rec": 27},
        "ddgm_simple": {"T": 1000, "FID": 4.9, "Prec": 66, "Rec": 57},
        "daed_simple_900": {"T": 900, "FID": 22, "Prec": 67, "Rec": 27},
        "daed_simple_999": {"T": 999, "FID": 7.4, "Prec": 67, "Rec": 54},
    },
}

PAPER_TABLES = {"deja_table1": DEJA_TABLE1}


def paper_row(table: str, dataset: str, row: str | None) -> dict[str, float] | None:
    """The published row, or None when the paper has no such row (unknown row keys are errors)."""
    if row is None:
        return None
    try:
        rows = PAPER_TABLES[table][dataset]
    except KeyError:
        return None
    if row not in rows:
        raise KeyError(f"paper_row '{row}' is not a row of {table} for {dataset}; known rows: {', '.join(sorted(rows))}")
    return rows[row]
