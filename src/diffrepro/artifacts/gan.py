"""Weights files of surrogate SNGANs (``train-gan``): safetensors of the EMA generator whose metadata records
what :func:`diffrepro.training.gan.load_gan_generator` checks (kind, image format, ``z_dim``, width) and the
provenance (the ``gans`` entry, the data set, the steps and the parameter count)."""

from __future__ import annotations

import json

from ..sections import thawed
from ..sections_pipeline import GANSection
from ..training.gan import WEIGHTS_KIND

__all__ = ["weights_metadata"]


def weights_metadata(
    name: str,
    gcfg: GANSection,
    data_meta: dict[str, str],
    image_size: int,
    channels: int,
    steps: int,
    parameters: int,
) -> dict[str, str]:
    """safetensors metadata of the exported generator (what ``load_gan_generator`` checks, and provenance)."""
    gcfg = thawed(gcfg)
    return {
        "kind": WEIGHTS_KIND,
        "gan": name,
        "config": json.dumps(gcfg, sort_keys=True),
        "image_size": str(image_size),
        "channels": str(channels),
        "z_dim": str(gcfg["z_dim"]),
        "width": str(gcfg["channels"]),
        "dataset": data_meta.get("dataset", ""),
        "steps": str(steps),
        "parameters": str(parameters),
    }
