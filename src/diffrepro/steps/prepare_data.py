"""Step: resolve the data set offline first, verify it and write the processed uint8 artifact."""

from __future__ import annotations

from ..config import ConfigError, load_config
from ..data import load_dataset, save_processed
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    datasets = load_config(args.params)["datasets"]
    if args.dataset not in datasets:
        raise ConfigError(
            f"{args.params}: --dataset {args.dataset!r} is not a key of datasets ({', '.join(sorted(datasets))})"
        )
    cfg = datasets[args.dataset]
    ds = load_dataset(cfg["dataset"], root=cfg["root"], download=cfg["download"], download_dir=args.download_dir)
    log.info("loaded %s from %s", ds.name, ds.source)
    for name, split in ds.splits.items():
        log.info("  %s: %s uint8 images, %d labels", name, tuple(split.images.shape), len(split.labels))
    for fname, md5 in sorted(ds.checksums.items()):
        log.info("  verified md5 %s  %s", md5, fname)
    save_processed(args.out, ds, cfg["resolution"])
    log.info("wrote %s (resolution %s)", args.out, cfg["resolution"] or "native")
