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

# Deja et al. 2022, appendix Tables 3 (CIFAR-10), 4 (CelebA), 5 (Fashion-MNIST): IS, FID, sFID and the
# distribution precision/recall in percent.  DAED rows follow in the DAED issue; the DDGM rows are here.
DEJA_EXTENDED: dict[str, dict[str, dict[str, float]]] = {
    "cifar10": {
        "ddgm_vlb": {"T": 1000, "IS": 7.6, "FID": 26.1, "sFID": 10.5, "Prec": 54, "Rec": 55},
        "ddgm_simple": {"T": 1000, "IS": 9.5, "FID": 7.2, "sFID": 8.6, "Prec": 65, "Rec": 61},
    },
    "celeba64": {
        "ddgm_vlb": {"T": 1000, "IS": 2.4, "FID": 23.1, "sFID": 37.3, "Prec": 51, "Rec": 21},
        "ddgm_simple": {"T": 1000, "IS": 3.0, "FID": 6.1, "sFID": 14.7, "Prec": 66, "Rec": 56},
    },
    "fashion_mnist": {
        "ddgm_vlb": {"T": 500, "IS": 4.1, "FID": 8.9, "sFID": 11, "Prec": 68, "Rec": 53},
        "ddgm_simple": {"T": 500, "IS": 4.3, "FID": 7.8, "sFID": 9.03, "Prec": 71.5, "Rec": 65.3},
    },
}
DEJA_EXTENDED_NUMBER = {"cifar10": 3, "celeba64": 4, "fashion_mnist": 5}

# Baryshnikov 2022 (coursework), CIFAR-10, 50k samples vs the training set, TF-Inception.
# Tables 4.1/4.2: quality vs training iterations; a row key names one training run, whose rows are
# matched to our snapshots by the fraction of training they stand at.
COURSEWORK_TRAINING_STEPS: dict[str, dict[str, list[dict[str, float]]]] = {
    "coursework_4_1": {
        "cifar10_150k": [
            {"fraction": 1 / 3, "Iterations": 50_000, "IS": 7.84, "FID": 11.52},
            {"fraction": 2 / 3, "Iterations": 100_000, "IS": 8.36, "FID": 6.05},
            {"fraction": 1.0, "Iterations": 150_000, "IS": 8.67, "FID": 4.93},
        ],
    },
    "coursework_4_2": {
        "cifar10_t100_150k": [
            {"fraction": 1 / 3, "Iterations": 50_000, "IS": 7.24, "FID": 49.58},
            {"fraction": 2 / 3, "Iterations": 100_000, "IS": 8.12, "FID": 40.77},
            {"fraction": 1.0, "Iterations": 150_000, "IS": 8.40, "FID": 40.40},
        ],
    },
}
# the original DDPM's 800k-step result, quoted in Table 4.1 for reference
COURSEWORK_DDPM_800K = {"Iterations": 800_000, "IS": 9.46, "FID": 3.17}

# Table 4.3: architectures (parameters in millions, samples/s, train time in hours on one V100).
COURSEWORK_TABLE_4_3: dict[str, dict[str, dict[str, float]]] = {
    "cifar10": {
        "Default": {"Params (M)": 34.21, "Samples/s": 1.00, "Train h": 20.66, "IS": 8.67, "FID": 4.93},
        "DeepRes1": {"Params (M)": 23.27, "Samples/s": 1.50, "Train h": 18.50, "IS": 8.46, "FID": 5.90},
        "ShallowRes2": {"Params (M)": 24.76, "Samples/s": 1.15, "Train h": 19.15, "IS": 8.80, "FID": 4.56},
        "ShallowRes1": {"Params (M)": 17.02, "Samples/s": 1.74, "Train h": 16.88, "IS": 8.53, "FID": 6.39},
        "MBConv64": {"Params (M)": 11.51, "Samples/s": 1.23, "Train h": 28.33, "IS": 8.68, "FID": 6.41},
        "MBConv96": {"Params (M)": 25.68, "Samples/s": 0.77, "Train h": 42.50, "IS": 8.95, "FID": 4.10},
    },
}

# Table 4.4: objectives (train time relative to DDPM).
COURSEWORK_TABLE_4_4: dict[str, dict[str, dict[str, float]]] = {
    "cifar10": {
        "DDPM": {"Time ratio": 1.00, "IS": 8.67, "FID": 4.93},
        "Importance Sampling": {"Time ratio": 1.60, "IS": 8.95, "FID": 4.09},
        "Importance Sampling +2": {"Time ratio": 2.13, "IS": 8.91, "FID": 4.33},
        "IWDiff": {"Time ratio": 2.40, "IS": 9.16, "FID": 3.69},
        "IWDiff + Importance Sampling": {"Time ratio": 2.91, "IS": 9.33, "FID": 3.42},
    },
}

PAPER_TABLES = {
    "deja_table1": DEJA_TABLE1,
    "deja_extended": DEJA_EXTENDED,
    "coursework_4_3": COURSEWORK_TABLE_4_3,
    "coursework_4_4": COURSEWORK_TABLE_4_4,
}


def paper_run(table: str, row: str | None) -> list[dict[str, float]] | None:
    """The published rows of one training run of Tables 4.1/4.2 (None when ``row`` is None)."""
    if row is None:
        return None
    runs = COURSEWORK_TRAINING_STEPS[table]
    if row not in runs:
        raise KeyError(f"paper row '{row}' is not a run of {table}; known runs: {', '.join(sorted(runs))}")
    return runs[row]


def paper_row(table: str, dataset: str, row: str | None) -> dict[str, float] | None:
    """The published row, or None when the paper has no such row (unknown row keys are errors)."""
    if row is None:
        return None
    by_dataset = PAPER_TABLES[table]
    if dataset not in by_dataset:
        # the papers report Tables 4.3/4.4 on CIFAR-10 only: other data sets are compared with those rows
        if table.startswith("coursework_"):
            dataset = "cifar10"
        else:
            return None
    rows = by_dataset[dataset]
    if row not in rows:
        raise KeyError(f"paper_row '{row}' is not a row of {table} for {dataset}; known rows: {', '.join(sorted(rows))}")
    return rows[row]
