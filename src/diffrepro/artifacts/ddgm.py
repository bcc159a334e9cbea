"""Weights files of DDGMs (``train-ddgm``), joint DAEDs and post-hoc DAEs (``train-dae``): safetensors of the EMA
state dict whose metadata records the model section they were trained with (``config``), the image format
(``image_size``, ``channels``; ``data_image_size`` for a model trained below the data resolution), the data
set, the step and the parameter count. :func:`load_weights` refuses weights whose settings in
:data:`WEIGHTS_KEYS` differ from the parameter file's; :func:`build_model` returns the network ready to run.
A DDGM's snapshots (its EMA weights at the ``train.snapshots`` fractions of training, and the final ones) are
such files in one folder, named by their step (:func:`snapshot_name`, :func:`snapshot_files`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ..factory import build_unet
from ..sections import NETWORK_KEYS, ModelSection, as_model
from ..tensorfile import read

__all__ = [
    "WEIGHTS_KEYS",
    "build_model",
    "denoiser_test_error",
    "load_weights",
    "snapshot_files",
    "snapshot_name",
    "weights_metadata",
]

#: Keys of a model section that must match between the weights and params for sampling to be valid.
WEIGHTS_KEYS = NETWORK_KEYS
#: the file name of a snapshot: the training step, 8 digits
SNAPSHOT = re.compile(r"^ema_step_(\d{8})\.safetensors$")


def weights_metadata(
    name: str, mcfg: ModelSection, meta: dict[str, str], image_size: int, channels: int, step: int, parameters: int
) -> dict[str, str]:
    """The metadata of model ``name``'s weights at training step ``step`` (``meta``: the processed data set's);
    ``config`` is the model section as plain data (:meth:`~diffrepro.sections.ModelConfig.as_dict`)."""
    return {
        "model": name,
        "config": json.dumps(as_model(mcfg).as_dict(), sort_keys=True),
        "image_size": str(image_size),
        "channels": str(channels),
        "dataset": meta.get("dataset", ""),
        "step": str(step),
        "parameters": str(parameters),
    }


def load_weights(
    path: str, mcfg: ModelSection, expect: dict[str, str] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load EMA weights (content hash checked, metadata holding ``expect``) and check they were trained with this
    model configuration."""
    state, meta = read(path, expect)
    for key in ("config", "image_size", "channels"):
        if key not in meta:
            raise ValueError(f"{path}: metadata key '{key}' missing; not a train-ddgm weights file")
    trained, params = json.loads(meta["config"]), as_model(mcfg).as_dict()
    for key in WEIGHTS_KEYS:
        ours, theirs = params[key], trained.get(key)
        if key == "kind":  # weights written before joint DAEDs existed are DDGMs
            theirs = theirs or "ddgm"
        if key == "unet":  # the architecture label does not change the network
            ours = {k: v for k, v in ours.items() if k != "architecture"}
            theirs = {k: v for k, v in (theirs or {}).items() if k != "architecture"}
        if theirs != ours:
            raise ValueError(f"{path} was trained with {key}={theirs!r} but params say {ours!r}; rerun train-ddgm")
    return state, meta


def build_model(
    weights: str, mcfg: ModelSection, device: str, expect: dict[str, str] | None = None
) -> tuple[torch.nn.Module, int, int, dict[str, str]]:
    """The network of ``weights`` (checked by :func:`load_weights`) in eval mode on ``device``, with its image size,
    channels and metadata."""
    state, meta = load_weights(weights, mcfg, expect)
    image_size, channels = int(meta["image_size"]), int(meta["channels"])
    model = build_unet(mcfg, image_size=image_size, channels=channels)
    model.load_state_dict(state)
    model.to(device).eval()
    return model, image_size, channels, meta


def snapshot_name(step: int) -> str:
    """The file name of the snapshot at training step ``step`` in a snapshots folder."""
    return f"ema_step_{step:08d}.safetensors"


def snapshot_files(folder: str) -> dict[int, Path]:
    """step -> file of every snapshot in ``folder`` (written by train-ddgm), in step order."""
    found = {}
    for path in Path(folder).iterdir():
        m = SNAPSHOT.match(path.name)
        if m:
            found[int(m.group(1))] = path
    if not found:
        raise FileNotFoundError(f"{folder}: no ema_step_XXXXXXXX.safetensors files; rerun train-ddgm")
    return dict(sorted(found.items()))


def denoiser_test_error(
    mcfg: ModelSection,
    ema_state: dict[str, torch.Tensor],
    test_u8: torch.Tensor,
    split_step: int,
    seed: int,
    images: int,
) -> dict[str, Any]:
    """The reconstruction error of a trained denoiser on the first ``images`` test images
    (``daed.denoiser_test_images``) noised to its split step: ``mcfg`` is the joint DAED's section
    (``split_step`` 0) or the post-hoc DAE's generator's (the DAE keeps its generator's network), ``ema_state``
    the denoiser's EMA weights. MAE per pixel in [0, 1]. The images go through the network in batches of the
    section's sampling batch size (one batch of 256 CelebA images took 18 GB)."""
    from ..diffusion.daed import dae_test_mae
    from ..factory import build_diffusion
    from ..imaging import to_model_range
    from ..runlog import get_logger
    from ..seeding import generator

    images = test_u8[:images]
    get_logger().info(
        "the denoiser's reconstruction error on %d test images at step %d (batches of %d)",
        images.shape[0],
        split_step,
        mcfg.sample.batch_size,
    )
    model = build_unet(mcfg, image_size=int(images.shape[-1]), channels=int(images.shape[1]))
    model.load_state_dict(ema_state)
    model.eval()
    mae, sem = dae_test_mae(
        model,
        build_diffusion(mcfg),
        to_model_range(images),
        split_step,
        generator(seed, "denoiser_test_error"),
        mcfg.sample.batch_size,
    )
    return {"mae": mae, "mae_sem": sem, "images": int(images.shape[0]), "split_step": int(split_step)}
