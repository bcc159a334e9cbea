"""Tables in the papers' layouts, written as Markdown and CSV with the published values beside ours."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Sequence

from ..atomic import write_text
from .paper_values import paper_row

TABLE1_COLUMNS = ["Model", "Loss", "Schedule", "T", "FID", "Prec", "Rec",
                  "Paper T", "Paper FID", "Paper Prec", "Paper Rec"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def table1_rows(entries: Sequence[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """Rows of Deja et al. Table 1 from per-model metric records (see steps.evaluate)."""
    rows = []
    for e in entries:
        paper = paper_row("deja_table1", dataset, e.get("paper_row"))
        rows.append({
            "Model": e["model"],
            "Loss": {"simple": "Simple", "vlb": "VLB"}.get(e["objective"], e["objective"]),
            "Schedule": e["schedule"],
            "T": e["timesteps"],
            "FID": e["fid"],
            "Prec": 100.0 * e["precision"],
            "Rec": 100.0 * e["recall"],
            "Paper T": paper["T"] if paper else None,
            "Paper FID": paper["FID"] if paper else None,
            "Paper Prec": paper["Prec"] if paper else None,
            "Paper Rec": paper["Rec"] if paper else None,
        })
    return rows


def render_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, notes: Sequence[str]) -> str:
    out = [f"# {title}", ""]
    out.append("| " + " | ".join(columns) + " |")
    out.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        out.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    out.append("")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


def render_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return buf.getvalue()


def write_table(rows, columns, *, md_path: str, csv_path: str, title: str, notes: Sequence[str]) -> None:
    write_text(md_path, render_markdown(rows, columns, title, notes))
    write_text(csv_path, render_csv(rows, columns))
