"""Step: draw samples from a trained DDGM by ancestral sampling; record samples per second."""

from __future__ import annotations

import json
import time

import torch
from safetensors import safe_open

from ..atomic import save_safetensors
from ..config import load_config, model_config
from ..factory import build_diffusion, build_unet
from ..reporting.figures import save_sample_grid
from ..runlog import Progress, get_logger
from ..seeding import generator
from .common import resolve_device

NAME = "sample"
HELP = "sample a trained DDGM (uint8 samples + a PNG grid)"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="model name (a key of params.models)")
    p.add_argument("--weights", required=True, help="EMA weights written by train-ddgm")
    p.add_argument("--out", required=True, help="output: uint8 samples (.safetensors)")
    p.add_argument("--grid", required=True, help="output: PNG grid of the first 100 samples")


def load_weights(path: str, mcfg: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load EMA weights and check they were trained with this model configuration."""
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata() or {}
    for key in ("config", "image_size", "channels"):
        if key not in meta:
            raise ValueError(f"{path}: metadata key '{key}' missing; not a train-ddgm weights file")
    trained = json.loads(meta["config"])
    for key in ("schedule", "timesteps", "unet", "objective"):
        if trained.get(key) != mcfg.get(key):
            raise ValueError(f"{path} was trained with {key}={trained.get(key)!r} but params say {mcfg.get(key)!r}; "
                             "rerun train-ddgm")
    return load_file(path), meta


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8, quantised exactly like the real images' inverse mapping."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    scfg = mcfg["sample"]
    device = resolve_device(args.device)
    state, meta = load_weights(args.weights, mcfg)
    image_size, channels = int(meta["image_size"]), int(meta["channels"])
    model = build_unet(mcfg, image_size=image_size, channels=channels)
    model.load_state_dict(state)
    model.to(device).eval()
    diffusion = build_diffusion(mcfg)
    gen = generator(config["seed"], "sample", args.model)

    n, bs = scfg["num_samples"], scfg["batch_size"]
    chunks = []
    total_calls = diffusion.num_timesteps * ((n + bs - 1) // bs)
    t0 = time.perf_counter()
    with Progress(total_calls, desc=f"sample {args.model}", log_every=max(1, diffusion.num_timesteps // 4), unit="call") as bar:
        for start in range(0, n, bs):
            size = min(bs, n - start)
            x = diffusion.sample(model, (size, channels, image_size, image_size), variance=scfg["variance"],
                                 generator=gen, device=device, progress=lambda _i: bar.update(1))
            chunks.append(to_uint8(x.cpu()))
    seconds = time.perf_counter() - t0
    samples = torch.cat(chunks)
    rate = n / seconds
    save_safetensors({"images": samples}, args.out, {
        "model": args.model, "num_samples": str(n), "seconds": f"{seconds:.3f}",
        "samples_per_second": f"{rate:.4f}", "variance": scfg["variance"], "device": device,
        "timesteps": str(diffusion.num_timesteps),
    })
    save_sample_grid(samples, args.grid)
    log.info("sampled %d images in %.1f s (%.2f samples/s) -> %s", n, seconds, rate, args.out)
