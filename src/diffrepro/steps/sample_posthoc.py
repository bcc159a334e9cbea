"""Step: sample every post-hoc DAED of one study (``--study``, a key of ``daed.posthoc.studies``): the study's
generator DDGM runs its reverse process once, and at each split step ``s`` its state ``x_s`` is handed to that
split point's DAE, which maps it to ``x_0`` in exactly one call.

The generator runs its own sampler (``sample.method``): ``ancestral``, all T steps as the papers do, or
``respaced`` (improved DDPM) on its evenly spaced steps plus every split step, so that the chain passes
through each ``s`` (:func:`~diffrepro.diffusion.samplers.chain_timesteps`; the paper-shape smoke run's cut);
DDIM has no stochastic state ``x_s`` of the forward marginal and is refused.

The generator's trajectory down to ``s`` is the same for every split point (same network, same
seed), so one ancestral pass serves them all: the state taken at ``s`` is exactly what
:func:`diffrepro.diffusion.daed.daed_sample` would draw with the same generator seed
(tests/test_daed_posthoc.py checks this), and it is also the trajectory of the DDGM's own samples.
Inference time per DAED sample is measured, not modelled: the generator's seconds from ``x_{T-1}``
to ``x_s`` (timed during the pass) plus the DAE's seconds, divided by the number of samples.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..artifacts.ddgm import build_model
from ..config import ConfigError, daed_config, load_config, model_config, posthoc_splits
from ..devices import resolve_device
from ..diffusion.daed import dae_predict, daed_model_calls
from ..diffusion.samplers import chain_timesteps
from ..factory import build_diffusion
from ..imaging import to_uint8
from ..models.precision import with_precision
from ..posthoc import split_of
from ..reporting.figures import save_sample_grid
from ..runlog import get_logger
from ..sampling import draw_samples
from ..tensorfile import save_safetensors
from ..timing import write_timing
from ..training.speed import speed_network


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    studies = daed_config(config).posthoc.studies
    if args.study not in studies:
        raise ConfigError(f"--study {args.study!r} is not one of daed.posthoc.studies ({', '.join(studies)})")
    gen_name = studies[args.study].generator
    mcfg = model_config(config, gen_name)  # (load_config refuses a generator that samples with DDIM)
    device = resolve_device(args.device)
    generator, image_size, channels, _ = build_model(args.generator, mcfg, device)
    diffusion = build_diffusion(mcfg)
    T = diffusion.num_timesteps

    daes = {}
    for label in posthoc_splits(config):
        path = Path(args.daes) / label / "ema.safetensors"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the DAE of split point {label} is missing; run train-dae --study {args.study}"
            )
        point, s = split_of(config, label, mcfg)
        dae, _, _, dmeta = build_model(str(path), mcfg, device)
        if int(dmeta.get("split_step", -1)) != s:
            raise ValueError(
                f"{path} was fine-tuned for split step {dmeta.get('split_step')} but split point "
                f"{label} is step {s} of the generator's schedule; rerun train-dae --study {args.study}"
            )
        daes[label] = (point, s, dae)

    wanted = {s for _, s, _ in daes.values()}
    visit = sorted(wanted)
    chain = chain_timesteps(T, mcfg.sample.method, mcfg.sample.steps, visit)
    states: dict[int, list[torch.Tensor]] = {s: [] for s in wanted}
    reach: dict[int, float] = {s: 0.0 for s in wanted}
    batch_start = [0.0]

    def on_state(t: int, x: torch.Tensor) -> None:
        now = time.perf_counter()
        if t == T - 1:
            batch_start[0] = now
        if t in states:
            states[t].append(x.detach().clone())
            reach[t] += now - batch_start[0]

    final, gen_seconds = draw_samples(
        generator,
        mcfg,
        image_size,
        channels,
        seed=config["seed"],
        stream=gen_name,
        device=device,
        desc=f"generator {gen_name}",
        on_state=on_state,
        speed=config["speed"],
        visit=visit,
    )
    n = final.shape[0]
    out = Path(args.out)
    tmp = out.with_name(out.name + ".incomplete")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    timing = {
        "study": args.study,
        "generator": gen_name,
        "timesteps": T,
        "num_samples": n,
        "device": device,
        "precision": mcfg.sample.precision,
        "generator_seconds_full": round(gen_seconds, 4),
        "splits": {},
    }
    bs = mcfg.sample.batch_size
    for label, (point, s, dae) in daes.items():
        network = with_precision(speed_network(dae, config["speed"]), mcfg.sample.precision, device)
        x_s = torch.cat(states[s])
        t0 = time.perf_counter()
        with torch.inference_mode():
            x0 = torch.cat([dae_predict(network, diffusion, x_s[i : i + bs], s) for i in range(0, n, bs)])
        dae_seconds = time.perf_counter() - t0
        images = to_uint8(x0.cpu())
        gen_calls, dae_calls = sum(t > s for t in chain), daed_model_calls(T, s)[1]
        per_sample = (reach[s] + dae_seconds) / n
        meta = {
            "model": f"daed_posthoc@{label}",
            "split": label,
            "beta_1": str(point),
            "split_step": str(s),
            "generator": gen_name,
            "num_samples": str(n),
            "generator_calls": str(gen_calls),
            "dae_calls": str(dae_calls),
            "device": device,
            "precision": mcfg.sample.precision,
        }
        save_safetensors({"images": images}, tmp / f"{label}.safetensors", meta)
        save_sample_grid(images, str(tmp / f"{label}.png"))
        timing["splits"][label] = {
            "beta_1": point,
            "split_step": s,
            "generator_calls": gen_calls,
            "dae_calls": dae_calls,
            "generator_seconds": round(reach[s], 4),
            "dae_seconds": round(dae_seconds, 4),
            "seconds_per_sample": round(per_sample, 6),
            "samples_per_second": round(1.0 / per_sample, 4),
        }
        log.info("DAED %s: %d generator steps + 1 DAE call, %.4f s per sample", label, gen_calls, per_sample)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    write_timing(args.timing, f"sample-posthoc {args.study}", timing)
    log.info("wrote %d post-hoc DAED sample sets -> %s", len(daes), out)
