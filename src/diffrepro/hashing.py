"""SHA-256, the one set of hashing helpers of the package: of files (the data set a training run's fingerprint
includes, the metric backends' weights the reference features were made with, the converted Inception weights),
of tensors (the weights a fine-tuning run starts from) and of JSON-serialisable settings (a run's fingerprint).
Each is a hex digest that depends on the content only."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["file_sha256", "json_sha256", "tensors_sha256"]

#: bytes read per chunk (files are hashed without loading them whole)
CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def json_sha256(obj: Any) -> str:
    """Hex SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces): a stable hash of settings."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Hex SHA-256 over the names, dtypes, shapes and bytes of a state dict's tensors, in name order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        v = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{v.dtype}|{tuple(v.shape)}|".encode())
        digest.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
