"""Step: one of the studies' tables (Markdown, CSV, LaTeX) from the per-model records (and the composed DAEDs'
metrics: rows without bits/dim), beside the published values."""

from __future__ import annotations

from pathlib import Path

from ..atomic import read_json
from ..config import daed_config, load_config, model_config, replicate_runs
from ..evaluation.seeds import pool_runs
from ..reporting.render import write_step_table
from ..reporting.tables import seed_notes, table_over_datasets
from ..runlog import get_logger
from ..timing import read_timing, with_timing


def _read(path: Path, model: str, step: str) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no record for model '{model}'; run the {step} step for it first")
    return read_json(path)


def run(args) -> None:
    config = load_config(args.params)
    groups: dict[str, list[dict]] = {}
    pooled: dict[str, list[int]] = {}  # model -> the seeds of its runs, for models with replicates
    for name in sorted(config["models"]):
        model = model_config(config, name)
        tables = dict(model.tables)
        if args.name not in tables:
            continue
        runs = replicate_runs(config, name)
        metrics = [_read(Path(args.metrics_dir) / f"{run}.json", run, "evaluate") for run, _ in runs]
        if len(runs) > 1:
            pooled[name] = [seed for _, seed in runs]
        groups.setdefault(model.data, []).append(
            {
                "tables": tables,
                # the measured speeds of the model's own run (diffrepro.timing) beside its metrics
                "metrics": with_timing(
                    metrics[0] if len(runs) == 1 else pool_runs(metrics, pooled[name]),
                    read_timing(Path(args.sample_timing_dir) / f"{name}.json"),
                ),
                "nll": _read(Path(args.nll_dir) / f"{name}.json", name, "nll"),
                "snapshots": _read(Path(args.snapshots_dir) / f"{name}.json", name, "evaluate-snapshots"),
                "train": with_timing(
                    _read(Path(args.train_dir) / name / "summary.json", name, "train-ddgm"),
                    read_timing(Path(args.train_timing_dir) / f"{name}.json", f"train {name}"),
                ),
            }
        )
    # composed DAEDs (Deja et al. "DAED (IN)"): sampled and evaluated only (no training, NLL or snapshots of their own)
    for name, entry in daed_config(config).composed.items():
        tables = dict(entry.tables)
        if args.name not in tables:
            continue
        groups.setdefault(entry.data, []).append(
            {
                "tables": tables,
                "metrics": with_timing(
                    _read(Path(args.metrics_dir) / f"{name}.json", name, "evaluate-composed"),
                    read_timing(Path(args.sample_timing_dir) / f"{name}.json"),
                ),
                "nll": None,
                "snapshots": None,
                "train": None,
            }
        )
    # one block of rows per data set (in the order of `datasets`), each beside that data set's published rows
    # (a table no model is a row of: the published rows of the first data set)
    keys = [key for key in config["datasets"] if key in groups] or [next(iter(config["datasets"]))]
    rows, columns, title, notes = table_over_datasets(
        args.name, [(key, config["datasets"][key]["dataset"], groups.get(key, [])) for key in keys]
    )
    notes = [*notes, *seed_notes(pooled)]
    written = write_step_table(args, rows, columns, title, notes)
    get_logger().info("wrote %s (%d rows)", ", ".join(written), len(rows))
