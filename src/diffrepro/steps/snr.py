"""Step: the signal-to-noise analysis of Deja et al. (Fig 1, 8): the forward marginal's SNR averaged
over a data set's training images, per schedule, its discrete derivative, and the step where the
averaged log-SNR crosses 0, for each data set of ``analysis.snr.data`` (Fig 1: Fashion-MNIST; Fig 8:
CIFAR-10 and CelebA). Outputs: a CSV (one row per data set, schedule and step), a JSON summary (per data
set, in the order of the parameters) and a PNG figure (one row of panels per data set)."""

from __future__ import annotations

from pathlib import Path

from ..analysis.snr import snr_curve
from ..atomic import write_json
from ..config import analysis_config, load_config
from ..csvio import write_csv
from ..data import load_processed
from ..diffusion.schedules import alphas_cumprod, get_beta_schedule
from ..errors import DiffreproError
from ..imaging import to_model_range
from ..reporting.figure_io import save_figure
from ..runlog import get_logger

CSV_COLUMNS = ("data", "schedule", "t", "snr_mean", "log_snr_mean", "d_snr_mean", "d_log_snr_mean")


class ModelRangeBatches:
    """uint8 images as [-1, 1] float32 batches of ``size``, re-iterable (a pass per schedule): converting a whole
    training set at once took CelebA's 162,770 64x64 images to 8 GB as float32 and 16 GB more as float64 in
    :func:`~diffrepro.analysis.snr.signal_power` (the smoke run's snr job was killed for memory)."""

    def __init__(self, images_u8, size: int = 4096) -> None:
        self.images_u8, self.size = images_u8, size

    def __iter__(self):
        for start in range(0, int(self.images_u8.shape[0]), self.size):
            yield to_model_range(self.images_u8[start : start + self.size])


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    acfg = analysis_config(config).snr
    T = acfg.timesteps
    curves: dict[str, dict] = {}
    summary: dict = {"timesteps": T, "datasets": {}}
    for data in acfg.datasets:
        path = Path(args.data) / f"{data}.safetensors"
        if not path.is_file():
            raise DiffreproError(
                f"analysis.snr.data: {data!r}: its processed file {path} does not exist (prepare-data)"
            )
        tensors, meta = load_processed(path)
        images = ModelRangeBatches(tensors["train_images"])
        curves[data] = {name: snr_curve(alphas_cumprod(get_beta_schedule(name, T)), images) for name in acfg.schedules}
        first = next(iter(curves[data].values()))
        summary["datasets"][data] = {
            "dataset": meta.get("dataset"),
            "resolution": meta.get("resolution"),
            "num_images": first["num_images"],
            "mean_signal_power": first["mean_signal_power"],
            "schedules": {
                name: {
                    "crossing_step": None if c["crossing_step"] is None else c["crossing_step"] + 1,
                    "crossing_fraction": c["crossing_fraction"],
                }
                for name, c in curves[data].items()
            },
        }
        for name, s in summary["datasets"][data]["schedules"].items():
            log.info(
                "%s, %s: averaged log-SNR crosses 0 at step %s of %d (%.0f%%)",
                data,
                name,
                s["crossing_step"],
                T,
                100 * (s["crossing_fraction"] or 0),
            )
    rows = []
    for data, by_schedule in curves.items():
        for name, c in by_schedule.items():
            for t in range(T):
                d_snr = None if t == 0 else f"{float(c['d_snr_mean'][t - 1]):.8g}"
                d_log = None if t == 0 else f"{float(c['d_log_snr_mean'][t - 1]):.8g}"
                snr_t, log_t = f"{float(c['snr_mean'][t]):.8g}", f"{float(c['log_snr_mean'][t]):.8g}"
                rows.append([data, name, t + 1, snr_t, log_t, d_snr, d_log])
    write_csv(args.out_csv, CSV_COLUMNS, rows)
    write_json(args.out_json, summary)
    _figure(curves, T, args.out_png, args.out_svg)


def _figure(curves: dict[str, dict], T: int, path: str, svg_path: str | None = None) -> None:
    """One row per data set: the averaged log-SNR (crossings dotted) and its discrete derivative."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(curves), 2, figsize=(10, 3.6 * len(curves)), squeeze=False)
    for (ax1, ax2), (data, by_schedule) in zip(axes, curves.items(), strict=True):
        for name, c in by_schedule.items():
            t = (c["t"].numpy() + 1) / T
            (line,) = ax1.plot(t, c["log_snr_mean"].numpy(), label=name)
            if c["crossing_step"] is not None:
                ax1.axvline((c["crossing_step"] + 1) / T, color=line.get_color(), linestyle=":", linewidth=1)
            ax2.plot(t[1:], c["d_snr_mean"].numpy(), label=name)
        ax1.axhline(0.0, color="gray", linewidth=0.8)
        ax1.set(xlabel="t / T", ylabel="log SNR (averaged over images)", title=f"SNR, {data}")
        ax2.set(xlabel="t / T", ylabel="SNR(t) - SNR(t-1)", title=f"discrete derivative, {data}", xscale="log")
        ax2.set_yscale("symlog", linthresh=1e-2)
        ax1.legend()
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
