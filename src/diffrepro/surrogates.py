"""The surrogates of surrogate diffusion (coursework Sec. 3.2, Algorithm 4): what draws x~0 before the base DDGM's
reverse process takes over at ``t_mid`` -- an SNGAN of ``gans``, or a DDGM of ``models`` trained at a lower
``resolution`` whose samples are upsampled bilinearly to the data resolution ("DDPM-16"). The time they take is
part of the surrogate diffusion's cost."""

from __future__ import annotations

import dataclasses
import time

import torch

from .artifacts.ddgm import build_model
from .config import gan_config, model_config, surrogate_kind
from .imaging import to_data_resolution, to_uint8
from .sampling import draw_samples
from .seeding import generator

__all__ = ["draw_surrogate"]


def draw_surrogate(
    config: dict, name: str, weights: str, n: int, batch_size: int, *, seed: int, device: str
) -> tuple[torch.Tensor, float, dict[str, str]]:
    """``n`` uint8 surrogate samples at the data resolution, the seconds they took, and a description."""
    kind = surrogate_kind(config, name)
    if kind == "gan":
        from .training.gan import gan_sample, load_gan_generator

        gcfg = gan_config(config, name)
        net, meta = load_gan_generator(weights, gcfg, device)
        t0 = time.perf_counter()
        x = gan_sample(
            net,
            n,
            z_dim=gcfg.z_dim,
            batch_size=batch_size,
            generator=generator(seed, "surrogate", name),
            device=device,
        )
        images = to_uint8(x.cpu())
        seconds = time.perf_counter() - t0
        return images, seconds, {"surrogate_kind": "gan", "native_image_size": str(images.shape[-1])}
    mcfg = model_config(config, name)
    mcfg = dataclasses.replace(mcfg, sample=dataclasses.replace(mcfg.sample, num_samples=n, batch_size=batch_size))
    model, image_size, channels, meta = build_model(weights, mcfg, device)
    t0 = time.perf_counter()
    images, _ = draw_samples(
        model,
        mcfg,
        image_size,
        channels,
        seed=seed,
        stream=f"surrogate/{name}",
        device=device,
        desc=f"surrogate {name}",
        speed=config["speed"],
    )
    images = to_data_resolution(images, meta)  # bilinear upsampling, part of the surrogate's cost
    seconds = time.perf_counter() - t0
    return (
        images,
        seconds,
        {
            "surrogate_kind": "lowres",
            "native_image_size": str(image_size),
            "surrogate_timesteps": str(mcfg.timesteps),
        },
    )
