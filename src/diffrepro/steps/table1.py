"""Step: Deja et al. Table 1 (rows this pipeline can fill) beside the published values."""

from __future__ import annotations

from pathlib import Path

from ..atomic import read_json
from ..config import load_config
from ..reporting.tables import TABLE1_COLUMNS, table1_rows, write_table
from ..runlog import get_logger

NAME = "table1"
HELP = "assemble Table 1 (Markdown + CSV) from per-model metrics"


def add_arguments(p) -> None:
    p.add_argument("--metrics-dir", required=True,
                   help="folder of per-model metrics from evaluate; <dir>/<model>.json is read for each model in params")
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-csv", required=True)


def run(args) -> None:
    config = load_config(args.params)
    entries = []
    for name in sorted(config["models"]):
        path = Path(args.metrics_dir) / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no metrics for model '{name}'; run the evaluate step for it first")
        entries.append(read_json(path))
    dataset = config["data"]["dataset"]
    rows = table1_rows(entries, dataset)
    e0 = entries[0]
    notes = [
        f"Data set: {dataset} at {e0.get('resolution')} px; reference: the {e0.get('reference_split')} split; "
        f"{e0.get('n_generated')} generated vs {e0.get('n_reference')} reference images per model.",
        f"Feature extractor: {e0.get('feature_extractor')}. FID/Prec/Rec on the in-pipeline classifier's "
        "features are NOT comparable in absolute value with the paper's TF-Inception numbers; compare rows "
        "with each other.",
        f"Prec/Rec: {e0.get('precision_recall_definition')}, in percent; the paper reports the distribution "
        "precision/recall of Sajjadi et al. 2018.",
    ]
    if any(r["Paper T"] is not None for r in rows):
        notes.append("Paper columns: Deja et al. 2022, Table 1 (TF-Inception FID; Fashion-MNIST at 28 px after "
                     "100k training steps, CIFAR-10/CelebA per the paper's Table 6).")
    else:
        notes.append(f"Paper columns: Deja et al. 2022 report no {dataset} rows for this table.")
    write_table(rows, TABLE1_COLUMNS, md_path=args.out_md, csv_path=args.out_csv,
                title="Table 1: DDGM sample quality (Deja et al. 2022 layout)", notes=notes)
    get_logger().info("wrote %s and %s (%d rows)", args.out_md, args.out_csv, len(rows))
