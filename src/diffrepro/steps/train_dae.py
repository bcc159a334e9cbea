"""Step: fine-tune the post-hoc DAE of one split point (Deja et al. Sec. 6.2, "first the DDGM, then the
DAE"), starting from the generator DDGM's EMA weights; resumable like every training step."""

from __future__ import annotations

import json

from ..atomic import save_safetensors, write_json, write_text
from ..config import ConfigError, load_config, model_config, posthoc_splits
from ..data import load_processed
from ..diffusion.schedules import alphas_cumprod, log_snr, split_step
from ..factory import build_betas
from ..runlog import get_logger
from ..training.dae import train_dae
from ..training.distributed import distributed_settings, init_from_env
from .common import file_sha256, resolve_device
from .sample import load_weights
from .train_ddgm import weights_metadata

NAME = "train-dae"
HELP = "fine-tune the post-hoc DAE of one split point from the generator DDGM's weights (resumable)"


def add_arguments(p) -> None:
    p.add_argument("--split", required=True, help="split point label (b<beta_1> or linear; see daed.posthoc)")
    p.add_argument("--generator", required=True, help="the generator DDGM's EMA weights (train-ddgm output)")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--checkpoint-dir", required=True, help="resumable checkpoints (kept across failed runs)")
    p.add_argument("--weights", required=True, help="output: the DAE's EMA weights (.safetensors)")
    p.add_argument("--loss-csv", required=True, help="output: fine-tuning loss curve (.csv)")
    p.add_argument("--summary", required=True, help="output: summary (.json)")


def split_of(config: dict, label: str, mcfg: dict) -> tuple[float | str, int]:
    """(split point, 0-based split step s on the generator's schedule) of a split label."""
    splits = posthoc_splits(config)
    if label not in splits:
        raise ConfigError(f"--split {label!r} is not a split point of daed.posthoc.split_points "
                          f"(labels: {', '.join(splits) or 'none'})")
    point = splits[label]
    if point == "linear":
        return point, 0
    return point, split_step(alphas_cumprod(build_betas(mcfg)), float(point))


def split_metadata(label: str, point, s: int, generator: str, mcfg: dict) -> dict[str, str]:
    ab = alphas_cumprod(build_betas(mcfg))
    return {"split": label, "beta_1": str(point), "split_step": str(s), "generator": generator,
            "log_snr": f"{float(log_snr(ab)[s]):.6f}", "alpha_bar": f"{float(ab[s]):.8f}"}


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
    result = train_dae(tensors["train_images"], mcfg, ddgm_state=ddgm_state, split_step=s, seed=config["seed"],
                       checkpoint_dir=args.checkpoint_dir, data_id=file_sha256(args.data), device=device,
                       speed=config.get("speed"),
                       steps=t["steps"], batch_size=t["batch_size"], lr=t["lr"], ema_decay=t["ema_decay"],
                       checkpoint_every=t["checkpoint_every"], log_every=t["log_every"],
                       weight_decay=t["weight_decay"], grad_clip=t["grad_clip"], distributed=dist)
    dist.shutdown()
    if not dist.is_main:  # rank 0 writes the outputs
        return
    image_size, channels = int(gmeta["image_size"]), int(gmeta["channels"])
    smeta = split_metadata(args.split, point, s, gen_name, mcfg)
    save_safetensors(result.ema_state, args.weights, {
        **weights_metadata(f"{gen_name}/dae@{args.split}", mcfg, meta, image_size, channels, result.steps,
                           result.parameters),
        **smeta, "posthoc_train": json.dumps(t, sort_keys=True)})
    write_text(args.loss_csv, "step,loss\n" + "".join(f"{h['step']},{h['loss']:.6f}\n" for h in result.history))
    write_json(args.summary, {
        "split": args.split, "beta_1": point, "split_step": s, "generator": gen_name,
        "timesteps": mcfg["timesteps"], "log_snr": float(smeta["log_snr"]),
        "parameters": result.parameters, "steps": result.steps, "resumed_from_step": result.resumed_from,
        "train_seconds_this_run": round(result.seconds, 3), "train_seconds_total": round(result.seconds_total, 3),
        "initial_loss": result.history[0]["loss"] if result.history else None,
        "final_loss": result.history[-1]["loss"] if result.history else None, "device": device,
    })
    log.info("DAE %s (s=%d of T=%d, beta_1=%s): final loss %.5f -> %s", args.split, s, mcfg["timesteps"], point,
             result.history[-1]["loss"] if result.history else float("nan"), args.weights)
