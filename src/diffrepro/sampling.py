"""Drawing a trained DDGM's samples: its configured reverse sampler (ancestral over all T steps, respaced
ancestral or DDIM on K steps) in batches of ``sample.batch_size`` under ``sample.precision``, from the seeded
stream :func:`diffrepro.seeding.generator` ``(seed, "sample", stream)``, quantised to uint8 and timed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from .artifacts.ddgm import build_model
from .diffusion.samplers import chain_timesteps, generate
from .factory import build_diffusion
from .imaging import to_data_resolution, to_uint8
from .models.precision import with_precision
from .runlog import Progress
from .sections import ModelSection, as_model
from .seeding import generator
from .training.speed import speed_network

__all__ = ["draw_samples", "sample_weights"]


def draw_samples(
    model: torch.nn.Module,
    mcfg: ModelSection,
    image_size: int,
    channels: int,
    *,
    seed: int,
    stream: str,
    device: str,
    desc: str,
    on_state: Callable[[int, torch.Tensor], None] | None = None,
    speed: dict | None = None,
    visit: Sequence[int] = (),
) -> tuple[torch.Tensor, float]:
    """``num_samples`` uint8 samples with the model's sampler and precision (``sample.precision``);
    returns (samples, seconds). ``on_state(t, x_t)`` sees every batch's reverse-process states at original
    timesteps ``t`` (ancestral and respaced; batches in order); a respaced chain also passes through the steps
    ``visit`` (:func:`~diffrepro.diffusion.samplers.chain_timesteps`). ``speed``: the params' speed switches
    (:mod:`..training.speed`)."""
    mcfg = as_model(mcfg)
    scfg = mcfg.sample
    diffusion = build_diffusion(mcfg)
    network = with_precision(speed_network(model, speed), scfg.precision, device)
    steps = len(chain_timesteps(diffusion.num_timesteps, scfg.method, scfg.steps, visit))
    gen = generator(seed, "sample", stream)
    n, bs = scfg.num_samples, scfg.batch_size
    chunks = []
    total_calls = steps * ((n + bs - 1) // bs)
    t0 = time.perf_counter()
    with Progress(total_calls, desc=desc, log_every=max(1, steps // 4), unit="call") as bar:
        for start in range(0, n, bs):
            size = min(bs, n - start)
            x = generate(
                diffusion,
                network,
                (size, channels, image_size, image_size),
                method=scfg.method,
                variance=mcfg.variance,
                steps=scfg.steps,
                eta=scfg.eta,
                generator=gen,
                device=device,
                progress=lambda _i: bar.update(1),
                on_state=on_state,
                visit=visit,
            )
            chunks.append(to_uint8(x.cpu()))
    return torch.cat(chunks), time.perf_counter() - t0


def sample_weights(
    weights: str,
    mcfg: ModelSection,
    *,
    seed: int,
    stream: str,
    device: str,
    desc: str,
    speed: dict | None = None,
    expect: dict[str, str] | None = None,
) -> tuple[torch.Tensor, float, int]:
    """:func:`draw_samples` from the DDGM weights file ``weights`` (built by
    :func:`~diffrepro.artifacts.ddgm.build_model`), brought to the data's resolution (a model trained at a
    lower one is upsampled, :func:`~diffrepro.imaging.to_data_resolution`; not part of ``seconds``);
    returns (samples, seconds, the model's own image size). ``expect``: metadata the weights must hold (the
    model and seed of the run they are sampled as)."""
    model, image_size, channels, meta = build_model(weights, mcfg, device, expect)
    samples, seconds = draw_samples(
        model, mcfg, image_size, channels, seed=seed, stream=stream, device=device, desc=desc, speed=speed
    )
    return to_data_resolution(samples, meta), seconds, image_size
