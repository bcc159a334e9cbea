"""Weights files of DDDM runs (``train-dddm``): safetensors of the EMA state dict whose metadata records the run,
its loss metric, the network settings of the ``dddm`` section (:data:`WEIGHTS_KEYS`), the training settings,
the image format and whether the run is reportable (not trained with a random-backbone LPIPS).
:func:`load_dddm_weights` refuses weights of another run, metric or network; :func:`build_dddm_model` returns
the network ready to sample."""

from __future__ import annotations

import json

import torch

from ..config import ConfigError
from ..diffusion.dddm import build_dddm_unet
from ..diffusion.dddm_losses import normalize_metric
from ..schema import apply_defaults, without_defaults
from ..sections import thawed
from ..sections_pipeline import DDDMRunSection, DDDMSection

__all__ = [
    "WEIGHTS_KEYS",
    "build_dddm_model",
    "load_dddm_weights",
    "network_config",
    "num_classes",
    "weights_metadata",
]

#: keys of the dddm section that must match between weights and params for sampling
WEIGHTS_KEYS = ("timesteps", "schedule", "unet", "conditioning")


def network_config(dddm: DDDMSection) -> dict[str, object]:
    """What fixes the network and its time axis (checked again when sampling); ``unet`` less the keys at their
    default and ``conditioning`` only when it is not ``concat`` (as the presets write them, so the metadata of
    their weights stays as it was)."""
    dddm = thawed(dddm)
    network = {k: without_defaults(dddm[k], "dddm.unet") if k == "unet" else dddm.get(k) for k in WEIGHTS_KEYS}
    if network["conditioning"] in (None, "concat"):  # as before the choice existed: the weights' bytes stay
        del network["conditioning"]
    return network


def weights_metadata(
    run: str,
    dddm: DDDMSection,
    run_cfg: DDDMRunSection,
    data_meta: dict[str, str],
    image_size: int,
    channels: int,
    steps: int,
    parameters: int,
    reportable: bool,
    images_used: int,
    num_classes: int = 0,
) -> dict[str, str]:
    """The metadata of DDDM run ``run``'s weights after ``steps`` training steps (the sections as plain data);
    ``num_classes`` of a class-conditional run (recorded only then: an unconditional run's metadata is as it
    was)."""
    dddm, run_cfg = thawed(dddm), thawed(run_cfg)
    return {
        **({"num_classes": str(num_classes)} if num_classes else {}),
        "kind": "dddm",
        "run": run,
        "metric": json.dumps(normalize_metric(run_cfg["metric"]), sort_keys=True),
        "config": json.dumps(network_config(dddm), sort_keys=True),
        "train": json.dumps(dddm["train"], sort_keys=True),
        "image_size": str(image_size),
        "channels": str(channels),
        "timesteps": str(dddm["timesteps"]),
        "steps": str(steps),
        "parameters": str(parameters),
        "reportable": "true" if reportable else "false",
        "images_used": str(images_used),
        "dataset": data_meta.get("dataset", ""),
    }


def load_dddm_weights(
    path: str, run: str, dddm: DDDMSection, run_cfg: DDDMRunSection
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """EMA weights of ``run`` (safetensors only), checked against the parameter file."""
    run_cfg = thawed(run_cfg)
    from ..tensorfile import read

    state, meta = read(path)  # content hash checked
    if meta.get("kind") != "dddm":
        raise ConfigError(f"{path} is not a train-dddm weights file (metadata kind={meta.get('kind')!r})")
    if meta.get("run") != run:
        raise ConfigError(f"{path} holds DDDM run {meta.get('run')!r}, not {run!r}")
    if json.loads(meta["metric"]) != normalize_metric(run_cfg["metric"]):
        raise ConfigError(
            f"{path} was trained with metric {meta['metric']} but params say "
            f"{json.dumps(normalize_metric(run_cfg['metric']), sort_keys=True)}; rerun train-dddm"
        )
    trained, ours = json.loads(meta["config"]), json.loads(json.dumps(network_config(dddm)))
    for key in WEIGHTS_KEYS:
        a, b = trained.get(key), ours.get(key)
        if key == "conditioning":
            a, b = a or "concat", b or "concat"
        if key == "unet":  # with every default; the architecture label does not change the network
            a = {k: v for k, v in apply_defaults(dict(a or {}), "dddm.unet").items() if k != "architecture"}
            b = {k: v for k, v in apply_defaults(dict(b or {}), "dddm.unet").items() if k != "architecture"}
        if a != b:
            raise ConfigError(f"{path} was trained with dddm.{key}={a!r} but params say {b!r}; rerun train-dddm")
    conditional = bool(run_cfg.get("class_conditional"))
    if conditional != ("num_classes" in meta):
        raise ConfigError(
            f"{path} holds a {'class-conditional' if 'num_classes' in meta else 'unconditional'} network but "
            f"dddm.runs.{run}.class_conditional is {str(conditional).lower()}; rerun train-dddm"
        )
    return state, meta


def num_classes(meta: dict[str, str]) -> int:
    """The classes a DDDM's weights are conditioned on (0: unconditional), from their metadata."""
    value = meta.get("num_classes", "0")
    if not value.isdigit() or int(value) == 1:
        raise ConfigError(f"DDDM weights metadata num_classes={value!r} is not a class count (0 or at least 2)")
    return int(value)


def build_dddm_model(
    path: str, run: str, dddm: DDDMSection, run_cfg: DDDMRunSection, device: str
) -> tuple[torch.nn.Module, dict[str, str]]:
    """The network of run ``run``'s weights (checked by :func:`load_dddm_weights`) in eval mode on ``device``, and
    the weights' metadata."""
    state, meta = load_dddm_weights(path, run, dddm, run_cfg)
    dddm = thawed(dddm)
    model = build_dddm_unet(
        dddm["unet"],
        image_size=int(meta["image_size"]),
        channels=int(meta["channels"]),
        conditioning=dddm.get("conditioning", "concat"),
        num_classes=num_classes(meta),
    )
    model.load_state_dict(state)
    model.to(device).eval()
    return model, meta
