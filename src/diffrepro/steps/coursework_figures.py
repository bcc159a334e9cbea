"""Step: coursework (Baryshnikov 2022) Fig 4.2 and Fig 4.3.

* Fig 4.2: FID against the number of parameters, the sampling speed and the training time (top to bottom), with
  the gray dotted least-squares line of FID fitted to the runs with standard residual blocks only; our Table 4.3
  rows (left, FID with its bootstrap interval) beside the published ones (right);
* Fig 4.3: the training loss of Table 4.4's runs over their first 50 000 steps (all of a shorter run).

The lines' slopes, intercepts and r^2 (ours and the paper's) go to a CSV beside the figures.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.tradeoffs import (
    COSTS,
    LOSS_STEPS,
    architecture_points,
    loss_curve,
    paper_architecture_points,
    standard_fits,
    standard_points,
)
from ..csvio import read_csv, write_csv
from ..reporting.figure_io import save_figure
from ..runlog import get_logger


def _read(path: str | Path, what: str) -> list[dict[str, str]]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: {what} not found; run its step first")
    return read_csv(path)


def run(args) -> None:
    log = get_logger()
    ours, fid_column = architecture_points(_read(args.architectures, "Table 4.3 CSV"), where=str(args.architectures))
    paper = paper_architecture_points()
    fits = {"ours": standard_fits(ours), "paper": standard_fits(paper)}
    rows = []
    for who, points in (("ours", ours), ("paper", paper)):
        for cost, paper_cost, _ in COSTS:
            fit, n = fits[who][cost], len(standard_points(points, cost))
            numbers = ["", "", "", ""]
            if fit is not None:
                se = "" if fit["slope_se"] is None else f"{fit['slope_se']:.8g}"
                numbers = [f"{fit['slope']:.8g}", se, f"{fit['intercept']:.8g}", f"{fit['r2']:.6f}"]
            rows.append([who, cost if who == "ours" else paper_cost, *numbers, n])
    write_csv(args.out_fits, ["source", "cost", "slope", "slope_se", "intercept", "r2", "n"], rows)
    _architectures_figure(ours, fid_column, paper, fits, args.out_tradeoffs_png, args.out_tradeoffs_svg)

    objectives = _read(args.objectives, "Table 4.4 CSV")
    curves = []
    for r in objectives:
        path = Path(args.train_dir) / r["Model"] / "loss.csv"
        curves.append((r["Model"], r.get("Paper setup") or "", loss_curve(_read(path, "training loss CSV"))))
    _loss_figure(curves, args.out_losses_png, args.out_losses_svg)
    for cost, fit in fits["ours"].items():
        log.info(
            "FID on %s (standard blocks): %s",
            cost,
            "fewer than 2 distinct points, no line" if fit is None else f"slope {fit['slope']:.4g}, r2 {fit['r2']:.3f}",
        )
    log.info("Fig 4.3: %d loss curves, first %d steps", len(curves), LOSS_STEPS)


def _panel(ax, points, cost, label, fit, title, error_bars: bool) -> None:
    for block, marker in (("Standard", "o"), ("MBConv", "s")):
        chosen = [p for p in points if p["block"] == block and p[cost] is not None]
        if not chosen:
            continue
        xs, ys = [p[cost] for p in chosen], [p["fid"] for p in chosen]
        if error_bars and all(p["fid_lo"] is not None and p["fid_hi"] is not None for p in chosen):
            err = [[y - p["fid_lo"] for y, p in zip(ys, chosen)], [p["fid_hi"] - y for y, p in zip(ys, chosen)]]
            ax.errorbar(xs, ys, yerr=err, fmt=marker, capsize=3, label=f"{block} blocks")
        else:
            ax.plot(xs, ys, marker, label=f"{block} blocks")
        for x, y, p in zip(xs, ys, chosen):
            ax.annotate(p["model"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    if fit is not None:
        xs = [p[cost] for p in points if p[cost] is not None]
        lo, hi = min(xs), max(xs)
        ax.plot(
            [lo, hi],
            [fit["slope"] * lo + fit["intercept"], fit["slope"] * hi + fit["intercept"]],
            ":",
            color="gray",
            label=f"linear fit, standard blocks (r² {fit['r2']:.2f})",
        )
    ax.set(xlabel=label, ylabel="FID", title=title)
    ax.legend(fontsize=6)


def _architectures_figure(ours, fid_column, paper, fits, path, svg_path=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(COSTS), 2, figsize=(10, 10))
    our_labels = {"Train s/step": "training time (s/step)"}
    paper_labels = {"Train s/step": "training time (h, 150k steps)"}
    for row, (cost, _, words) in enumerate(COSTS):
        _panel(
            axes[row][0],
            ours,
            cost,
            our_labels.get(cost, words),
            fits["ours"][cost],
            f"ours: {fid_column} vs {words.split(' (')[0]}",
            error_bars=True,
        )
        _panel(
            axes[row][1],
            paper,
            cost,
            paper_labels.get(cost, words),
            fits["paper"][cost],
            f"coursework Table 4.3: FID vs {words.split(' (')[0]}",
            error_bars=False,
        )
    fig.suptitle("Fig 4.2: FID against parameters, sampling speed and training time")
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)


def _loss_figure(curves, path, svg_path=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for model, setup, curve in curves:
        if curve:
            ax.plot([s for s, _ in curve], [v for _, v in curve], label=f"{model} ({setup})" if setup else model, lw=1)
    ax.set(
        xlabel="training step",
        ylabel="training loss",
        yscale="log",
        title=f"Fig 4.3: training loss, first {LOSS_STEPS:,} steps",
    )
    if curves:
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
