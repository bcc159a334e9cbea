"""Step: Deja et al. Fig 4, the FID of the post-hoc DAEDs against the log-SNR at their split point, one panel per
study of ``daed.posthoc.studies`` (in the parameters' order), the generator DDGM's own FID dashed. It reads the
studies' CSVs (``diffrepro evaluate-posthoc``) and the figure is all it writes."""

from __future__ import annotations

import math
from pathlib import Path

from ..config import daed_config, load_config
from ..csvio import read_csv
from ..errors import DiffreproError
from ..reporting.figure_io import save_figure

#: the columns of a study's CSV (evaluate-posthoc) the figure draws; its first row is the generator's ("ddgm")
COLUMNS = ("split", "log_snr", "fid")


def read_study(path: Path) -> tuple[float | None, list[dict[str, float | str]]]:
    """A study's CSV: the generator's FID (None if not finite) and its split points ``{split, log_snr, fid}``."""
    if not path.is_file():
        raise DiffreproError(f"{path} does not exist: run the study's evaluate-posthoc step first")
    rows = read_csv(path)
    if not rows or not set(COLUMNS) <= set(rows[0]) or rows[0]["split"] != "ddgm":
        raise DiffreproError(f"{path}: not an evaluate-posthoc CSV (columns {', '.join(COLUMNS)}, the ddgm row first)")
    ddgm = float(rows[0]["fid"] or "nan")
    points = [{"split": r["split"], "log_snr": float(r["log_snr"]), "fid": float(r["fid"] or "nan")} for r in rows[1:]]
    return (ddgm if math.isfinite(ddgm) else None), points


def run(args) -> None:
    config = load_config(args.params)
    studies = daed_config(config).posthoc.studies
    data = {name: read_study(Path(args.studies) / f"{name}.csv") for name in studies}
    titles = {name: f"{name}: generator {study.generator} ({study.data})" for name, study in studies.items()}
    figure(data, titles, args.out_png, args.out_svg)


def figure(studies: dict, titles: dict[str, str], path: str, svg_path: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(studies), figsize=(5.5 * len(studies), 3.8), squeeze=False)
    for ax, (name, (ddgm_fid, points)) in zip(axes[0], studies.items(), strict=True):
        pts = sorted(points, key=lambda r: r["log_snr"])
        ax.plot([r["log_snr"] for r in pts], [r["fid"] for r in pts], "o-", label="post-hoc DAED")
        for r in pts:
            ax.annotate(r["split"], (r["log_snr"], r["fid"]), textcoords="offset points", xytext=(3, 4), fontsize=7)
        if ddgm_fid is not None:
            ax.axhline(ddgm_fid, color="gray", linestyle="--", label="the generator DDGM")
        ax.set(xlabel="log-SNR at the split point", ylabel="FID", title=titles[name])
        ax.invert_xaxis()
        ax.legend()
    fig.suptitle("FID vs split point (Deja et al. Fig 4)")
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
