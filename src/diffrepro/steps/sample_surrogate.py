"""Step: surrogate diffusion (coursework Algorithm 4) for one surrogate over the grid of t_mid.

The surrogate (a GAN of ``gans``, or a DDGM of ``models`` trained at a lower ``resolution`` whose
samples are upsampled bilinearly, "DDPM-16") draws ``surrogate.num_samples`` images once; for every
``t_mid`` in ``surrogate.t_mid`` they are noised to ``t_mid`` and the base DDGM's reverse process runs
from there (:func:`diffrepro.diffusion.surrogate.surrogate_reverse`). Samples per second count the
surrogate's time plus the diffusion's ``t_mid`` steps.
"""

from __future__ import annotations

import copy
import json
import time

import torch

from ..atomic import save_safetensors
from ..config import ConfigError, load_config, model_config, surrogate_kind
from ..diffusion.surrogate import surrogate_reverse, t_mid_steps
from ..factory import build_diffusion
from ..models.precision import with_precision
from ..reporting.figures import save_sample_grid
from ..runlog import Progress, get_logger
from ..seeding import generator
from ..training.ddgm import to_model_range
from ..training.speed import speed_network
from .common import resolve_device
from .sample import build_model, draw_samples, to_data_resolution, to_uint8

NAME = "sample-surrogate"
HELP = "surrogate diffusion: surrogate samples noised to each t_mid, then the base DDGM's reverse process"


def add_arguments(p) -> None:
    p.add_argument("--surrogate", required=True, help="surrogate name (an entry of surrogate.surrogates)")
    p.add_argument("--surrogate-weights", required=True,
                   help="the surrogate's weights (train-gan generator or the low-resolution model's EMA weights)")
    p.add_argument("--base-weights", required=True, help="EMA weights of surrogate.base_model (train-ddgm)")
    p.add_argument("--out", required=True, help="output: uint8 samples per t_mid (.safetensors)")
    p.add_argument("--grid", required=True, help="output: PNG grid of the surrogate's samples and each t_mid's")


def draw_surrogate(config: dict, name: str, weights: str, n: int, batch_size: int, *, seed: int,
                   device: str) -> tuple[torch.Tensor, float, dict[str, str]]:
    """``n`` uint8 surrogate samples at the data resolution, the seconds they took, and a description."""
    kind = surrogate_kind(config, name)
    if kind == "gan":
        from ..training.gan import gan_sample, load_gan_generator

        gcfg = config["gans"][name]
        net, meta = load_gan_generator(weights, gcfg, device)
        t0 = time.perf_counter()
        x = gan_sample(net, n, z_dim=gcfg["z_dim"], batch_size=batch_size,
                       generator=generator(seed, "surrogate", name), device=device)
        images = to_uint8(x.cpu())
        seconds = time.perf_counter() - t0
        return images, seconds, {"surrogate_kind": "gan", "native_image_size": str(images.shape[-1])}
    mcfg = copy.deepcopy(model_config(config, name))
    mcfg["sample"].update(num_samples=n, batch_size=batch_size)
    model, image_size, channels, meta = build_model(weights, mcfg, device)
    t0 = time.perf_counter()
    images, _ = draw_samples(model, mcfg, image_size, channels, seed=seed, stream=f"surrogate/{name}",
                             device=device, desc=f"surrogate {name}", speed=config.get("speed"))
    images = to_data_resolution(images, meta)  # bilinear upsampling, part of the surrogate's cost
    seconds = time.perf_counter() - t0
    return images, seconds, {"surrogate_kind": "lowres", "native_image_size": str(image_size),
                             "surrogate_timesteps": str(mcfg["timesteps"])}


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    scfg = config["surrogate"]
    if args.surrogate not in scfg["surrogates"]:
        raise ConfigError(f"--surrogate {args.surrogate!r} is not in surrogate.surrogates "
                          f"({', '.join(scfg['surrogates']) or 'none'})")
    device = resolve_device(args.device)
    n, bs, seed = scfg["num_samples"], scfg["batch_size"], config["seed"]
    x0_u8, sur_seconds, sur_meta = draw_surrogate(config, args.surrogate, args.surrogate_weights, n, bs,
                                                  seed=seed, device=device)
    base_name = scfg["base_model"]
    mcfg = model_config(config, base_name)
    model, image_size, channels, _ = build_model(args.base_weights, mcfg, device)
    if tuple(x0_u8.shape[1:]) != (channels, image_size, image_size):
        raise ValueError(f"surrogate {args.surrogate!r} gives images of shape {tuple(x0_u8.shape[1:])}, but the "
                         f"base model {base_name!r} works on {(channels, image_size, image_size)}")
    diffusion = build_diffusion(mcfg)
    network = with_precision(speed_network(model, config.get("speed")), mcfg["sample"]["precision"], device)
    T = diffusion.num_timesteps
    t_mids = t_mid_steps(scfg["t_mid"], T)
    tensors = {"surrogate_images": x0_u8}
    meta = {"surrogate": args.surrogate, "base_model": base_name, "timesteps": str(T), "num_samples": str(n),
            "t_mid": ",".join(map(str, t_mids)), "seconds_surrogate": f"{sur_seconds:.4f}", "device": device,
            "precision": mcfg["sample"]["precision"], **sur_meta}
    for t_mid in t_mids:
        gen = generator(seed, "surrogate", args.surrogate, t_mid)
        chunks = []
        t0 = time.perf_counter()
        with Progress(max(1, t_mid * ((n + bs - 1) // bs)), desc=f"{args.surrogate} t_mid={t_mid}",
                      log_every=max(1, t_mid // 4), unit="call") as bar:
            for start in range(0, n, bs):
                x0 = to_model_range(x0_u8[start:start + bs]).to(device)
                x = surrogate_reverse(diffusion, network, x0, t_mid, variance=mcfg["variance"], generator=gen,
                                      progress=lambda _i: bar.update(1))
                chunks.append(to_uint8(x.cpu()))
        diff_seconds = time.perf_counter() - t0
        tensors[f"images_tmid{t_mid}"] = torch.cat(chunks)
        total = sur_seconds + diff_seconds
        meta[f"seconds_tmid{t_mid}"] = f"{diff_seconds:.4f}"
        meta[f"samples_per_second_tmid{t_mid}"] = f"{n / total:.4f}"
        log.info("%s t_mid=%d: %d network calls per batch, %.1f s (+%.1f s surrogate), %.2f samples/s",
                 args.surrogate, t_mid, t_mid, diff_seconds, sur_seconds, n / total)
    save_safetensors(tensors, args.out, meta)
    rows = [x0_u8[:10]] + [tensors[f"images_tmid{t}"][:10] for t in t_mids]
    save_sample_grid(torch.cat(rows), args.grid, nrow=10)
    log.info("wrote %s (%s)", args.out, json.dumps({k: meta[k] for k in meta if k.startswith("samples_per")}))
