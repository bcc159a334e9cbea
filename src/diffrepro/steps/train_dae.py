"""Step: fine-tune the post-hoc DAE of one split point (Deja et al. Sec. 6.2, "first the DDGM, then the
DAE"), starting from the generator DDGM's EMA weights; resumable like every training step."""

from __future__ import annotations

import json

from ..artifacts.ddgm import load_weights, weights_metadata
from ..atomic import save_safetensors, write_json
from ..config import load_config, model_config
from ..csvio import write_csv
from ..data import load_processed
from ..devices import resolve_device
from ..hashing import file_sha256
from ..posthoc import split_metadata, split_of
from ..runlog import get_logger
from ..training.dae import train_dae
from ..training.distributed import distributed_settings, init_from_env


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    post = config["daed"]["posthoc"]
    gen_name = post["generator"]
    mcfg = model_config(config, gen_name)
    point, s = split_of(config, args.split, mcfg)
    ddgm_state, gmeta = load_weights(args.generator, mcfg)
    tensors, meta = load_processed(args.data)
    # one process, or (under torchrun, see the CLI) one of distributed.nproc_per_node, on cuda:LOCAL_RANK or the CPU
    dist = init_from_env(resolve_device(args.device), distributed_settings(config)["backend"])
    device = dist.device
    t = post["train"]
    result = train_dae(
        tensors["train_images"],
        mcfg,
        t,
        ddgm_state=ddgm_state,
        split_step=s,
        seed=config["seed"],
        checkpoint_dir=args.checkpoint_dir,
        data_id=file_sha256(args.data),
        device=device,
        speed=config.get("speed"),
        distributed=dist,
    )
    dist.shutdown()
    if not dist.is_main:  # rank 0 writes the outputs
        return
    image_size, channels = int(gmeta["image_size"]), int(gmeta["channels"])
    smeta = split_metadata(args.split, point, s, gen_name, mcfg)
    save_safetensors(
        result.ema_state,
        args.weights,
        {
            **weights_metadata(
                f"{gen_name}/dae@{args.split}", mcfg, meta, image_size, channels, result.steps, result.parameters
            ),
            **smeta,
            "posthoc_train": json.dumps(t, sort_keys=True),
        },
    )
    write_csv(args.loss_csv, ["step", "loss"], [[h["step"], f"{h['loss']:.6f}"] for h in result.history])
    write_json(
        args.summary,
        {
            "split": args.split,
            "beta_1": point,
            "split_step": s,
            "generator": gen_name,
            "timesteps": mcfg["timesteps"],
            "log_snr": float(smeta["log_snr"]),
            "parameters": result.parameters,
            "steps": result.steps,
            "resumed_from_step": result.resumed_from,
            "train_seconds_this_run": round(result.seconds, 3),
            "train_seconds_total": round(result.seconds_total, 3),
            "initial_loss": result.history[0]["loss"] if result.history else None,
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "device": device,
        },
    )
    log.info(
        "DAE %s (s=%d of T=%d, beta_1=%s): final loss %.5f -> %s",
        args.split,
        s,
        mcfg["timesteps"],
        point,
        result.history[-1]["loss"] if result.history else float("nan"),
        args.weights,
    )
