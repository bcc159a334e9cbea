"""Step: the DDDM table (rows per NFE shaped like Zhang et al. 2024's Table 1, published values beside ours) and
the metric ablation (FID per loss metric d and per c, their Fig 2) as CSV and figure."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import read_json, write_text
from ..config import load_config
from ..reporting.figure_io import save_figure
from ..reporting.paper_values import DDDM_TABLE1, DDDM_TABLE2_IMAGENET64
from ..reporting.tables import backend_notes, backends_of, quality, quality_columns, tex_beside, write_table
from ..runlog import get_logger

NAME = "dddm-tables"
HELP = "DDDM table (NFE, FID, IS, Prec, Rec) and the loss-metric ablation (CSV + PNG)"

PAPER_METHOD = "DDDM (T=1000)"
#: the DDDM paper's precision/recall (ImageNet 64, ADM's evaluator) are the k-NN ones
KEYS = ("score", "fid", "precision", "recall")


def columns(backends: list[str]) -> list[str]:
    return ["Method", "Metric d", "NFE", *quality_columns(backends, KEYS), "N", "Samples/s", "Paper NFE", "Paper IS",
            "Paper FID", "Paper FID (ImageNet 64)", "Paper k-NN Prec", "Paper k-NN Rec"]
ABLATION_COLUMNS = ["run", "metric", "c", "nfe", "fid", "kid_mean", "precision", "recall", "reportable"]


def add_arguments(p) -> None:
    p.add_argument("--metrics-dir", required=True, help="folder of <run>.json written by evaluate-dddm (every dddm.runs)")
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", help="output: the table as LaTeX (default: beside --out-md, suffix .tex)")
    p.add_argument("--ablation-csv", required=True, help="output: FID per run (metric d, c) and NFE (.csv)")
    p.add_argument("--ablation-png", required=True, help="output: the ablation figure (.png)")
    p.add_argument("--ablation-svg", help="output: the ablation figure as SVG (default: beside --ablation-png)")


def metric_label(metric) -> tuple[str, float | None]:
    """(name, c) of a metric spec: "l1" -> ("l1", None); {"name": "pseudo_huber", "c": 0.03} -> (..., 0.03)."""
    if isinstance(metric, str):
        return metric, None
    return metric["name"], float(metric["c"])


def _describe(metric) -> str:
    name, c = metric_label(metric)
    return name if c is None else f"{name} (c={c:g})"


def table_rows(main: dict) -> list[dict]:
    bk = backends_of(main["rows"])
    nfes = [r["nfe"] for r in main["rows"]]
    rows = []
    for r in main["rows"]:
        # the paper's rows are NFE 1, 2 and 1000 (all steps): our largest NFE above 2 stands beside its 1000
        paper_nfe = r["nfe"] if r["nfe"] in (1, 2) else (1000 if r["nfe"] == max(nfes) else None)
        c10 = DDDM_TABLE1[PAPER_METHOD].get(paper_nfe, {}) if paper_nfe else {}
        i64 = DDDM_TABLE2_IMAGENET64[PAPER_METHOD].get(paper_nfe, {}) if paper_nfe else {}
        rows.append({
            "Method": f"DDDM ({main['run']}, T={main['timesteps']})", "Metric d": _describe(main["metric"]),
            "NFE": r["nfe"], **quality(r, bk, KEYS), "Samples/s": r["samples_per_second"],
            "Paper NFE": paper_nfe, "Paper FID": c10.get("FID"), "Paper IS": c10.get("IS"),
            "Paper FID (ImageNet 64)": i64.get("FID"),
            "Paper k-NN Prec": 100 * i64["Prec"] if "Prec" in i64 else None,
            "Paper k-NN Rec": 100 * i64["Rec"] if "Rec" in i64 else None,
        })
    return rows


def ablation_rows(records: list[dict]) -> list[dict]:
    rows = []
    for rec in records:
        name, c = metric_label(rec["metric"])
        for r in rec["rows"]:
            rows.append({"run": rec["run"], "metric": name, "c": c, "nfe": r["nfe"], "fid": r["fid"],
                         "kid_mean": r.get("kid_mean"), "precision": r["precision"], "recall": r["recall"],
                         "reportable": rec["reportable"]})
    return rows


def _csv(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if v is None:
            return ""
        return f"{v:.6g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)

    return ",".join(columns) + "\n" + "".join(",".join(cell(r[k]) for k in columns) + "\n" for r in rows)


def ablation_figure(rows: list[dict], path: str, svg_path: str | None = None) -> None:
    """(a) FID per loss metric at every NFE (grouped bars); (b) FID vs c for the metrics with a c."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(dict.fromkeys(r["run"] for r in rows))
    nfes = sorted({r["nfe"] for r in rows})
    by = {(r["run"], r["nfe"]): r for r in rows}
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / max(1, len(nfes))
    for j, nfe in enumerate(nfes):
        xs = [i + (j - (len(nfes) - 1) / 2) * width for i in range(len(runs))]
        ax_a.bar(xs, [by[(run, nfe)]["fid"] if (run, nfe) in by else float("nan") for run in runs], width,
                 label=f"NFE={nfe}")
    labels = []
    for run in runs:
        r = next(x for x in rows if x["run"] == run)
        labels.append(r["metric"] + ("" if r["c"] is None else f"\nc={r['c']:g}") + ("" if r["reportable"] else "\n(not reportable)"))
    ax_a.set_xticks(range(len(runs)), labels, fontsize=7)
    ax_a.set(ylabel="FID", title="(a) FID per loss metric d")
    ax_a.legend(fontsize=7)
    with_c = sorted({r["metric"] for r in rows if r["c"] is not None})
    for metric in with_c:
        for nfe in nfes:
            pts = sorted((r["c"], r["fid"]) for r in rows if r["metric"] == metric and r["nfe"] == nfe)
            ax_b.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{metric}, NFE={nfe}")
    if with_c:
        ax_b.set_xscale("log")
        ax_b.legend(fontsize=7)
    else:
        ax_b.text(0.5, 0.5, "no metric with a c in dddm.runs", ha="center", va="center", transform=ax_b.transAxes)
    ax_b.set(xlabel="c", ylabel="FID", title="(b) FID vs c")
    fig.suptitle("DDDM loss-metric ablation (Zhang et al. 2024 Fig 2)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)


def run(args) -> None:
    config = load_config(args.params)
    records = []
    for run_name in sorted(config["dddm"]["runs"]):
        path = Path(args.metrics_dir) / f"{run_name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no metrics for DDDM run {run_name!r}; run evaluate-dddm for it first")
        records.append(read_json(path))
    main = next(r for r in records if r["run"] == config["dddm"]["main"])
    first = main["rows"][0]
    notes = [
        f"Data set: {main['dataset']} at {main['resolution']} px; {main['num_samples']} samples per row vs "
        f"{first.get('n_reference')} reference images ({main['reference_split']} split).",
        *backend_notes(main["rows"]),
        "k-NN Prec/Rec: the DDDM paper's definition (ImageNet 64 only: Paper k-NN Prec/Rec); Paper IS/FID: CIFAR-10.",
        "Sampling: x_T and the initial x_bar from N(0, I); each step calls the network once (NFE = steps). "
        "Paper columns: Zhang et al. 2024 Table 1 (CIFAR-10: FID, IS) and Table 2 (ImageNet 64: FID, Prec, Rec), DDDM (T=1000); "
        "our largest NFE stands beside their 1000-step row.",
        "The metric ablation (every run of dddm.runs) is in the ablation CSV and figure.",
    ]
    if not main["reportable"]:
        notes.append("WARNING: the main run used a random-backbone LPIPS: its numbers exercise the code only.")
    write_table(table_rows(main), columns(backends_of(main["rows"])), md_path=args.out_md, csv_path=args.out_csv,
                tex_path=args.out_tex, title="DDDM: sample quality per number of function evaluations (Zhang et al. 2024 Table 1 layout)", notes=notes)
    abl = ablation_rows(records)
    write_text(args.ablation_csv, _csv(abl, ABLATION_COLUMNS))
    ablation_figure(abl, args.ablation_png, args.ablation_svg)
    get_logger().info("wrote %s, %s, %s, %s and %s (%s)", args.out_md, args.out_csv,
                      args.out_tex or tex_beside(args.out_md), args.ablation_csv, args.ablation_png,
                      json.dumps({r["run"]: [x["fid"] for x in r["rows"]] for r in records}))
