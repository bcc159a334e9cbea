"""Arguments and helpers shared by the step commands."""

from __future__ import annotations

import argparse
import hashlib
import importlib

import torch


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--log", default=None, help="append the step's log to this file")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: $OMP_NUM_THREADS, which Snakemake sets to the rule's threads, else all cores)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")


def resolve_device(device: str) -> str:
    if device in ("auto", "cuda"):
        # one GPU of $DIFFREPRO_GPUS for this job (local-gpus profile), else nothing. Imported by name:
        # which GPU runs a step changes no result, so the module stays out of the steps' code deps.
        importlib.import_module("diffrepro.gpu_slots").pin_gpus()
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
