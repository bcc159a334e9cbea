"""Deja et al. 2022, Table 2 (transferability of the denoising part): the published values
(:data:`DEJA_TABLE2`) and the table in the paper's layout, our block of rows per source (:func:`table2_block`,
one per entry of ``analysis.transferability.sources``) followed by the published blocks, as Markdown, LaTeX and
HTML (:func:`table2_markdown`, :func:`table2_latex`, :func:`table2_html`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .render import html_document, html_section, render_latex

__all__ = [
    "DEJA_TABLE2",
    "DEJA_TABLE2_TARGETS",
    "TABLE2_CAVEAT",
    "Table2Block",
    "paper_rows",
    "table2_block",
    "table2_html",
    "table2_latex",
    "table2_markdown",
]

#: Deja et al. 2022, Table 2: source -> model -> target -> (MAE, MS-SSIM). The paper's DDGMs are
#: the pre-trained improved-DDPM models (4000 steps, cosine schedule) denoising from the step
#: with the DAE's noise level; "CelebA*" as printed in the paper.
DEJA_TABLE2_TARGETS = ("CIFAR10", "CIFAR100", "CelebA*")
DEJA_TABLE2: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "CIFAR10": {
        "DDGM VLB": {"CIFAR10": (0.091, 0.94), "CIFAR100": (0.097, 0.94), "CelebA*": (0.093, 0.95)},
        "DDGM Simple": {"CIFAR10": (0.085, 0.95), "CIFAR100": (0.097, 0.94), "CelebA*": (0.096, 0.95)},
        "DAED": {"CIFAR10": (0.065, 0.97), "CIFAR100": (0.074, 0.97), "CelebA*": (0.068, 0.97)},
    },
    "ImageNet": {
        "DDGM VLB": {"CIFAR10": (0.113, 0.93), "CIFAR100": (0.110, 0.93), "CelebA*": (0.077, 0.96)},
        "DDGM Simple": {"CIFAR10": (0.113, 0.94), "CIFAR100": (0.111, 0.93), "CelebA*": (0.068, 0.96)},
        "DAED": {"CIFAR10": (0.071, 0.97), "CIFAR100": (0.071, 0.97), "CelebA*": (0.050, 0.98)},
    },
}


TABLE2_CAVEAT = (
    "absolute values are not comparable across data sets and resolutions. The paper's rows come "
    "from pre-trained improved-DDPM models (4000 steps, cosine schedule) at 32x32 or 64x64 RGB, denoising "
    "from the step with the DAE's noise level; MAE and MS-SSIM depend on the image content, size and "
    "channel count (MS-SSIM on small images uses fewer scales and a narrower window, see "
    "diffrepro.analysis.image_quality), and the paper does not state the value range of its MAE "
    "(ours is on [0, 1] images). Compare the ordering of the rows (DAED vs DDGMs) and in- vs "
    "out-of-domain gaps, not the numbers."
)
PAPER_TITLE = "Published values (Deja et al. 2022, Table 2), for reference"


def _fmt(mean: float | None, sem: float | None, digits: int) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if sem is None or not math.isfinite(sem):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sem:.{digits}f}"


@dataclass(frozen=True)
class Table2Block:
    """One source's block of Table 2: its title and description, its rows of cells and their columns."""

    title: str
    description: str
    rows: list[dict[str, str]]
    columns: list[str]


def table2_block(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    targets: Sequence[str],
    models: Sequence[str],
    labels: Mapping[str, str] | None = None,
    title: str = "",
    description: str = "",
) -> Table2Block:
    """A source's cells: ``rows`` are dicts with ``model``, ``target``, ``mae_mean``, ``mae_sem``,
    ``ms_ssim_mean``, ``ms_ssim_sem`` (the transferability step's rows); ``models`` gives the row order and
    ``labels`` the text shown for each; a missing (model, target) pair reads ``n/a``."""
    labels = dict(labels or {})
    cell = {(r["model"], r["target"]): r for r in rows}
    columns = ["Source", "Model", *[c for t in targets for c in (f"{t} MAE ↓", f"{t} MS-SSIM ↑")]]
    out = []
    for i, model in enumerate(models):
        row = {"Source": source if i == 0 else "", "Model": labels.get(model, model)}
        for t in targets:
            r = cell.get((model, t))
            row[f"{t} MAE ↓"] = "n/a" if r is None else _fmt(r["mae_mean"], r["mae_sem"], 3)
            row[f"{t} MS-SSIM ↑"] = "n/a" if r is None else _fmt(r["ms_ssim_mean"], r["ms_ssim_sem"], 3)
        out.append(row)
    return Table2Block(title or f"Source {source}", description, out, columns)


def paper_rows() -> tuple[list[dict[str, str]], list[str]]:
    """The published Table 2 (every source's block, the paper's order) as rows of cells and their columns."""
    columns = ["Source", "Model", *[c for t in DEJA_TABLE2_TARGETS for c in (f"{t} MAE", f"{t} MS-SSIM")]]
    rows = []
    for source, models in DEJA_TABLE2.items():
        for i, (model, vals) in enumerate(models.items()):
            row = {"Source": source if i == 0 else "", "Model": model}
            for t in DEJA_TABLE2_TARGETS:
                row[f"{t} MAE"], row[f"{t} MS-SSIM"] = f"{vals[t][0]:.3f}", f"{vals[t][1]:.2f}"
            rows.append(row)
    return rows, columns


def _lines(rows: list[dict[str, str]], columns: list[str]) -> list[str]:
    head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return head + ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]


def table2_markdown(blocks: Sequence[Table2Block], *, title: str) -> str:
    """Table 2: ``title``, then per source its title, description and rows (one per model, ``MAE | MS-SSIM``
    columns per target), then the published blocks with the note that absolute values do not compare."""
    out = [f"# {title}", ""]
    for block in blocks:
        out += [f"## {block.title}", ""]
        out += [block.description, ""] if block.description else []
        out += [*_lines(block.rows, block.columns), ""]
    paper, paper_columns = paper_rows()
    out += [f"## {PAPER_TITLE}", "", *_lines(paper, paper_columns)]
    return "\n".join([*out, "", "Note: " + TABLE2_CAVEAT, ""])


def table2_latex(blocks: Sequence[Table2Block], *, title: str) -> str:
    """:func:`table2_markdown` as LaTeX: a table per source (its description as a note), then the published
    blocks. No difference columns: the paper's sources, targets and models differ from ours (:data:`TABLE2_CAVEAT`)."""
    paper, paper_columns = paper_rows()
    ours = [
        render_latex(b.rows, b.columns, f"{title}: {b.title}", [b.description] if b.description else []) for b in blocks
    ]
    return "\n".join([*ours, render_latex(paper, paper_columns, PAPER_TITLE, ["Note: " + TABLE2_CAVEAT])])


def table2_html(blocks: Sequence[Table2Block], *, title: str) -> str:
    """:func:`table2_markdown` as an HTML document: a section per source, then the published blocks."""
    paper, paper_columns = paper_rows()
    body = "".join(
        html_section(b.rows, b.columns, b.title, [], preamble=[b.description] if b.description else [], level=2)
        for b in blocks
    )
    body += html_section(paper, paper_columns, PAPER_TITLE, ["Note: " + TABLE2_CAVEAT], level=2)
    return html_document(title, body)
