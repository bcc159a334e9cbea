"""Step: train one surrogate SNGAN of ``gans`` (resumable), then write its EMA generator, losses, summary
and a sample grid."""

from __future__ import annotations

import json

from ..atomic import save_safetensors, write_json, write_text
from ..config import ConfigError, load_config
from ..data import load_processed
from ..reporting.figures import save_sample_grid
from ..runlog import get_logger
from ..seeding import generator
from ..training.gan import WEIGHTS_KIND, gan_sample, load_gan_generator, train_gan
from ..training.distributed import distributed_settings, init_from_env
from .common import file_sha256, resolve_device
from .sample import to_uint8

NAME = "train-gan"
LOSS_COLUMNS = ("step", "d_loss", "g_loss", "d_real", "d_fake")
HELP = "train one SNGAN of params.gans (the surrogate of surrogate diffusion; resumes from --checkpoint-dir)"


def add_arguments(p) -> None:
    p.add_argument("--gan", required=True, help="GAN name (a key of params.gans)")
    p.add_argument("--data", required=True, help="processed data set (.safetensors)")
    p.add_argument("--checkpoint-dir", required=True, help="resumable checkpoints (kept across failed runs)")
    p.add_argument("--weights", required=True, help="output: the EMA generator (.safetensors)")
    p.add_argument("--loss-csv", required=True, help="output: losses per log interval (.csv)")
    p.add_argument("--summary", required=True, help="output: summary (.json)")
    p.add_argument("--grid", required=True, help="output: PNG grid of 100 samples of the EMA generator")


def weights_metadata(name: str, gcfg: dict, data_meta: dict, image_size: int, channels: int, steps: int,
                     parameters: int) -> dict[str, str]:
    """safetensors metadata of the exported generator (what ``load_gan_generator`` checks, and provenance)."""
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


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    gans = config.get("gans", {})
    if args.gan not in gans:
        raise ConfigError(f"--gan {args.gan!r} is not a key of gans ({', '.join(sorted(gans)) or 'none'})")
    gcfg = gans[args.gan]
    tensors, meta = load_processed(args.data)
    images = tensors["train_images"]
    # one process, or (under torchrun, see the CLI) one of distributed.nproc_per_node, on cuda:LOCAL_RANK or the CPU
    dist = init_from_env(resolve_device(args.device), distributed_settings(config)["backend"])
    device = dist.device
    result = train_gan(images, gcfg, seed=config["seed"], checkpoint_dir=args.checkpoint_dir,
                       data_id=file_sha256(args.data), device=device, speed=config.get("speed"), distributed=dist)
    dist.shutdown()
    if not dist.is_main:  # rank 0 writes the outputs
        return
    image_size, channels = int(images.shape[-1]), int(images.shape[1])
    save_safetensors(result.ema_state, args.weights,
                     weights_metadata(args.gan, gcfg, meta, image_size, channels, result.steps, result.parameters_g))
    write_text(args.loss_csv, ",".join(LOSS_COLUMNS) + "\n" + "".join(
        ",".join(str(h["step"]) if c == "step" else f"{h[c]:.6f}" for c in LOSS_COLUMNS) + "\n"
        for h in result.history))
    # the grid is drawn from the file just written: it checks the export as the surrogate step will read it
    net, _ = load_gan_generator(args.weights, gcfg, device, image_size=image_size, channels=channels)
    samples = to_uint8(gan_sample(net, 100, z_dim=gcfg["z_dim"], batch_size=100,
                                  generator=generator(config["seed"], "gan-grid", args.gan), device=device))
    save_sample_grid(samples, args.grid)
    last = result.history[-1] if result.history else {}
    write_json(args.summary, {
        "gan": args.gan, "parameters_generator": result.parameters_g, "parameters_discriminator": result.parameters_d,
        "z_dim": gcfg["z_dim"], "width": gcfg["channels"], "image_size": image_size,
        "steps": result.steps, "n_dis": gcfg["train"]["n_dis"], "resumed_from_step": result.resumed_from,
        "train_seconds_this_run": round(result.seconds, 3), "train_seconds_total": round(result.seconds_total, 3),
        "seconds_per_step": round(result.seconds_total / result.steps, 6) if result.steps else None,
        **{f"final_{k}": last.get(k) for k in LOSS_COLUMNS[1:]}, "device": device,
    })
    log.info("SNGAN %s: %d generator steps, final d_loss %.4f g_loss %.4f -> %s", args.gan, result.steps,
             last.get("d_loss", float("nan")), last.get("g_loss", float("nan")), args.weights)
