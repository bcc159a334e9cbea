"""Step: coursework Table 4.5 (surrogate diffusion: surrogate, t_mid, samples/s, IS, FID) beside the
published values, with the plain DDGM as the reference row and each row's speedup over it."""

from __future__ import annotations

from pathlib import Path

from ..atomic import read_json
from ..config import load_config, model_config, surrogate_config
from ..reporting.render import write_step_table
from ..reporting.surrogate_table import surrogate_table
from ..runlog import get_logger
from ..timing import read_timing, rows_with_timing, with_timing


def run(args) -> None:
    config = load_config(args.params)
    sur = surrogate_config(config)
    records = []
    for name in sur.surrogates:
        path = Path(args.surrogate_metrics) / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no metrics for surrogate {name!r}; run evaluate-surrogate for it first")
        timing = read_timing(Path(args.surrogate_timing_dir) / f"{name}.json", f"sample-surrogate {name}")
        records.append(rows_with_timing(read_json(path), timing, "t_mid"))
    base = read_json(args.base_metrics)
    if base.get("model") != sur.base_model:
        raise ValueError(
            f"{args.base_metrics} holds model {base.get('model')!r}, but surrogate.base_model is {sur.base_model!r}"
        )
    base_timing = read_timing(args.base_timing, f"sample {sur.base_model} seed {config['seed']}")
    base = with_timing({**base, "timesteps": model_config(config, base["model"]).timesteps}, base_timing)
    rows, columns, title, notes = surrogate_table(records, base)
    written = write_step_table(args, rows, columns, title, notes)
    get_logger().info("wrote %s (%d rows)", ", ".join(written), len(rows))
