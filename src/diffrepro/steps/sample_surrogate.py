"""Step: surrogate diffusion (coursework Algorithm 4) for one surrogate over the grid of t_mid.

The surrogate draws ``surrogate.num_samples`` images x~0: a GAN of ``gans`` once for every ``t_mid``; a DDGM of
``models`` trained at a lower ``resolution`` ("DDPM-16") for each ``t_mid`` anew, running only its steps from T
down to ``t_mid`` and handing over its estimate of the data there, upsampled bilinearly
(:func:`diffrepro.diffusion.surrogate.lowres_handover`). For every ``t_mid`` in ``surrogate.t_mid`` x~0 is noised
to ``t_mid`` and the base DDGM's reverse process runs from there
(:func:`diffrepro.diffusion.surrogate.surrogate_reverse`). Samples per second count the surrogate's time (for
DDPM-16: its ``T - t_mid`` steps and the upsampling) plus the base model's ``t_mid`` steps. With ``surrogate.steps``
set (the smoke run's cut) both chains take only their steps of a respaced process
(:func:`diffrepro.diffusion.surrogate.surrogate_chain`) and the metadata records ``steps``.
"""

from __future__ import annotations

import json
import time

import torch

from ..artifacts.ddgm import build_model
from ..config import ConfigError, load_config, model_config, surrogate_config
from ..devices import resolve_device
from ..diffusion.surrogate import surrogate_chain, surrogate_reverse, t_mid_steps
from ..factory import build_diffusion
from ..imaging import to_model_range, to_uint8
from ..models.precision import with_precision
from ..reporting.figures import save_sample_grid
from ..runlog import Progress, get_logger
from ..seeding import generator
from ..surrogates import draw_surrogate, draws_per_t_mid
from ..tensorfile import save_safetensors
from ..timing import write_timing
from ..training.speed import speed_network


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    scfg = surrogate_config(config)
    if args.surrogate not in scfg.surrogates:
        raise ConfigError(
            f"--surrogate {args.surrogate!r} is not in surrogate.surrogates ({', '.join(scfg.surrogates) or 'none'})"
        )
    device = resolve_device(args.device)
    n, bs, seed = scfg.num_samples, scfg.batch_size, config["seed"]
    base_name = scfg.base_model
    mcfg = model_config(config, base_name)
    model, image_size, channels, _ = build_model(args.base_weights, mcfg, device)
    diffusion = build_diffusion(mcfg)
    network = with_precision(speed_network(model, config["speed"]), mcfg.sample.precision, device)
    T = diffusion.num_timesteps
    t_mids = t_mid_steps(scfg.t_mid, T)
    per_t_mid = draws_per_t_mid(config, args.surrogate)

    def draw(t_mid: int | None) -> tuple[torch.Tensor, float, dict[str, str]]:
        x0_u8, seconds, description = draw_surrogate(
            config, args.surrogate, args.surrogate_weights, n, bs, seed=seed, device=device, t_mid=t_mid
        )
        if tuple(x0_u8.shape[1:]) != (channels, image_size, image_size):
            raise ValueError(
                f"surrogate {args.surrogate!r} gives images of shape {tuple(x0_u8.shape[1:])}, but the "
                f"base model {base_name!r} works on {(channels, image_size, image_size)}"
            )
        return x0_u8, seconds, description

    tensors: dict[str, torch.Tensor] = {}
    timing: dict[str, float] = {}  # the timing file only
    if not per_t_mid:  # a GAN: one draw for every t_mid
        x0_u8, sur_seconds, sur_meta = draw(None)
        tensors["surrogate_images"] = x0_u8
        timing["seconds_surrogate"] = round(sur_seconds, 4)
    meta = {
        "surrogate": args.surrogate,
        "base_model": base_name,
        "timesteps": str(T),
        "num_samples": str(n),
        "t_mid": ",".join(map(str, t_mids)),
        "device": device,
        "precision": mcfg.sample.precision,
        **({"steps": str(scfg.steps)} if scfg.steps is not None and scfg.steps < T else {}),
    }
    for t_mid in t_mids:
        if per_t_mid:  # a low-resolution DDGM: its steps T-1 .. t_mid, then the hand-over
            x0_u8, sur_seconds, sur_meta = draw(t_mid)
            tensors[f"surrogate_images_tmid{t_mid}"] = x0_u8
            timing[f"seconds_surrogate_tmid{t_mid}"] = round(sur_seconds, 4)
        gen = generator(seed, "surrogate", args.surrogate, t_mid)
        chain, handover = surrogate_chain(diffusion, t_mid, scfg.steps)  # handover == t_mid unless steps cut them
        chunks = []
        t0 = time.perf_counter()
        with Progress(
            max(1, handover * ((n + bs - 1) // bs)),
            desc=f"{args.surrogate} t_mid={t_mid}",
            log_every=max(1, handover // 4),
            unit="call",
        ) as bar:
            for start in range(0, n, bs):
                x0 = to_model_range(x0_u8[start : start + bs]).to(device)
                x = surrogate_reverse(
                    chain,
                    network,
                    x0,
                    handover,
                    variance=mcfg.variance,
                    generator=gen,
                    progress=lambda _i: bar.update(1),
                )
                chunks.append(to_uint8(x.cpu()))
        diff_seconds = time.perf_counter() - t0
        tensors[f"images_tmid{t_mid}"] = torch.cat(chunks)
        total = sur_seconds + diff_seconds
        timing[f"seconds_tmid{t_mid}"] = round(diff_seconds, 4)
        timing[f"samples_per_second_tmid{t_mid}"] = round(n / total, 4)
        log.info(
            "%s t_mid=%d: %d network calls per batch, %.1f s (+%.1f s surrogate), %.2f samples/s",
            args.surrogate,
            t_mid,
            handover,
            diff_seconds,
            sur_seconds,
            n / total,
        )
    meta.update(sur_meta)
    save_safetensors(tensors, args.out, meta)
    write_timing(args.timing, f"sample-surrogate {args.surrogate}", timing)
    surrogate_rows = (
        [tensors[f"surrogate_images_tmid{t}"][:10] for t in t_mids] if per_t_mid else [tensors["surrogate_images"][:10]]
    )
    rows = surrogate_rows + [tensors[f"images_tmid{t}"][:10] for t in t_mids]
    save_sample_grid(torch.cat(rows), args.grid, nrow=10)
    log.info("wrote %s (%s)", args.out, json.dumps({k: timing[k] for k in timing if k.startswith("samples_per")}))
