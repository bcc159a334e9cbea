"""Reference features: one backend's features of the real images of one data set, split and
resolution, computed once by the ``reference-features`` step and read by every evaluation.

A safetensors file: one float32 tensor per role (``pool``, ``spatial``, ``logits``) and metadata naming
the backend, the weights' SHA-256, the data set, split, resolution and image count.  Reading it checks
that it was made with the weights the evaluation uses (never unpickled: it may come from a DVC remote).
"""

from __future__ import annotations

from typing import Any

import torch

from ..tensorfile import save_safetensors

__all__ = ["save_reference", "load_reference", "REFERENCE_KEYS"]

REFERENCE_KEYS = ("backend", "weights_sha256", "dataset", "split", "resolution", "images")


def save_reference(path: str, features: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    missing = [k for k in REFERENCE_KEYS if k not in meta]
    if missing:
        raise ValueError(f"reference metadata lacks {missing}")
    save_safetensors(
        {k: v.contiguous() for k, v in features.items()}, path, metadata={k: str(v) for k, v in meta.items()}
    )


def load_reference(path: str, *, backend: str, weights_sha256: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The features and metadata of a reference file; errors name the file and the mismatch."""
    from ..tensorfile import read

    try:
        features, meta = read(path)  # content hash checked
    except FileNotFoundError:
        raise FileNotFoundError(f"reference features not found: {path!r} (run the reference-features step)") from None
    missing = [k for k in REFERENCE_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{path}: metadata {missing} missing; not a reference-features output")
    if meta["backend"] != backend:
        raise ValueError(f"{path}: holds {meta['backend']!r} features, expected {backend!r}")
    if meta["weights_sha256"] != weights_sha256:
        raise ValueError(
            f"{path}: made with {backend} weights {meta['weights_sha256'][:16]}..., but the weights "
            f"now are {weights_sha256[:16]}...; rerun reference-features"
        )
    if "pool" not in features or features["pool"].ndim != 2:
        raise ValueError(f"{path}: no [N, D] 'pool' features")
    return features, meta
