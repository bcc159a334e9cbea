"""Per-job wall time and peak memory of a finished run, from Snakemake's benchmark files.

Every rule writes ``benchmarks/<rule>.tsv`` or ``benchmarks/<rule>/<key>.tsv`` (a preset's under
``presets/NAME/benchmarks``): Snakemake's ``s`` (wall seconds), ``max_rss`` (peak resident memory, MB) and
``cpu_time`` of the job's process tree. ``diffrepro job-costs`` gathers them into one CSV row per job and a
Markdown summary per job kind (rule): the job count, total and largest wall time, and the largest peak memory --
what a run cost on the machine that ran it (the paper-shape smoke run's table; :mod:`.gpu_hours` estimates the
GPU time instead).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobCost", "kind_summary", "read_job_costs"]

#: the benchmark columns read (Snakemake's names)
COLUMNS = ("s", "max_rss", "cpu_time")


@dataclass(frozen=True)
class JobCost:
    kind: str  # the rule
    key: str  # the foreach key ("" for a single job)
    seconds: float
    max_rss_mb: float | None  # None: Snakemake could not measure it ("NA")
    cpu_seconds: float | None


def _number(path: Path, row: dict[str, str], column: str) -> float | None:
    value = row.get(column)
    if value is None:
        raise ValueError(f"{path}: no column {column!r} (a Snakemake benchmark file has {', '.join(COLUMNS)})")
    if value.strip() in ("", "NA", "-"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{path}: {column} = {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{path}: {column} = {value!r} is not a finite, non-negative number")
    return number


def read_job_costs(folder: str | Path) -> list[JobCost]:
    """Every job's cost under the benchmarks ``folder`` (the last row of each file: the last run of that job)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no benchmarks folder (run the DAG with Snakemake first)")
    jobs = []
    for path in sorted(folder.rglob("*.tsv")):
        rel = path.relative_to(folder)
        kind, key = (
            (rel.parts[0], rel.with_suffix("").as_posix().split("/", 1)[1])
            if len(rel.parts) > 1
            else (
                rel.stem,
                "",
            )
        )
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            raise ValueError(f"{path}: an empty benchmark file")
        last = rows[-1]
        seconds = _number(path, last, "s")
        if seconds is None:
            raise ValueError(f"{path}: no wall time (s)")
        jobs.append(JobCost(kind, key, seconds, _number(path, last, "max_rss"), _number(path, last, "cpu_time")))
    if not jobs:
        raise ValueError(f"{folder}: holds no benchmark file (*.tsv)")
    return jobs


def kind_summary(jobs: list[JobCost]) -> list[dict[str, object]]:
    """One row per job kind, the most expensive (total wall time) first."""
    kinds: dict[str, list[JobCost]] = {}
    for j in jobs:
        kinds.setdefault(j.kind, []).append(j)
    rows = []
    for kind, js in kinds.items():
        rss = [j.max_rss_mb for j in js if j.max_rss_mb is not None]
        rows.append(
            {
                "kind": kind,
                "jobs": len(js),
                "total_s": sum(j.seconds for j in js),
                "max_s": max(j.seconds for j in js),
                "peak_rss_mb": max(rss) if rss else None,
            }
        )
    return sorted(rows, key=lambda r: (-float(r["total_s"]), str(r["kind"])))


def _markdown(rows: list[dict[str, object]], jobs: list[JobCost], source: str) -> str:
    total = sum(j.seconds for j in jobs)
    lines = [
        f"# Job costs of {source}",
        "",
        f"{len(jobs)} jobs, {total:.0f} s of job wall time in all (jobs that ran side by side count each).",
        "",
        "| Kind | Jobs | Total s | Largest s | Peak memory (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak = "n/a" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}"
        lines.append(f"| {r['kind']} | {r['jobs']} | {r['total_s']:.1f} | {r['max_s']:.1f} | {peak} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser) -> None:
    parser.add_argument("--benchmarks", default="benchmarks", help="the run's benchmarks folder")
    parser.add_argument("--out-csv", help="one row per job (default: not written)")
    parser.add_argument("--out-md", help="the summary per job kind (default: printed)")


def main(args) -> None:
    from ..atomic import write_text

    jobs = read_job_costs(args.benchmarks)
    text = _markdown(kind_summary(jobs), jobs, args.benchmarks)
    if args.out_csv:
        lines = ["kind,key,seconds,max_rss_mb,cpu_seconds"]
        for j in jobs:
            cells = [
                j.kind,
                j.key,
                f"{j.seconds:g}",
                *("" if v is None else f"{v:g}" for v in (j.max_rss_mb, j.cpu_seconds)),
            ]
            lines.append(",".join(cells))
        write_text(args.out_csv, "\n".join(lines) + "\n")
    if args.out_md:
        write_text(args.out_md, text)
    else:
        print(text, end="")
