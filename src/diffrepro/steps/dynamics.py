"""Step: training dynamics of Deja et al. (appendix A.3, Fig 14 and 15).

* Fig 14: the DDGM's training loss per timestep bucket over training (from train-ddgm's
  ``loss_by_t.csv``): how fast each part of the diffusion converges;
* Fig 15 (left): the cumulative sum of the per-step NLL (bits/dim on test images, from the nll step)
  of the DDGM, i.e. the share of the bound each step carries;
* Fig 15 (right): the same cumulative sum without the first diffusion step, beside the joint DAED's
  cumulative sum over its generator steps (the DAE's step left out likewise).
"""

from __future__ import annotations

import csv

from ..atomic import write_json, write_text
from ..config import load_config
from ..reporting.figure_io import save_figure
from ..runlog import get_logger

NAME = "dynamics"
HELP = "per-step NLL contributions of a DDGM, the DDGM without its first step and a joint DAED (Fig 14, 15)"


def add_arguments(p) -> None:
    p.add_argument("--ddgm-nll", required=True, help="the DDGM's per-step NLL terms (nll step --terms-csv)")
    p.add_argument("--daed-nll", required=True, help="the joint DAED's per-step NLL terms")
    p.add_argument("--ddgm-loss-by-t", required=True, help="the DDGM's loss per timestep bucket over training")
    p.add_argument("--out-csv", required=True, help="output: per-step contributions and cumulative sums (.csv)")
    p.add_argument("--out-json", required=True, help="output: summary (.json)")
    p.add_argument("--out-png", required=True, help="output: figure (.png)")
    p.add_argument("--out-svg", help="output: the figure as SVG (default: beside --out-png, suffix .svg)")


def read_terms(path: str) -> list[float]:
    """Per-step NLL terms (bits/dim) in step order from an nll terms CSV (columns t, nll_bpd)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "nll_bpd" not in rows[0] or "t" not in rows[0]:
        raise ValueError(f"{path}: expected columns t and nll_bpd (written by the nll step)")
    rows.sort(key=lambda r: int(r["t"]))
    if [int(r["t"]) for r in rows] != list(range(1, len(rows) + 1)):
        raise ValueError(f"{path}: steps must run 1..T without gaps")
    return [float(r["nll_bpd"]) for r in rows]


def cumulative(values: list[float]) -> list[float]:
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
    return {"terms": used, "cumulative": cum, "total": total,
            "first_step_share": (used[0] / total) if total else None,
            "first_1pct_share": (sum(used[:k]) / total) if total else None}


def read_loss_by_t(path: str) -> dict[int, list[tuple[int, float]]]:
    """bucket -> [(step, loss)] from a train-ddgm loss_by_t.csv (empty losses skipped)."""
    out: dict[int, list[tuple[int, float]]] = {}
    labels: dict[int, str] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["loss"] == "":
                continue
            b = int(r["bucket"])
            out.setdefault(b, []).append((int(r["step"]), float(r["loss"])))
            labels[b] = f"t {r['t_first']}-{r['t_last']}"
    return {"series": out, "labels": labels}


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    names = config["analysis"]["dynamics"]
    ddgm = read_terms(args.ddgm_nll)
    daed = read_terms(args.daed_nll)
    full = contributions(ddgm)
    ddgm_rest = contributions(ddgm, skip_first=True)
    daed_rest = contributions(daed, skip_first=True)
    rows = ["model,curve,t,nll_bpd,cumulative_bpd\n"]
    for model, curve, c, start in ((names["ddgm"], "all_steps", full, 1), (names["ddgm"], "without_first", ddgm_rest, 2),
                                   (names["daed"], "generator_steps", daed_rest, 2)):
        for i, (v, cv) in enumerate(zip(c["terms"], c["cumulative"])):
            rows.append(f"{model},{curve},{start + i},{v:.8g},{cv:.8g}\n")
    write_text(args.out_csv, "".join(rows))
    summary = {
        "ddgm": names["ddgm"], "daed": names["daed"], "ddgm_timesteps": len(ddgm), "daed_timesteps": len(daed),
        "ddgm_total_bpd": full["total"], "ddgm_first_step_share": full["first_step_share"],
        "ddgm_first_1pct_share": full["first_1pct_share"],
        "ddgm_without_first_total_bpd": ddgm_rest["total"], "daed_generator_total_bpd": daed_rest["total"],
        "daed_total_bpd": sum(daed),
    }
    write_json(args.out_json, summary)
    _figure(read_loss_by_t(args.ddgm_loss_by_t), full, ddgm_rest, daed_rest, names, args.out_png,
            args.out_svg)
    log.info("%s: first step carries %.0f%% of the bound; without it %.4f bpd vs %s's generator steps %.4f bpd",
             names["ddgm"], 100 * (full["first_step_share"] or 0), ddgm_rest["total"], names["daed"], daed_rest["total"])


def _figure(loss_by_t: dict, full: dict, ddgm_rest: dict, daed_rest: dict, names: dict, path: str,
            svg_path: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 3.8))
    for b, series in sorted(loss_by_t["series"].items()):
        a1.plot([s for s, _ in series], [v for _, v in series], label=loss_by_t["labels"][b])
    a1.set(xlabel="training step", ylabel="training loss", yscale="log",
           title=f"Fig 14: loss per t over training ({names['ddgm']})")
    a1.legend(fontsize=6, ncol=2)
    a2.plot(range(1, len(full["cumulative"]) + 1), full["cumulative"])
    a2.set(xlabel="step t", ylabel="cumulative NLL (bits/dim)", xscale="log",
           title=f"Fig 15a: cumulative NLL ({names['ddgm']})")
    a3.plot(range(2, len(ddgm_rest["cumulative"]) + 2), ddgm_rest["cumulative"], label=f"{names['ddgm']} without step 1")
    a3.plot(range(2, len(daed_rest["cumulative"]) + 2), daed_rest["cumulative"], label=f"{names['daed']} (generator)")
    a3.set(xlabel="step t", ylabel="cumulative NLL (bits/dim)", xscale="log", title="Fig 15b: without the first step")
    a3.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
