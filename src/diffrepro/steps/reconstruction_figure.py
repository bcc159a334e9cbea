"""Step: the figure of the reconstruction analysis (Deja et al. Fig. 2 and 3), one column per panel of
``analysis.reconstruction.panels`` (in the parameters' order): MAE (top) and MS-SSIM (bottom) against
``(t + 1) / T`` for each target set, in-domain lines solid, out-of-domain dashed, a band of one standard
error. It reads the panels' CSVs (``diffrepro reconstruction``) and the figure is all it writes."""

from __future__ import annotations

from pathlib import Path

from ..config import analysis_config, load_config
from ..csvio import read_csv
from ..errors import DiffreproError
from ..reporting.figure_io import save_figure

#: the columns of a panel's CSV (diffrepro reconstruction) the figure draws
COLUMNS = ("target", "in_domain", "t_fraction", "mae_mean", "mae_sem", "ms_ssim_mean", "ms_ssim_sem")


def read_panel(path: Path) -> dict[str, list[dict[str, str]]]:
    """A panel's CSV: target -> its rows (in step order), checked for the reconstruction step's columns."""
    if not path.is_file():
        raise DiffreproError(f"{path} does not exist: run the panel's reconstruction step first")
    rows = read_csv(path)
    if not rows or not set(COLUMNS) <= set(rows[0]):
        raise DiffreproError(f"{path}: not a reconstruction CSV with rows (columns {', '.join(COLUMNS)})")
    targets: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        targets.setdefault(row["target"], []).append(row)
    return targets


def run(args) -> None:
    config = load_config(args.params)
    panels = analysis_config(config).reconstruction.panels
    data = {name: read_panel(Path(args.panels) / f"{name}.csv") for name in panels}
    titles = {name: f"{name}: {panel.model} ({panel.data})" for name, panel in panels.items()}
    figure(data, titles, args.out_png, args.out_svg)


def figure(
    panels: dict[str, dict[str, list[dict[str, str]]]], titles: dict[str, str], path: str, svg_path: str | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, len(panels), figsize=(5 * len(panels), 7.2), squeeze=False)
    for col, (name, targets) in enumerate(panels.items()):
        for target, rows in targets.items():
            inside = rows[0]["in_domain"] == "true"
            x = np.array([float(r["t_fraction"]) for r in rows])
            label = f"{target} ({'in-domain' if inside else 'out-of-domain'})"
            for ax, key in ((axes[0, col], "mae"), (axes[1, col], "ms_ssim")):
                y = np.array([float(r[f"{key}_mean"]) for r in rows])
                sem = np.nan_to_num(np.array([float(r[f"{key}_sem"] or "nan") for r in rows]))
                (line,) = ax.plot(x, y, "-" if inside else "--", marker="o", markersize=3, label=label)
                ax.fill_between(x, y - sem, y + sem, color=line.get_color(), alpha=0.2, linewidth=0)
        axes[0, col].set(xlabel="(t + 1) / T  (t 0-based)", ylabel="MAE ([0, 1] images)", title=titles[name])
        axes[1, col].set(xlabel="(t + 1) / T  (t 0-based)", ylabel="MS-SSIM")
        axes[0, col].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
