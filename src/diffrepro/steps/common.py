"""Arguments and helpers shared by the step commands."""

from __future__ import annotations

import argparse
import hashlib

import torch


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--log", default=None, help="append the step's log to this file")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: $OMP_NUM_THREADS, which Snakemake sets to the rule's threads, else all cores)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {device} requested but CUDA is not available on this machine")
    return device


def apply_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def add_metric_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs of every step that measures samples: both backends' weights and the reference features."""
    parser.add_argument("--classifier", required=True, help="in-pipeline classifier weights (classifier backend)")
    parser.add_argument("--inception", required=True, help="converted FID Inception weights (inception backend)")
    parser.add_argument("--references", required=True,
                        help="folder of reference-features files, <backend>.safetensors for each evaluation.backends")


def make_evaluator(args, config: dict, device: str, log):
    """An Evaluator over evaluation.backends, each backend loaded once with its reference features."""
    import os

    from ..evaluation.evaluator import Evaluator

    weights = {"classifier": args.classifier, "inception": args.inception}
    references = {b: os.path.join(args.references, f"{b}.safetensors") for b in config["evaluation"]["backends"]}
    return Evaluator(config, weights, references, device=device, log=log)


def dataset_of(evaluator) -> dict:
    """What the reference features were made of (data set, split, resolution)."""
    meta = evaluator.reference_meta[evaluator.primary]
    return {"dataset": meta["dataset"], "resolution": int(meta["resolution"]), "reference_split": meta["split"]}
