"""The surrogates of surrogate diffusion (coursework Sec. 3.2, Algorithm 4): what draws x~0 before the base DDGM's
reverse process takes over at ``t_mid`` -- an SNGAN of ``gans``, or a DDGM of ``models`` trained at a lower
``resolution`` ("DDPM-16", Sec. 4.6) that runs only its steps from T down to ``t_mid`` and whose estimate of the
data there is upsampled bilinearly to the data resolution. The time they take is part of the surrogate
diffusion's cost."""

from __future__ import annotations

import time

import torch

from .artifacts.ddgm import build_model
from .config import gan_config, model_config, surrogate_config, surrogate_kind
from .diffusion.surrogate import lowres_handover, surrogate_chain
from .factory import build_diffusion
from .imaging import to_data_resolution, to_uint8
from .models.precision import with_precision
from .runlog import Progress
from .seeding import generator
from .training.speed import speed_network

__all__ = ["draw_surrogate", "draws_per_t_mid"]


def draws_per_t_mid(config: dict, name: str) -> bool:
    """Whether the surrogate ``name`` draws anew for each hand-over step (a low-resolution DDGM) or once (a GAN)."""
    return surrogate_kind(config, name) == "lowres"


def draw_surrogate(
    config: dict,
    name: str,
    weights: str,
    n: int,
    batch_size: int,
    *,
    seed: int,
    device: str,
    t_mid: int | None = None,
) -> tuple[torch.Tensor, float, dict[str, str]]:
    """``n`` uint8 surrogate samples ``x~0`` at the data resolution, the seconds they took, and a description.
    A GAN's samples are the same for every ``t_mid`` (drawn once); a low-resolution DDGM's are its hand-over
    estimate at ``t_mid`` (``T - t_mid`` of its steps)."""
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
    images, seconds, size = _lowres_handover(config, name, weights, n, batch_size, t_mid, seed=seed, device=device)
    description = {"surrogate_kind": "lowres", "native_image_size": str(size)}
    return images, seconds, {**description, "surrogate_timesteps": str(model_config(config, name).timesteps)}


def _lowres_handover(
    config: dict, name: str, weights: str, n: int, batch_size: int, t_mid: int | None, *, seed: int, device: str
) -> tuple[torch.Tensor, float, int]:
    """The low-resolution DDGM's ``x~0`` for hand-over at ``t_mid`` (its steps ``T - 1 .. t_mid`` only,
    :func:`~diffrepro.diffusion.surrogate.lowres_handover`; those of them on ``surrogate.steps``' respaced chain when
    it is set), upsampled bilinearly to the data resolution; the
    same noise stream for every ``t_mid``, so the chains of two hand-over steps share their first steps."""
    if t_mid is None:
        raise ValueError(f"surrogate {name!r} is a low-resolution DDGM: its samples depend on the hand-over step t_mid")
    mcfg = model_config(config, name)
    model, image_size, channels, meta = build_model(weights, mcfg, device)
    diffusion = build_diffusion(mcfg)
    network = with_precision(speed_network(model, config["speed"]), mcfg.sample.precision, device)
    gen = generator(seed, "surrogate", name)
    steps = surrogate_config(config).steps
    chain, handover = surrogate_chain(diffusion, int(t_mid), steps)  # every step unless surrogate.steps cuts them
    calls = chain.num_timesteps - handover
    chunks = []
    t0 = time.perf_counter()
    with Progress(
        max(1, calls * ((n + batch_size - 1) // batch_size)), desc=f"{name} to t_mid={t_mid}", unit="call"
    ) as bar:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            x0 = lowres_handover(
                chain,
                network,
                (size, channels, image_size, image_size),
                handover,
                variance=mcfg.variance,
                generator=gen,
                device=device,
                progress=lambda _i: bar.update(1),
            )
            chunks.append(to_uint8(x0.cpu()))
        images = to_data_resolution(torch.cat(chunks), meta)  # bilinear upsampling, part of the surrogate's cost
    return images, time.perf_counter() - t0, image_size
