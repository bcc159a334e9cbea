"""Step: train the small classifier whose features drive the first evaluation backend."""

from __future__ import annotations

from ..atomic import write_json
from ..config import classifier_config, load_config
from ..data import UNLABELLED, load_processed
from ..errors import DiffreproError
from ..runlog import get_logger
from ..training.classifier import TIMING_KEYS, save_classifier, train_classifier


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    tensors, meta = load_processed(args.data)
    for split in ("train", "test"):
        if bool((tensors[f"{split}_labels"] < 0).any()):
            raise DiffreproError(
                f"{args.data}: data set {meta.get('dataset')!r} has no class labels ({split} split; label "
                f"{UNLABELLED} marks an unlabelled image, e.g. the van den Oord et al. downsampled ImageNet PNGs). "
                "The feature classifier (the 'classifier' metric backend, read by every evaluation rule) needs "
                "them; preparing the data, training, sampling, NLL and the Inception metrics do not. For the "
                "whole DAG use a labelled copy (for ImageNet: the Chrabaszcz et al. npz files)."
            )
    cfg = classifier_config(config)
    model, metrics = train_classifier(
        tensors["train_images"],
        tensors["train_labels"],
        tensors["test_images"],
        tensors["test_labels"],
        width=cfg.width,
        feature_dim=cfg.feature_dim,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=config["seed"],
        log=log.info,
    )
    metrics = {**metrics, "dataset": meta.get("dataset"), "resolution": meta.get("resolution")}
    save_classifier(model, args.out, metrics)
    write_json(args.metrics, {k: v for k, v in metrics.items() if k not in TIMING_KEYS})  # seconds: in the log
    log.info("classifier test accuracy %.4f; wrote %s", metrics["test_accuracy"], args.out)
