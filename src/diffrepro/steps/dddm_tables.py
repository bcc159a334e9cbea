"""Step: the DDDM table (rows per NFE shaped like Zhang et al. 2024's Tables 1 and 2, the published values of the
run's data set beside ours) and the metric ablation (FID per loss metric d and per c on the main run's data set,
their Fig 2) as CSV and figure."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import read_json
from ..config import dddm_config, load_config
from ..csvio import write_csv
from ..reporting.dddm_table import (
    ABLATION_COLUMNS,
    SWEEP_COLUMNS,
    ablation_cells,
    ablation_rows,
    dddm_table,
    sweep_rows,
)
from ..reporting.figure_io import save_figure
from ..reporting.render import write_step_table
from ..runlog import get_logger
from ..timing import read_timing, rows_with_timing


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
        ax_a.bar(
            xs, [by[(run, nfe)]["fid"] if (run, nfe) in by else float("nan") for run in runs], width, label=f"NFE={nfe}"
        )
    labels = []
    for run in runs:
        r = next(x for x in rows if x["run"] == run)
        labels.append(
            r["metric"]
            + ("" if r["c"] is None else f"\nc={r['c']:g}")
            + ("" if r["reportable"] else "\n(not reportable)")
        )
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
    dddm = dddm_config(config)
    for run_name in sorted(dddm.runs):
        path = Path(args.metrics_dir) / f"{run_name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no metrics for DDDM run {run_name!r}; run evaluate-dddm for it first")
        timing = read_timing(Path(args.timing_dir) / f"{run_name}.json", f"sample-dddm {run_name}")
        records.append(rows_with_timing(read_json(path), timing, "nfe"))
    main = next(r for r in records if r["run"] == dddm.main)
    others = [
        (r, dddm.runs[r["run"]].paper_row) for r in records if r["run"] != dddm.main and dddm.runs[r["run"]].paper_row
    ]
    rows, columns, title, notes = dddm_table(main, others)
    sweep = sweep_rows(records, dddm.main)
    write_csv(args.sweep_csv, SWEEP_COLUMNS, ablation_cells(sweep, SWEEP_COLUMNS))
    written = write_step_table(args, rows, columns, title, notes)
    abl = ablation_rows([r for r in records if r.get("dataset") == main.get("dataset")])  # Fig 2: one data set
    write_csv(args.ablation_csv, ABLATION_COLUMNS, ablation_cells(abl))
    ablation_figure(abl, args.ablation_png, args.ablation_svg)
    get_logger().info(
        "wrote %s, %s and %s (%s)",
        ", ".join(written),
        args.ablation_csv,
        args.ablation_png,
        json.dumps({r["run"]: [x["fid"] for x in r["rows"]] for r in records}),
    )
