"""Step: draw samples from a trained DDGM with its configured reverse sampler (ancestral over all T
steps, respaced ancestral or DDIM on K steps); record samples per second."""

from __future__ import annotations

import json
import time

import torch
from safetensors import safe_open

from ..atomic import save_safetensors
from ..config import load_config, model_config
from ..data.processed import resize_images
from ..diffusion.samplers import check_steps, generate
from ..factory import build_diffusion, build_unet
from ..models.precision import with_precision
from ..reporting.figures import save_sample_grid
from ..runlog import Progress, get_logger
from ..seeding import generator
from ..training.speed import speed_network
from .common import resolve_device

NAME = "sample"
HELP = "sample a trained DDGM (uint8 samples + a PNG grid)"

#: Keys of a model section that must match between the weights and params for sampling to be valid.
WEIGHTS_KEYS = ("kind", "schedule", "timesteps", "unet", "objective", "variance", "resolution")


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
    for key in WEIGHTS_KEYS:
        ours, theirs = mcfg.get(key), trained.get(key)
        if key == "kind":  # weights written before joint DAEDs existed are DDGMs
            ours, theirs = ours or "ddgm", theirs or "ddgm"
        if key == "unet":  # the architecture label does not change the network
            ours = {k: v for k, v in (ours or {}).items() if k != "architecture"}
            theirs = {k: v for k, v in (theirs or {}).items() if k != "architecture"}
        if theirs != ours:
            raise ValueError(f"{path} was trained with {key}={theirs!r} but params say {ours!r}; rerun train-ddgm")
    return load_file(path), meta


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8, quantised exactly like the real images' inverse mapping."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_data_resolution(samples: torch.Tensor, meta: dict[str, str]) -> torch.Tensor:
    """Samples of a model trained at a lower ``resolution`` (DDPM-16) upsampled bilinearly to the data
    resolution recorded in its weights (``data_image_size``); other samples unchanged."""
    target = int(meta.get("data_image_size", samples.shape[-1]))
    if target == samples.shape[-1]:
        return samples
    return torch.from_numpy(resize_images(samples.numpy(), target))


def build_model(weights: str, mcfg: dict, device: str):
    state, meta = load_weights(weights, mcfg)
    image_size, channels = int(meta["image_size"]), int(meta["channels"])
    model = build_unet(mcfg, image_size=image_size, channels=channels)
    model.load_state_dict(state)
    model.to(device).eval()
    return model, image_size, channels, meta


def draw_samples(model, mcfg: dict, image_size: int, channels: int, *, seed: int, stream: str, device: str,
                 desc: str, on_state=None, speed: dict | None = None) -> tuple[torch.Tensor, float]:
    """``num_samples`` uint8 samples with the model's sampler and precision (``sample.precision``);
    returns (samples, seconds). ``on_state(t, x_t)`` sees every batch's reverse-process states
    (ancestral only; batches in order). ``speed``: the params' speed switches (:mod:`..training.speed`)."""
    scfg = mcfg["sample"]
    diffusion = build_diffusion(mcfg)
    network = with_precision(speed_network(model, speed), scfg["precision"], device)
    steps = check_steps(diffusion.num_timesteps, scfg["steps"])
    gen = generator(seed, "sample", stream)
    n, bs = scfg["num_samples"], scfg["batch_size"]
    chunks = []
    total_calls = steps * ((n + bs - 1) // bs)
    t0 = time.perf_counter()
    with Progress(total_calls, desc=desc, log_every=max(1, steps // 4), unit="call") as bar:
        for start in range(0, n, bs):
            size = min(bs, n - start)
            x = generate(diffusion, network, (size, channels, image_size, image_size), method=scfg["method"],
                         variance=mcfg["variance"], steps=scfg["steps"], eta=scfg["eta"], generator=gen,
                         device=device, progress=lambda _i: bar.update(1), on_state=on_state)
            chunks.append(to_uint8(x.cpu()))
    return torch.cat(chunks), time.perf_counter() - t0


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    scfg = mcfg["sample"]
    device = resolve_device(args.device)
    model, image_size, channels, meta = build_model(args.weights, mcfg, device)
    samples, seconds = draw_samples(model, mcfg, image_size, channels, seed=config["seed"], stream=args.model,
                                    device=device, desc=f"sample {args.model}", speed=config.get("speed"))
    samples = to_data_resolution(samples, meta)
    n = samples.shape[0]
    rate = n / seconds
    steps = check_steps(mcfg["timesteps"], scfg["steps"])
    save_safetensors({"images": samples}, args.out, {
        "model": args.model, "num_samples": str(n), "seconds": f"{seconds:.3f}",
        "samples_per_second": f"{rate:.4f}", "seconds_per_sample": f"{seconds / n:.6f}",
        "batch_size": str(scfg["batch_size"]), "precision": scfg["precision"],
        "variance": mcfg["variance"], "device": device,
        "timesteps": str(mcfg["timesteps"]), "method": scfg["method"], "steps": str(steps),
        "native_image_size": str(image_size),
        "eta": str(scfg["eta"]),
    })
    save_sample_grid(samples, args.grid)
    log.info("sampled %d images in %.1f s (%.2f samples/s, %s, %d steps) -> %s", n, seconds, rate,
             scfg["method"], steps, args.out)
