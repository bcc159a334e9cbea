"""The DDDM table (Zhang et al. 2024 Tables 1 and 2 layout): one row per NFE of the main run (``dddm.main``) and of
every run that stands beside another of the paper's rows (``paper_row``), with quality on every metric backend and
samples/s, beside the published values of the NFE it stands for (our largest NFE beside their 1000 steps) from the
paper's table of the run's data set: Table 2 for ImageNet 64 (FID, k-NN Prec/Rec), Table 1 for every other
(CIFAR-10: FID, IS; the small presets' data sets stand beside it); and the loss-metric ablation (their Fig 2): FID
per run of ``dddm.runs`` on the main run's data set (metric d and its c) and NFE. The records are evaluate-dddm's,
one per run."""

from __future__ import annotations

from .paper_values import DDDM_TABLE3, dddm_paper_table
from .tables import Record, TableResult, backend_notes, backends_of, quality, quality_columns

__all__ = [
    "ABLATION_COLUMNS",
    "SWEEP_COLUMNS",
    "ablation_cells",
    "ablation_rows",
    "dddm_table",
    "metric_label",
    "sweep_rows",
    "table_rows",
]

TITLE = "DDDM: sample quality per number of function evaluations (Zhang et al. 2024 Tables 1 and 2 layout)"

PAPER_METHOD = "DDDM (T=1000)"
#: the DDDM paper's precision/recall (ImageNet 64, ADM's evaluator) are the k-NN ones
KEYS = ("score", "fid", "precision", "recall")


def columns(backends: list[str]) -> list[str]:
    """The table's columns for the metric backends ``backends``."""
    return [
        "Method",
        "Data",
        "Paper method",
        "Metric d",
        "NFE",
        *quality_columns(backends, KEYS),
        "N",
        "Samples/s",
        "Paper table",
        "Paper NFE",
        "Paper IS",
        "Paper FID",
        "Paper k-NN Prec",
        "Paper k-NN Rec",
    ]


#: the ablation CSV: FID per run (loss metric d, its c) and NFE
ABLATION_COLUMNS = ["run", "metric", "c", "nfe", "fid", "kid_mean", "precision", "recall", "reportable"]


def metric_label(metric) -> tuple[str, float | None]:
    """(name, c) of a metric spec: "l1" -> ("l1", None); {"name": "pseudo_huber", "c": 0.03} -> (..., 0.03)."""
    if isinstance(metric, str):
        return metric, None
    return metric["name"], float(metric["c"])


def _describe(metric) -> str:
    name, c = metric_label(metric)
    return name if c is None else f"{name} (c={c:g})"


def table_rows(main: dict, paper_method: str = PAPER_METHOD) -> list[dict]:
    """One row per NFE of a run (the main run, or one that stands beside another of the paper's rows,
    ``paper_method``), the values of the paper's table of its data set (:func:`~.paper_values.dddm_paper_table`)
    for the NFE it stands for beside it."""
    label, published = dddm_paper_table(main.get("dataset"))
    if paper_method not in published:
        raise ValueError(
            f"no row {paper_method!r} in Zhang et al. {label} (rows: {', '.join(published)}); "
            f"run {main['run']!r} is on {main.get('dataset')}"
        )
    bk = backends_of(main["rows"])
    nfes = [r["nfe"] for r in main["rows"]]
    rows = []
    for r in main["rows"]:
        # the paper's rows are NFE 1, 2 and 1000 (all steps): our largest NFE above 2 stands beside its 1000
        paper_nfe = r["nfe"] if r["nfe"] in (1, 2) else (1000 if r["nfe"] == max(nfes) else None)
        paper = published[paper_method].get(paper_nfe, {}) if paper_nfe else {}
        rows.append(
            {
                "Method": f"DDDM ({main['run']}, T={main['timesteps']})",
                "Data": main.get("dataset"),
                "Paper method": paper_method,
                "Metric d": _describe(main["metric"]),
                "NFE": r["nfe"],
                **quality(r, bk, KEYS),
                "Samples/s": r["samples_per_second"],
                "Paper table": label,
                "Paper NFE": paper_nfe,
                "Paper IS": paper.get("IS"),
                "Paper FID": paper.get("FID"),
                "Paper k-NN Prec": 100 * paper["Prec"] if "Prec" in paper else None,
                "Paper k-NN Rec": 100 * paper["Rec"] if "Rec" in paper else None,
            }
        )
    return rows


def ablation_rows(records: list[dict]) -> list[dict]:
    """One row per run and NFE: the run's loss metric d and c, FID, KID and k-NN precision/recall."""
    rows = []
    for rec in records:
        name, c = metric_label(rec["metric"])
        for r in rec["rows"]:
            rows.append(
                {
                    "run": rec["run"],
                    "metric": name,
                    "c": c,
                    "nfe": r["nfe"],
                    "fid": r["fid"],
                    "kid_mean": r.get("kid_mean"),
                    "precision": r["precision"],
                    "recall": r["recall"],
                    "reportable": rec["reportable"],
                }
            )
    return rows


def _cell(v) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def ablation_cells(rows: list[dict], columns: list[str] = ABLATION_COLUMNS) -> list[list[str]]:
    """A CSV's cells of ``rows`` (:func:`ablation_rows`, :func:`sweep_rows`): floats to 6 significant digits,
    booleans lower case."""
    return [[_cell(r[k]) for k in columns] for r in rows]


#: the T and epochs sweep (Zhang et al. Table 3): one-step FID per run that differs from the main run only there
SWEEP_COLUMNS = ["run", "timesteps", "epochs", "fid_nfe1", "paper_timesteps", "paper_epochs", "paper_fid_nfe1"]


def sweep_rows(records: list[dict], main: str) -> list[dict]:
    """Table 3's layout: the main run and every run on its data set with its loss metric and network depth (the
    runs that differ from it in T or epochs only), by T, each beside the paper's row of the same T and epochs (if it
    has one)."""
    ref = next(r for r in records if r["run"] == main)
    same = [
        r
        for r in records
        if r["metric"] == ref["metric"]
        and r.get("num_res_blocks") == ref.get("num_res_blocks")
        and r.get("dataset") == ref.get("dataset")
    ]
    rows = []
    for rec in sorted(same, key=lambda r: (r["timesteps"], r.get("epochs") or 0, r["run"])):
        one = next((x for x in rec["rows"] if x["nfe"] == 1), None)
        paper = DDDM_TABLE3.get((rec["timesteps"], rec.get("epochs")))
        rows.append(
            {
                "run": rec["run"],
                "timesteps": rec["timesteps"],
                "epochs": rec.get("epochs"),
                "fid_nfe1": None if one is None else one["fid"],
                "paper_timesteps": rec["timesteps"] if paper is not None else None,
                "paper_epochs": rec.get("epochs") if paper is not None else None,
                "paper_fid_nfe1": paper,
            }
        )
    return rows


def dddm_table(main: Record, others: list[tuple[Record, str]] = ()) -> TableResult:
    """``(rows, columns, title, notes)`` of the DDDM table from the main run's record (beside "DDDM (T=1000)") and
    the records of the runs that stand beside the paper's other rows (``(record, paper row)``)."""
    notes = []
    shown = [main, *(rec for rec, _ in others)]
    for dataset in dict.fromkeys(rec.get("dataset") for rec in shown):
        rec = next(r for r in shown if r.get("dataset") == dataset)
        notes.append(
            f"Data set: {dataset} at {rec['resolution']} px; {rec['num_samples']} samples per row vs "
            f"{rec['rows'][0].get('n_reference')} reference images ({rec['reference_split']} split); paper "
            f"columns: Zhang et al. {dddm_paper_table(dataset)[0]}."
        )
    notes += [
        *backend_notes(main["rows"]),
        "k-NN Prec/Rec: the DDDM paper's definition (published for ImageNet 64 only, Table 2); IS: published for "
        "CIFAR-10 only (Table 1).",
        "Sampling: x_T and the initial x_bar from N(0, I); each step calls the network once (NFE = steps); a "
        "class-conditional run's classes are drawn uniformly. Paper columns: the row named in Paper method (the main "
        "run: DDDM (T=1000)) of the table of the run's data set (Paper table); our largest NFE stands beside their "
        "1000-step row.",
        "The metric ablation (the runs on the main run's data set) is in the ablation CSV and figure.",
    ]
    if not main["reportable"]:
        notes.append("WARNING: the main run used a random-backbone LPIPS: its numbers exercise the code only.")
    rows = table_rows(main) + [row for rec, paper in others for row in table_rows(rec, paper)]
    return rows, columns(backends_of(main["rows"])), TITLE, notes
