"""Step: train one DDGM (resumable), then write its EMA weights, loss curve and summary."""

from __future__ import annotations

import json

from ..atomic import save_safetensors, write_json, write_text
from ..config import load_config, model_config
from ..data import load_processed
from ..runlog import get_logger
from ..training.ddgm import train_ddgm
from .common import file_sha256, resolve_device

NAME = "train-ddgm"
HELP = "train one DDGM of params.models (resumes from --checkpoint-dir)"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--checkpoint-dir", required=True, help="resumable checkpoints (kept across failed runs)")
    p.add_argument("--weights", required=True, help="output: EMA weights (.safetensors)")
    p.add_argument("--loss-csv", required=True, help="output: training loss curve (.csv)")
    p.add_argument("--summary", required=True, help="output: training summary (.json)")


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    tensors, meta = load_processed(args.data)
    device = resolve_device(args.device)
    result = train_ddgm(tensors["train_images"], mcfg, seed=config["seed"], checkpoint_dir=args.checkpoint_dir,
                        data_id=file_sha256(args.data), device=device)
    image_size, channels = int(tensors["train_images"].shape[-1]), int(tensors["train_images"].shape[1])
    metadata = {
        "model": args.model,
        "config": json.dumps(mcfg, sort_keys=True),
        "image_size": str(image_size),
        "channels": str(channels),
        "dataset": meta.get("dataset", ""),
        "step": str(result.steps),
        "parameters": str(result.parameters),
    }
    save_safetensors(result.ema_state, args.weights, metadata)
    write_text(args.loss_csv, "step,loss\n" + "".join(f"{h['step']},{h['loss']:.6f}\n" for h in result.history))
    write_json(args.summary, {
        "model": args.model,
        "parameters": result.parameters,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from,
        "train_seconds_this_run": round(result.seconds, 3),
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "device": device,
    })
    log.info("wrote %s (%d parameters, %d steps)", args.weights, result.parameters, result.steps)
