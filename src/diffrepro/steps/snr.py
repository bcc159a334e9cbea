"""Step: the signal-to-noise analysis of Deja et al. (Fig 1, 8): the forward marginal's SNR averaged
over the data set's training images, per schedule, its discrete derivative, and the step where the
averaged log-SNR crosses 0 (CSV, a JSON summary and a PNG figure)."""

from __future__ import annotations

from ..analysis.snr import snr_curve
from ..atomic import write_json
from ..config import analysis_config, load_config
from ..csvio import write_csv
from ..data import load_processed
from ..diffusion.schedules import alphas_cumprod, get_beta_schedule
from ..imaging import to_model_range
from ..reporting.figure_io import save_figure
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    acfg = analysis_config(config).snr
    tensors, meta = load_processed(args.data)
    images = to_model_range(tensors["train_images"])
    T = acfg.timesteps
    curves = {name: snr_curve(alphas_cumprod(get_beta_schedule(name, T)), images) for name in acfg.schedules}
    rows = []
    for name, c in curves.items():
        for t in range(T):
            d_snr = None if t == 0 else f"{float(c['d_snr_mean'][t - 1]):.8g}"
            d_log = None if t == 0 else f"{float(c['d_log_snr_mean'][t - 1]):.8g}"
            rows.append(
                [name, t + 1, f"{float(c['snr_mean'][t]):.8g}", f"{float(c['log_snr_mean'][t]):.8g}", d_snr, d_log]
            )
    write_csv(args.out_csv, ["schedule", "t", "snr_mean", "log_snr_mean", "d_snr_mean", "d_log_snr_mean"], rows)
    summary = {
        "dataset": meta.get("dataset"),
        "resolution": meta.get("resolution"),
        "timesteps": T,
        "num_images": next(iter(curves.values()))["num_images"],
        "mean_signal_power": next(iter(curves.values()))["mean_signal_power"],
        "schedules": {
            name: {
                "crossing_step": None if c["crossing_step"] is None else c["crossing_step"] + 1,
                "crossing_fraction": c["crossing_fraction"],
            }
            for name, c in curves.items()
        },
    }
    write_json(args.out_json, summary)
    _figure(curves, T, meta.get("dataset"), args.out_png, args.out_svg)
    for name, s in summary["schedules"].items():
        log.info(
            "%s: averaged log-SNR crosses 0 at step %s of %d (%.0f%%)",
            name,
            s["crossing_step"],
            T,
            100 * (s["crossing_fraction"] or 0),
        )


def _figure(curves: dict, T: int, dataset: str | None, path: str, svg_path: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, c in curves.items():
        t = (c["t"].numpy() + 1) / T
        (line,) = ax1.plot(t, c["log_snr_mean"].numpy(), label=name)
        if c["crossing_step"] is not None:
            ax1.axvline((c["crossing_step"] + 1) / T, color=line.get_color(), linestyle=":", linewidth=1)
        ax2.plot(t[1:], c["d_snr_mean"].numpy(), label=name)
    ax1.axhline(0.0, color="gray", linewidth=0.8)
    ax1.set(xlabel="t / T", ylabel="log SNR (averaged over images)", title=f"SNR, {dataset}")
    ax2.set(xlabel="t / T", ylabel="SNR(t) - SNR(t-1)", title="discrete derivative", xscale="log")
    ax2.set_yscale("symlog", linthresh=1e-2)
    ax1.legend()
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
