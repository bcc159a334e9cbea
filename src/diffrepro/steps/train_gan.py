"""Step: train one surrogate SNGAN of ``gans`` (resumable), then write its EMA generator, losses, summary
and a sample grid."""

from __future__ import annotations

from ..artifacts.gan import weights_metadata
from ..atomic import write_json
from ..config import ConfigError, gan_config, load_config
from ..csvio import write_csv
from ..data import load_processed
from ..imaging import to_uint8
from ..reporting.figures import save_sample_grid
from ..runlog import get_logger
from ..seeding import generator
from ..tensorfile import save_safetensors
from ..timing import train_timing, write_timing
from ..training.gan import gan_sample, load_gan_generator, train_gan
from ..training.launch import discard_checkpoints, train_in_step

LOSS_COLUMNS = ("step", "d_loss", "g_loss", "d_real", "d_fake")


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    gans = config["gans"]
    if args.gan not in gans:
        raise ConfigError(f"--gan {args.gan!r} is not a key of gans ({', '.join(sorted(gans)) or 'none'})")
    gcfg = gan_config(config, args.gan)
    tensors, meta = load_processed(args.data)
    images = tensors["train_images"]
    trained = train_in_step(args, config, train_gan, images, gcfg)
    if trained is None:  # rank 0 writes the outputs
        return
    result, device = trained
    image_size, channels = int(images.shape[-1]), int(images.shape[1])
    save_safetensors(
        result.ema_state,
        args.weights,
        weights_metadata(args.gan, gcfg, meta, image_size, channels, result.steps, result.parameters_g),
    )
    write_csv(
        args.loss_csv,
        LOSS_COLUMNS,
        [[h["step"] if c == "step" else f"{h[c]:.6f}" for c in LOSS_COLUMNS] for h in result.history],
    )
    # the grid is drawn from the file just written: it checks the export as the surrogate step will read it
    net, _ = load_gan_generator(args.weights, gcfg, device, image_size=image_size, channels=channels)
    samples = to_uint8(
        gan_sample(
            net,
            100,
            z_dim=gcfg.z_dim,
            batch_size=100,
            generator=generator(config["seed"], "gan-grid", args.gan),
            device=device,
        )
    )
    save_sample_grid(samples, args.grid)
    last = result.history[-1] if result.history else {}
    write_timing(args.timing, f"train-gan {args.gan}", train_timing(result))
    write_json(
        args.summary,
        {
            "gan": args.gan,
            "parameters_generator": result.parameters_g,
            "parameters_discriminator": result.parameters_d,
            "z_dim": gcfg.z_dim,
            "width": gcfg.channels,
            "image_size": image_size,
            "steps": result.steps,
            "n_dis": gcfg.train.n_dis,
            **{f"final_{k}": last.get(k) for k in LOSS_COLUMNS[1:]},
            "device": device,
        },
    )
    discard_checkpoints(args.checkpoint_dir)
    log.info(
        "SNGAN %s: %d generator steps, final d_loss %.4f g_loss %.4f -> %s",
        args.gan,
        result.steps,
        last.get("d_loss", float("nan")),
        last.get("g_loss", float("nan")),
        args.weights,
    )
