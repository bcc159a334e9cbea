"""A table (rows, columns, title, notes) as Markdown, CSV, LaTeX and HTML, and :func:`write_table`, which adds
the ``Δ X`` = ours - paper columns (:mod:`diffrepro.reporting.differences`) and writes all four files.

Numbers keep two decimals below 100 and one above in Markdown, LaTeX and HTML (the CSV holds them unrounded); a
missing value is ``-`` in Markdown and HTML, ``--`` in LaTeX and empty in the CSV. The HTML is a small
self-contained document (inline styles, nothing loaded from elsewhere) that ``snakemake --report`` draws inline.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..csvio import write_csv
from .differences import add_differences, is_number

__all__ = [
    "NO_ROWS",
    "html_beside",
    "html_document",
    "html_fragment",
    "html_section",
    "html_table",
    "latex_escape",
    "render_html",
    "render_latex",
    "render_markdown",
    "tex_beside",
    "write_table",
]

NO_ROWS = "No model of this preset is a row of this table (see each model's `tables` in params.yaml)."


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _cell(row: dict[str, Any], column: str) -> str:
    """A cell: its value, and ``[lo, hi]`` after it when the row holds the value's interval (``<column>_lo``)."""
    text = _fmt(row.get(column))
    lo, hi = row.get(f"{column}_lo"), row.get(f"{column}_hi")
    return text if lo is None or hi is None else f"{text} [{_fmt(lo)}, {_fmt(hi)}]"


def with_interval_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """``columns`` with ``<column>_lo`` and ``<column>_hi`` after each column some row holds an interval of (the
    CSV's columns)."""
    out = []
    for c in columns:
        out.append(c)
        if any(row.get(f"{c}_lo") is not None for row in rows):
            out += [f"{c}_lo", f"{c}_hi"]
    return out


def render_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, notes: Sequence[str]) -> str:
    out = [f"# {title}", ""]
    if rows:
        out.append("| " + " | ".join(columns) + " |")
        out.append("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            out.append("| " + " | ".join(_cell(row, c) for c in columns) + " |")
    else:
        out.append(NO_ROWS)
    out.append("")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


# --- LaTeX --------------------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_UNICODE = {
    "β": r"$\beta$",
    "α": r"$\alpha$",
    "σ": r"$\sigma$",
    "μ": r"$\mu$",
    "µ": r"$\mu$",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "≈": r"$\approx$",
    "−": r"$-$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "→": r"$\rightarrow$",
    "·": r"$\cdot$",
    "°": r"$^\circ$",
    "–": "--",
    "—": "---",
    "…": r"\ldots{}",
    "é": r"\'{e}",
    "è": r"\`{e}",
    "á": r"\'{a}",
    "ä": r"\"{a}",
    "ö": r"\"{o}",
    "ü": r"\"{u}",
}
_LATEX_CHARS = re.compile("[" + re.escape("".join(_LATEX_SPECIAL) + "".join(_LATEX_UNICODE)) + "]")
_CODE_SPAN = re.compile(r"`([^`]+)`")


def latex_escape(text: str) -> str:
    r"""Plain text -> LaTeX: the special characters escaped, the unicode symbols of our tables as LaTeX (β ->
    $\beta$, ± -> $\pm$, Δ -> $\Delta$, ...), Markdown code spans as \texttt."""

    def esc(s: str) -> str:
        return _LATEX_CHARS.sub(lambda m: _LATEX_SPECIAL.get(m.group(), _LATEX_UNICODE.get(m.group())), s)

    parts = _CODE_SPAN.split(str(text))
    return "".join(esc(s) if i % 2 == 0 else r"\texttt{" + esc(s) + "}" for i, s in enumerate(parts))


def _numeric(rows: Sequence[dict[str, Any]], column: str) -> bool:
    """A column of numbers (and missing values): right-aligned, as in LaTeX."""
    return any(is_number(r.get(column)) for r in rows) and all(
        r.get(column) is None or is_number(r.get(column)) for r in rows
    )


def _latex_cell(row: dict[str, Any], column: str) -> str:
    return "--" if row.get(column) is None else latex_escape(_cell(row, column))


def render_latex(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, notes: Sequence[str]) -> str:
    """A booktabs tabular in a table float, captioned with ``title``, numbers right-aligned, None as "--", the
    notes as a footnotesize paragraph below; shrunk to the line width when wider (needs booktabs and graphicx)."""
    spec = "".join("r" if _numeric(rows, c) else "l" for c in columns)
    out = [
        r"% generated by diffrepro; needs \usepackage{booktabs,graphicx}",
        r"\begin{table}[htbp]",
        r"\centering",
        r"\caption{" + latex_escape(title) + "}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    for row in rows:
        out.append(" & ".join(_latex_cell(row, c) for c in columns) + r" \\")
    if not rows:
        out.append(r"\multicolumn{" + str(len(columns)) + "}{l}{" + latex_escape(NO_ROWS) + r"} \\")
    out += [r"\bottomrule", r"\end{tabular}}"]
    if notes:
        out += [r"\par\smallskip", r"{\footnotesize\raggedright"]
        out += [latex_escape(n) + r"\par" for n in notes]
        out.append("}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def tex_beside(md_path: str) -> str:
    """The LaTeX path of a table: the Markdown's path with the suffix ``.tex``."""
    return str(Path(md_path).with_suffix(".tex"))


# --- HTML ---------------------------------------------------------------------------------------------------------

#: the styles of a table (scoped to ``.diffrepro-table``: the report's landing page embeds the claims table with
#: them, beside Snakemake's own styles)
HTML_STYLE = """\
.diffrepro-table { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13px;
  color: #1f2937; line-height: 1.4; }
.diffrepro-table h1, .diffrepro-table h2 { font-size: 16px; margin: 0.8em 0 0.5em; }
.diffrepro-table .scroll { overflow-x: auto; }
.diffrepro-table table { border-collapse: collapse; margin: 0; }
.diffrepro-table th, .diffrepro-table td { border-bottom: 1px solid #e5e7eb; padding: 3px 8px; text-align: left;
  vertical-align: top; }
.diffrepro-table thead th { border-bottom: 2px solid #374151; background: #f9fafb; white-space: nowrap; }
.diffrepro-table td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.diffrepro-table td.long { min-width: 18em; }
.diffrepro-table tbody tr:nth-child(even) { background: #f9fafb; }
.diffrepro-table p, .diffrepro-table ul { max-width: 60em; }
.diffrepro-table .notes { font-size: 12px; color: #4b5563; padding-left: 1.2em; }
.diffrepro-table code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
"""


#: a cell longer than this (characters) makes its column one of prose, kept at least 18em wide
LONG_CELL = 60


def html_text(text: Any) -> str:
    """Plain text -> HTML: escaped (:func:`html.escape`, quotes too), Markdown code spans as ``<code>``."""
    parts = _CODE_SPAN.split(str(text))
    return "".join(html.escape(s) if i % 2 == 0 else "<code>" + html.escape(s) + "</code>" for i, s in enumerate(parts))


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The ``<table>`` element alone (in a scrolling ``div``): a header row, then one row per row with the cells
    of the Markdown (``value [lo, hi]`` where the row holds an interval, ``-`` for a missing value), escaped;
    without rows, the :data:`NO_ROWS` paragraph."""
    if not rows:
        return f"<p>{html_text(NO_ROWS)}</p>\n"
    texts = [[_cell(row, c) for c in columns] for row in rows]
    # a column of numbers is right-aligned; one of prose (a cell over LONG_CELL characters) kept readable wide
    opening = [
        '<td class="num">'
        if _numeric(rows, c)
        else '<td class="long">'
        if any(len(t[i]) > LONG_CELL for t in texts)
        else "<td>"
        for i, c in enumerate(columns)
    ]
    out = ['<div class="scroll">', "<table>", "<thead>"]
    out.append("<tr>" + "".join(f'<th scope="col">{html.escape(c)}</th>' for c in columns) + "</tr>")
    out += ["</thead>", "<tbody>"]
    for cells in texts:
        out.append("<tr>" + "".join(o + html.escape(t) + "</td>" for o, t in zip(opening, cells)) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return "\n".join(out) + "\n"


def html_section(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    title: str,
    notes: Sequence[str],
    *,
    level: int = 1,
    preamble: Sequence[str] = (),
) -> str:
    """A table under its heading (``<h1>`` or ``<h2>``: ``level``), the ``preamble`` paragraphs between them,
    the notes as a list below."""
    out = [f"<h{level}>{html_text(title)}</h{level}>\n"]
    out += [f"<p>{html_text(p)}</p>\n" for p in preamble]
    out.append(html_table(rows, columns))
    if notes:
        out.append('<ul class="notes">\n' + "".join(f"<li>{html_text(n)}</li>\n" for n in notes) + "</ul>\n")
    return "".join(out)


def html_document(title: str, body: str) -> str:
    """A self-contained HTML document (UTF-8, the styles inline, nothing loaded from elsewhere) titled ``title``
    around ``body`` (sections of :func:`html_section`)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="generator" content="diffrepro">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{HTML_STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        f'<main class="diffrepro-table">\n{body}</main>\n'
        "</body>\n"
        "</html>\n"
    )


def render_html(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, notes: Sequence[str]) -> str:
    """One table as an HTML document: its title, the table (cells as in the Markdown) and the notes."""
    return html_document(title, html_section(rows, columns, title, notes))


def html_fragment(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The table element alone with its styles, to embed in another page (the report's landing page)."""
    return f'<style>\n{HTML_STYLE}</style>\n<div class="diffrepro-table">\n{html_table(rows, columns)}</div>\n'


def html_beside(md_path: str) -> str:
    """The HTML path of a table: the Markdown's path with the suffix ``.html``."""
    return str(Path(md_path).with_suffix(".html"))


def write_table(
    rows,
    columns,
    *,
    md_path: str,
    csv_path: str,
    title: str,
    notes: Sequence[str],
    tex_path: str | None = None,
    html_path: str | None = None,
) -> None:
    """Write a table as Markdown, CSV, LaTeX (``tex_path``, default beside the Markdown) and HTML (``html_path``,
    default beside the Markdown), each with the ``Δ X`` = ours - paper columns of :func:`add_differences`."""
    rows, columns, notes = add_differences(rows, columns, notes)
    write_text(md_path, render_markdown(rows, columns, title, notes))
    write_csv(csv_path, with_interval_columns(rows, columns), rows)
    write_text(tex_beside(md_path) if tex_path is None else tex_path, render_latex(rows, columns, title, notes))
    write_text(html_beside(md_path) if html_path is None else html_path, render_html(rows, columns, title, notes))


def write_step_table(args: Any, rows, columns, title: str, notes: Sequence[str]) -> list[str]:
    """:func:`write_table` to a table step's outputs (its parsed ``--out-md``, ``--out-csv`` and the optional
    ``--out-tex`` and ``--out-html``, beside the Markdown by default); returns the paths written."""
    paths = {"md_path": args.out_md, "csv_path": args.out_csv, "tex_path": args.out_tex, "html_path": args.out_html}
    write_table(rows, columns, title=title, notes=notes, **paths)
    return [
        args.out_md,
        args.out_csv,
        args.out_tex or tex_beside(args.out_md),
        args.out_html or html_beside(args.out_md),
    ]
