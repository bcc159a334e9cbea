"""Step: train one DDGM (resumable), then write its EMA weights, loss curves, snapshots and summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..atomic import save_safetensors, write_json, write_text
from ..config import load_config, model_config
from ..data import load_processed
from ..data.processed import resize_images
from ..runlog import get_logger
from ..training.ddgm import train_ddgm
from ..training.distributed import distributed_settings, init_from_env
from .common import file_sha256, resolve_device

NAME = "train-ddgm"
HELP = "train one DDGM of params.models (resumes from --checkpoint-dir)"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--checkpoint-dir", required=True, help="resumable checkpoints (kept across failed runs)")
    p.add_argument("--weights", required=True, help="output: EMA weights (.safetensors)")
    p.add_argument("--snapshots", required=True,
                   help="output folder: EMA weights at the train.snapshots fractions, plus the final ones")
    p.add_argument("--loss-csv", required=True, help="output: training loss curve (.csv)")
    p.add_argument("--loss-by-t-csv", required=True, help="output: training loss per timestep bucket over time (.csv)")
    p.add_argument("--summary", required=True, help="output: training summary (.json)")


def weights_metadata(name: str, mcfg: dict, meta: dict, image_size: int, channels: int, step: int,
                     parameters: int) -> dict[str, str]:
    return {
        "model": name,
        "config": json.dumps(mcfg, sort_keys=True),
        "image_size": str(image_size),
        "channels": str(channels),
        "dataset": meta.get("dataset", ""),
        "step": str(step),
        "parameters": str(parameters),
    }


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    tensors, meta = load_processed(args.data)
    # one process, or (under torchrun, see the CLI) one of distributed.nproc_per_node, on cuda:LOCAL_RANK or the CPU
    dist = init_from_env(resolve_device(args.device), distributed_settings(config)["backend"])
    device = dist.device
    images = tensors["train_images"]
    data_size = int(images.shape[-1])
    if mcfg.get("resolution"):  # DDPM-16 style: train at a lower resolution
        images = torch.from_numpy(resize_images(images.numpy(), mcfg["resolution"]))
        log.info("%s: training at %dx%d (data at %dx%d)", args.model, mcfg["resolution"], mcfg["resolution"],
                 data_size, data_size)
    result = train_ddgm(images, mcfg, seed=config["seed"], checkpoint_dir=args.checkpoint_dir,
                        data_id=file_sha256(args.data), device=device, speed=config.get("speed"), distributed=dist)
    dist.shutdown()
    if not dist.is_main:  # rank 0 writes the outputs
        return
    image_size, channels = int(images.shape[-1]), int(images.shape[1])

    def metadata(step: int) -> dict[str, str]:
        md = weights_metadata(args.model, mcfg, meta, image_size, channels, step, result.parameters)
        if image_size != data_size:
            md["data_image_size"] = str(data_size)
        return md

    save_safetensors(result.ema_state, args.weights, metadata(result.steps))

    # snapshots: copied from the checkpoint folder (written during training), stamped with the
    # model metadata; the final EMA weights close the series
    out = Path(args.snapshots)
    tmp = out.with_name(out.name + ".incomplete")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    from safetensors.torch import load_file

    for step, path in sorted(result.snapshots.items()):
        save_safetensors(load_file(str(path)), tmp / f"ema_step_{step:08d}.safetensors", metadata(step))
    save_safetensors(result.ema_state, tmp / f"ema_step_{result.steps:08d}.safetensors", metadata(result.steps))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)

    write_text(args.loss_csv, "step,loss\n" + "".join(f"{h['step']},{h['loss']:.6f}\n" for h in result.history))
    rows = ["step,bucket,t_first,t_last,loss,count\n"]
    for h in result.bucket_history:
        loss = "" if h["loss"] is None else f"{h['loss']:.6f}"
        rows.append(f"{h['step']},{h['bucket']},{h['t_first']},{h['t_last']},{loss},{h['count']}\n")
    write_text(args.loss_by_t_csv, "".join(rows))
    # train time over all runs that made these weights (resumed runs add up), per step
    seconds_per_step = result.seconds_total / result.steps if result.steps else None
    write_json(args.summary, {
        "model": args.model,
        "parameters": result.parameters,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from,
        "train_seconds_this_run": round(result.seconds, 3),
        "train_seconds_total": round(result.seconds_total, 3),
        "seconds_per_step": None if seconds_per_step is None else round(seconds_per_step, 6),
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "objective": mcfg["objective"]["name"],
        "timestep_sampler": mcfg["timestep_sampler"]["name"],
        "snapshot_steps": sorted(result.snapshots) + ([] if result.steps in result.snapshots else [result.steps]),
        "device": device,
    })
    log.info("wrote %s (%d parameters, %d steps)", args.weights, result.parameters, result.steps)
