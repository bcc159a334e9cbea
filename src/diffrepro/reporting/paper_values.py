"""Published numbers of the studies in ../shared/papers, keyed by table, data set and row.

Deja et al. 2022, Table 1 (FID on TF-Inception features, distribution precision/recall of
Sajjadi et al. 2018 in percent).  Only rows that this pipeline can produce are looked up, but
the whole published table is kept so later rows plug in by key.
"""

from __future__ import annotations

# Row keys: ddgm_<loss>, daed_<loss>_<split> with split b<beta_1> or linear (the DAE takes the first step of
# the plain linear schedule).  Each row: {"Split", "T", "FID", "Prec", "Rec"} (+ IS, sFID in the appendix).
# Table 1 (FID on TF-Inception features, distribution precision/recall of Sajjadi et al. 2018 in percent).
DEJA_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "fashion_mnist": {
        "ddgm_vlb": {"T": 500, "FID": 8.9, "Prec": 68, "Rec": 53},
        "daed_vlb_b0.1": {"T": 468, "FID": 9.1, "Prec": 71, "Rec": 60},
        "daed_vlb_linear": {"T": 499, "FID": 7.5, "Prec": 71, "Rec": 64},
        "ddgm_simple": {"T": 500, "FID": 7.8, "Prec": 72, "Rec": 65},
        "daed_simple_b0.1": {"T": 468, "FID": 9.6, "Prec": 73, "Rec": 58},
        "daed_simple_b0.001": {"T": 499, "FID": 5.7, "Prec": 69, "Rec": 64},
    },
    "cifar10": {
        "ddgm_vlb": {"T": 1000, "FID": 26, "Prec": 53, "Rec": 54},
        "daed_vlb_b0.1": {"T": 900, "FID": 20, "Prec": 59, "Rec": 46},
        "daed_vlb_linear": {"T": 999, "FID": 15, "Prec": 60, "Rec": 60},
        "ddgm_simple": {"T": 1000, "FID": 7.2, "Prec": 65, "Rec": 61},
        "daed_simple_b0.1": {"T": 900, "FID": 19, "Prec": 62, "Rec": 50},
        "daed_simple_b0.001": {"T": 999, "FID": 14.8, "Prec": 65, "Rec": 53},
    },
    "celeba64": {
        "ddgm_vlb": {"T": 1000, "FID": 23, "Prec": 51, "Rec": 21},
        "daed_vlb_b0.1": {"T": 900, "FID": 18, "Prec": 63, "Rec": 30},
        "daed_vlb_linear": {"T": 999, "FID": 16, "Prec": 70, "Rec": 27},
        "ddgm_simple": {"T": 1000, "FID": 4.9, "Prec": 66, "Rec": 57},
        "daed_simple_b0.1": {"T": 900, "FID": 22, "Prec": 67, "Rec": 27},
        "daed_simple_b0.001": {"T": 999, "FID": 7.4, "Prec": 67, "Rec": 54},
    },
}


# Deja et al. 2022, appendix Tables 3 (CIFAR-10), 4 (CelebA), 5 (Fashion-MNIST): IS, FID, sFID and the
# distribution precision/recall in percent, in the paper's row order.
def _r(T, IS, FID, sFID, Prec, Rec):
    return {"T": T, "IS": IS, "FID": FID, "sFID": sFID, "Prec": Prec, "Rec": Rec}


DEJA_EXTENDED: dict[str, dict[str, dict[str, float]]] = {
    "cifar10": {
        "ddgm_vlb": _r(1000, 7.6, 26.1, 10.5, 54, 55),
        "daed_vlb_b0.1": _r(900, 8.2, 20.4, 16.1, 59, 46),
        "daed_vlb_b0.025": _r(979, 7.7, 22.4, 15.8, 57, 53),
        "daed_vlb_linear": _r(999, 8.1, 14.5, 9.8, 60, 59),
        "ddgm_simple": _r(1000, 9.5, 7.2, 8.6, 65, 61),
        "daed_simple_b0.2": _r(891, 7.8, 29.4, 24.7, 53, 40),
        "daed_simple_b0.1": _r(900, 8.0, 19.0, 14.9, 62, 50),
        "daed_simple_b0.025": _r(979, 8.6, 14.2, 14.6, 60, 53),
        "daed_simple_b0.001": _r(999, 9.1, 14.9, 10.1, 66, 54),
    },
    "celeba64": {
        "ddgm_vlb": _r(1000, 2.4, 23.1, 37.3, 51, 21),
        "daed_vlb_b0.1": _r(900, 2.9, 18.2, 23.9, 63, 31),
        "daed_vlb_b0.025": _r(979, 2.7, 25.4, 35.8, 64, 17),
        "daed_vlb_linear": _r(1000, 2.6, 16.8, 23.6, 70, 27),
        "ddgm_simple": _r(1000, 3.0, 6.1, 14.7, 66, 56),
        "daed_simple_b0.2": _r(890, 2.7, 21.0, 31.2, 63, 22),
        "daed_simple_b0.1": _r(900, 3.0, 17.0, 23.3, 66, 31),
        "daed_simple_b0.025": _r(979, 2.7, 15.1, 17.6, 64, 38),
        "daed_simple_b0.001": _r(999, 2.8, 6.2, 11.0, 69, 55),
        "daed_in_simple_b0.1": _r(900, 2.9, 25.6, 30.5, 44, 29),
    },
    "fashion_mnist": {
        "ddgm_vlb": _r(500, 4.1, 8.9, 11, 68, 53),
        "daed_vlb_b0.1": _r(468, 4.06, 9.1, 13, 71, 60),
        "daed_vlb_b0.025": _r(489, 4.02, 9.7, 11, 70, 62),
        "daed_vlb_linear": _r(499, 4.1, 7.5, 11.3, 70.5, 64),
        "ddgm_simple": _r(500, 4.3, 7.8, 9.03, 71.5, 65.3),
        "daed_simple_b0.3": _r(426, 3.78, 18, 24, 73.8, 41),
        "daed_simple_b0.2": _r(445, 3.87, 14, 20, 74.8, 47),
        "daed_simple_b0.1": _r(468, 3.95, 9.6, 11.2, 73.2, 58.4),
        "daed_simple_b0.025": _r(489, 4.05, 7.36, 13, 73, 61),
        "daed_simple_b0.001": _r(499, 4.3, 5.7, 11.3, 69.3, 64.2),
    },
}

# Table 7 (Fashion-MNIST): DAED against DDGMs of about its size.
DEJA_TABLE7: dict[str, dict[str, dict[str, float]]] = {
    "fashion_mnist": {
        "DDGM": {"Params (M)": 8.8, "Seconds/sample": 0.65, "FID": 7.8, "Prec": 72, "Rec": 65},
        "DDGM 1.5x channels": {"Params (M)": 19.8, "Seconds/sample": 0.84, "FID": 8, "Prec": 74, "Rec": 65},
        "DDGM 2x blocks": {"Params (M)": 15.1, "Seconds/sample": 1.19, "FID": 7.5, "Prec": 66, "Rec": 66},
        "DAED": {"Params (M)": 17.6, "Seconds/sample": 0.66, "FID": 5.7, "Prec": 69, "Rec": 64},
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

# Table 4.5: surrogate diffusion on CIFAR-10 (T = 1000; t_mid in steps; IS ± std; TF-Inception FID).
# The plain DDPM of the same study (Table 4.3 "Default", 1.00 samples/s, IS 8.67, FID 4.93) is the reference row.
COURSEWORK_TABLE_4_5: dict[str, dict[str, dict[int, dict[str, float]]]] = {
    "cifar10": {
        "DDPM-16": {
            0: {"Samples/s": 2.53, "IS": 3.40, "IS std": 0.03, "FID": 145.00},
            250: {"Samples/s": 1.84, "IS": 8.64, "IS std": 0.05, "FID": 9.75},
            500: {"Samples/s": 1.38, "IS": 8.80, "IS std": 0.08, "FID": 6.50},
            750: {"Samples/s": 1.17, "IS": 8.67, "IS std": 0.09, "FID": 5.08},
        },
        "SNGAN-ResNet-32": {
            0: {"Samples/s": 188.40, "IS": 8.25, "IS std": 0.11, "FID": 13.70},
            250: {"Samples/s": 4.00, "IS": 8.94, "IS std": 0.08, "FID": 6.36},
            500: {"Samples/s": 1.96, "IS": 8.84, "IS std": 0.10, "FID": 4.84},
            750: {"Samples/s": 1.30, "IS": 8.70, "IS std": 0.09, "FID": 4.90},
        },
        "DDPM": {1000: {"Samples/s": 1.00, "IS": 8.67, "FID": 4.93}},
    },
}
COURSEWORK_4_5_T = 1000  # the coursework's T: t_mid of ours maps to the paper's by t_mid / T

# DDDM (Zhang et al. 2024): Table 1, CIFAR-10 (NFE, FID, IS) and Table 2, ImageNet 64x64 (NFE, FID, k-NN Prec/Rec).
DDDM_TABLE1: dict[str, dict[int, dict[str, float]]] = {
    "DDDM (T=1000)": {1: {"FID": 2.90, "IS": 9.81}, 2: {"FID": 2.79, "IS": 9.89}, 1000: {"FID": 1.87, "IS": 9.94}},
    "DDDM (T=8000)": {1: {"FID": 2.82, "IS": 9.83}, 2: {"FID": 2.53, "IS": 9.84}, 1000: {"FID": 1.74, "IS": 9.93}},
    "DDDM-deep (T=1000)": {1: {"FID": 2.57, "IS": 9.91}, 2: {"FID": 2.33, "IS": 9.91}, 1000: {"FID": 1.79, "IS": 9.95}},
}
# Table 3: one-step FID on CIFAR-10 for T and training epochs grown together, (T, epochs) -> FID
DDDM_TABLE3: dict[tuple[int, int], float] = {
    (1000, 1000): 2.90,
    (2000, 2000): 2.86,
    (4000, 4000): 2.83,
    (8000, 8000): 2.82,
}
DDDM_TABLE2_IMAGENET64: dict[str, dict[int, dict[str, float]]] = {
    "DDDM (T=1000)": {
        1: {"FID": 4.21, "Prec": 0.71, "Rec": 0.64},
        2: {"FID": 3.53, "Prec": 0.73, "Rec": 0.64},
        1000: {"FID": 2.76, "Prec": 0.75, "Rec": 0.65},
    },
    "DDDM-deep (T=1000)": {
        1: {"FID": 3.47, "Prec": 0.71, "Rec": 0.63},
        2: {"FID": 3.08, "Prec": 0.74, "Rec": 0.66},
        1000: {"FID": 2.11, "Prec": 0.73, "Rec": 0.67},
    },
}

#: the DDDM table a run on a data set stands beside (a registry name -> (label, rows)); any other data set:
#: Table 1, CIFAR-10 (the small presets' data sets stand beside the paper's unconditional benchmark)
DDDM_TABLE_OF_DATASET: dict[str, tuple[str, dict[str, dict[int, dict[str, float]]]]] = {
    "imagenet64": ("Table 2 (ImageNet 64)", DDDM_TABLE2_IMAGENET64)
}
DDDM_DEFAULT_TABLE = ("Table 1 (CIFAR-10)", DDDM_TABLE1)


def dddm_paper_table(dataset: str | None) -> tuple[str, dict[str, dict[int, dict[str, float]]]]:
    """``(label, rows)`` of Zhang et al.'s table that a DDDM run on ``dataset`` (a registry name) stands beside:
    :data:`DDDM_TABLE_OF_DATASET`, else :data:`DDDM_DEFAULT_TABLE`."""
    return DDDM_TABLE_OF_DATASET.get(dataset or "", DDDM_DEFAULT_TABLE)


PAPER_TABLES = {
    "deja_table1": DEJA_TABLE1,
    "deja_extended": DEJA_EXTENDED,
    "deja_table7": DEJA_TABLE7,
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


def paper_rows(table: str, dataset: str) -> dict[str, dict[str, float]]:
    """All published rows of ``table`` for ``dataset`` in the paper's order (empty when it has none)."""
    return dict(PAPER_TABLES[table].get(dataset, {}))


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
        raise KeyError(
            f"paper_row '{row}' is not a row of {table} for {dataset}; known rows: {', '.join(sorted(rows))}"
        )
    return rows[row]
