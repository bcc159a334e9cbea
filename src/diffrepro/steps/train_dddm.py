"""Step: train one DDDM run (one loss metric of ``dddm.runs``; resumable), then write its EMA weights,
loss curve and summary."""

from __future__ import annotations

import json
from typing import Any

import torch

from ..atomic import save_safetensors, write_json, write_text
from ..config import ConfigError, load_config
from ..data import load_processed
from ..diffusion.dddm_losses import normalize_metric
from ..runlog import get_logger
from ..training.dddm import train_dddm
from ..training.distributed import distributed_settings, init_from_env
from .common import file_sha256, resolve_device

NAME = "train-dddm"
HELP = "train one DDDM run of params.dddm.runs (resumes from --checkpoint-dir)"

#: keys of the dddm section that must match between weights and params for sampling
WEIGHTS_KEYS = ("timesteps", "schedule", "unet")


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, help="run name (a key of params.dddm.runs)")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--checkpoint-dir", required=True,
                   help="resumable checkpoints and the x_bar store (kept across failed runs)")
    p.add_argument("--weights", required=True, help="output: EMA weights (.safetensors)")
    p.add_argument("--loss-csv", required=True, help="output: training loss curve (.csv: step, epoch, w, loss)")
    p.add_argument("--summary", required=True, help="output: training summary (.json)")


def dddm_run(config: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config["dddm"], config["dddm"]["runs"][name])``; a clear error naming the runs otherwise."""
    dddm = config.get("dddm")
    if not dddm:
        raise ConfigError("the parameter file has no dddm section")
    if name not in dddm["runs"]:
        raise ConfigError(f"unknown DDDM run {name!r}: params define dddm.runs {', '.join(sorted(dddm['runs']))}")
    return dddm, dddm["runs"][name]


def network_config(dddm: dict[str, Any]) -> dict[str, Any]:
    """What fixes the network and its time axis (checked again when sampling)."""
    return {k: dddm[k] for k in WEIGHTS_KEYS}


def weights_metadata(run: str, dddm: dict[str, Any], run_cfg: dict[str, Any], data_meta: dict[str, str],
                     image_size: int, channels: int, steps: int, parameters: int, reportable: bool,
                     images_used: int) -> dict[str, str]:
    return {
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


def load_dddm_weights(path: str, run: str, dddm: dict[str, Any], run_cfg: dict[str, Any]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """EMA weights of ``run`` (safetensors only), checked against the parameter file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    if meta.get("kind") != "dddm":
        raise ConfigError(f"{path} is not a train-dddm weights file (metadata kind={meta.get('kind')!r})")
    if meta.get("run") != run:
        raise ConfigError(f"{path} holds DDDM run {meta.get('run')!r}, not {run!r}")
    if json.loads(meta["metric"]) != normalize_metric(run_cfg["metric"]):
        raise ConfigError(f"{path} was trained with metric {meta['metric']} but params say "
                          f"{json.dumps(normalize_metric(run_cfg['metric']), sort_keys=True)}; rerun train-dddm")
    trained, ours = json.loads(meta["config"]), json.loads(json.dumps(network_config(dddm)))
    for key in WEIGHTS_KEYS:
        a, b = trained.get(key), ours.get(key)
        if key == "unet":  # the architecture label does not change the network
            a = {k: v for k, v in (a or {}).items() if k != "architecture"}
            b = {k: v for k, v in (b or {}).items() if k != "architecture"}
        if a != b:
            raise ConfigError(f"{path} was trained with dddm.{key}={a!r} but params say {b!r}; rerun train-dddm")
    return load_file(path), meta


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    dddm, run_cfg = dddm_run(config, args.run)
    tensors, meta = load_processed(args.data)
    # one process, or (under torchrun, see the CLI) one of distributed.nproc_per_node, on cuda:LOCAL_RANK or the CPU
    dist = init_from_env(resolve_device(args.device), distributed_settings(config)["backend"])
    device = dist.device
    images = tensors["train_images"]
    result = train_dddm(images, dddm, run_cfg, seed=config["seed"], checkpoint_dir=args.checkpoint_dir,
                        data_id=file_sha256(args.data), device=device, speed=config.get("speed"), distributed=dist)
    dist.shutdown()
    if not dist.is_main:  # rank 0 writes the outputs
        return
    image_size, channels = int(images.shape[-1]), int(images.shape[1])
    save_safetensors(result.ema_state, args.weights,
                     weights_metadata(args.run, dddm, run_cfg, meta, image_size, channels, result.steps,
                                      result.parameters, result.reportable, result.images_used))
    write_text(args.loss_csv, "step,epoch,w,loss\n" + "".join(
        f"{h['step']},{h['epoch']},{h['w']:.6f},{h['loss']:.6f}\n" for h in result.history))
    seconds_per_step = result.seconds_total / result.steps if result.steps else None
    steps_this_run = result.steps - result.resumed_from
    write_json(args.summary, {
        "run": args.run,
        "metric": normalize_metric(run_cfg["metric"]),
        "reportable": result.reportable,
        "parameters": result.parameters,
        "steps": result.steps,
        "epochs": dddm["train"]["epochs"],
        "images_used": result.images_used,
        "store_dtype": dddm["train"]["store_dtype"],
        "precision": dddm["train"]["precision"],
        "resumed_from_step": result.resumed_from,
        "train_seconds_this_run": round(result.seconds, 3),
        "train_seconds_total": round(result.seconds_total, 3),
        "seconds_per_step": None if seconds_per_step is None else round(seconds_per_step, 6),
        "steps_per_second_this_run": (round(steps_this_run / result.seconds, 4)
                                      if steps_this_run and result.seconds else None),
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "device": device,
    })
    log.info("wrote %s (DDDM run %s, %d parameters, %d steps%s)", args.weights, args.run, result.parameters,
             result.steps, "" if result.reportable else ", NOT REPORTABLE")
