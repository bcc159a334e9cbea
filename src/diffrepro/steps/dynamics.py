"""Step: training dynamics of Deja et al. (appendix A.3, Fig 14 and 15).

* Fig 14: the DDGM's training loss per timestep bucket over training (from train-ddgm's
  ``loss_by_t.csv``): how fast each part of the diffusion converges;
* Fig 15 (left): the cumulative sum of the per-step NLL (bits/dim on test images, from the nll step)
  of the DDGM, i.e. the share of the bound each step carries;
* Fig 15 (right): the same cumulative sum without the first diffusion step, beside the joint DAED's
  cumulative sum over its generator steps (the DAE's step left out likewise).
"""

from __future__ import annotations

from ..analysis.dynamics import contributions, read_loss_by_t, read_terms
from ..atomic import write_json
from ..config import analysis_config, load_config
from ..csvio import write_csv
from ..reporting.figure_io import save_figure
from ..runlog import get_logger
from ..sections_pipeline import DynamicsConfig


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    names = analysis_config(config).dynamics
    ddgm = read_terms(args.ddgm_nll)
    daed = read_terms(args.daed_nll)
    full = contributions(ddgm)
    ddgm_rest = contributions(ddgm, skip_first=True)
    daed_rest = contributions(daed, skip_first=True)
    rows = []
    for model, curve, c, start in (
        (names.ddgm, "all_steps", full, 1),
        (names.ddgm, "without_first", ddgm_rest, 2),
        (names.daed, "generator_steps", daed_rest, 2),
    ):
        for i, (v, cv) in enumerate(zip(c["terms"], c["cumulative"])):
            rows.append([model, curve, start + i, f"{v:.8g}", f"{cv:.8g}"])
    write_csv(args.out_csv, ["model", "curve", "t", "nll_bpd", "cumulative_bpd"], rows)
    summary = {
        "ddgm": names.ddgm,
        "daed": names.daed,
        "ddgm_timesteps": len(ddgm),
        "daed_timesteps": len(daed),
        "ddgm_total_bpd": full["total"],
        "ddgm_first_step_share": full["first_step_share"],
        "ddgm_first_1pct_share": full["first_1pct_share"],
        "ddgm_without_first_total_bpd": ddgm_rest["total"],
        "daed_generator_total_bpd": daed_rest["total"],
        "daed_total_bpd": sum(daed),
    }
    write_json(args.out_json, summary)
    _figure(read_loss_by_t(args.ddgm_loss_by_t), full, ddgm_rest, daed_rest, names, args.out_png, args.out_svg)
    log.info(
        "%s: first step carries %.0f%% of the bound; without it %.4f bpd vs %s's generator steps %.4f bpd",
        names.ddgm,
        100 * (full["first_step_share"] or 0),
        ddgm_rest["total"],
        names.daed,
        daed_rest["total"],
    )


def _figure(
    loss_by_t: dict,
    full: dict,
    ddgm_rest: dict,
    daed_rest: dict,
    names: DynamicsConfig,
    path: str,
    svg_path: str | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 3.8))
    for b, series in sorted(loss_by_t["series"].items()):
        a1.plot([s for s, _ in series], [v for _, v in series], label=loss_by_t["labels"][b])
    a1.set(
        xlabel="training step",
        ylabel="training loss",
        yscale="log",
        title=f"Fig 14: loss per t over training ({names.ddgm})",
    )
    a1.legend(fontsize=6, ncol=2)
    a2.plot(range(1, len(full["cumulative"]) + 1), full["cumulative"])
    a2.set(
        xlabel="step t",
        ylabel="cumulative NLL (bits/dim)",
        xscale="log",
        title=f"Fig 15a: cumulative NLL ({names.ddgm})",
    )
    a3.plot(range(2, len(ddgm_rest["cumulative"]) + 2), ddgm_rest["cumulative"], label=f"{names.ddgm} without step 1")
    a3.plot(range(2, len(daed_rest["cumulative"]) + 2), daed_rest["cumulative"], label=f"{names.daed} (generator)")
    a3.set(xlabel="step t", ylabel="cumulative NLL (bits/dim)", xscale="log", title="Fig 15b: without the first step")
    a3.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
