"""The inputs every step that measures samples shares: both metric backends' weights and the reference
features, and the Evaluator built from them (a helper module, not a step)."""

from __future__ import annotations

import argparse
import os

from ..evaluation.evaluator import Evaluator


def add_metric_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs of every step that measures samples: both backends' weights and the reference features."""
    parser.add_argument("--classifier", required=True, help="in-pipeline classifier weights (classifier backend)")
    parser.add_argument("--inception", required=True, help="converted FID Inception weights (inception backend)")
    parser.add_argument("--references", required=True,
                        help="folder of reference-features files, <backend>.safetensors for each evaluation.backends")


def make_evaluator(args, config: dict, device: str, log):
    """An Evaluator over evaluation.backends, each backend loaded once with its reference features."""
    weights = {"classifier": args.classifier, "inception": args.inception}
    references = {b: os.path.join(args.references, f"{b}.safetensors") for b in config["evaluation"]["backends"]}
    return Evaluator(config, weights, references, device=device, log=log)


def dataset_of(evaluator) -> dict:
    """What the reference features were made of (data set, split, resolution)."""
    meta = evaluator.reference_meta[evaluator.primary]
    return {"dataset": meta["dataset"], "resolution": int(meta["resolution"]), "reference_split": meta["split"]}
