"""The one CSV writer of the pipeline: :mod:`csv` with ``\\n`` line ends, written atomically.

Values are written as the csv module writes them (``str`` of numbers, ``""`` for None) and quoted only when
they need it (a comma, a quote or a line break), so a cell never breaks the row. Callers format numbers
themselves (``f"{x:.6f}"``) where the file has a fixed precision.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .atomic import write_text

__all__ = ["csv_text", "read_csv", "write_csv"]

Row = Sequence[Any] | Mapping[str, Any]


def csv_text(columns: Sequence[str], rows: Iterable[Row]) -> str:
    """The CSV document: a header of ``columns``, then one line per row (a sequence in column order, or a
    mapping read by column name, missing names empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c) for c in columns] if isinstance(row, Mapping) else row)
    return buf.getvalue()


def write_csv(target: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Row]) -> None:
    """Write :func:`csv_text` of ``columns`` and ``rows`` to ``target`` atomically."""
    write_text(target, csv_text(columns, rows))


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, each a mapping of column name to its text."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
