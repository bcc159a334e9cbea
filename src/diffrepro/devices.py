"""The torch device a job runs on: ``--device auto|cpu|cuda|cuda:N`` resolved against the machine. Which GPU
``cuda`` is was settled before the step started: the ``diffrepro`` command pins a job to one GPU of
``$DIFFREPRO_GPUS`` when the local multi-GPU profile hands them out (:mod:`diffrepro.gpu_slots`)."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` when present, else ``cpu``; ``cuda...`` on a machine without CUDA is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {device} requested but CUDA is not available on this machine")
    return device
