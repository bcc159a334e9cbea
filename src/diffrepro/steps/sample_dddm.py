"""Step: sample a trained DDDM run with every number of steps (NFE) in ``dddm.sample.steps``, from the same
seeded x_T and initial x_bar for every NFE (so rows are comparable); record samples per second per NFE.

A class-conditional run's samples draw their classes uniformly from a stream of their own (the noise stream stays
an unconditional run's), the same classes at every NFE; the file keeps them (``labels``)."""

from __future__ import annotations

import time

import torch

from ..artifacts.dddm import build_dddm_model, num_classes
from ..config import dddm_run, load_config
from ..devices import resolve_device
from ..diffusion.dddm import dddm_sample
from ..diffusion.schedules import alphas_cumprod
from ..imaging import to_uint8
from ..reporting.figures import save_sample_grid
from ..runlog import Progress, get_logger
from ..seeding import generator
from ..tensorfile import save_safetensors
from ..timing import write_timing
from ..training.dddm import dddm_betas
from ..training.speed import speed_network


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    dddm, run_cfg = dddm_run(config, args.run)
    scfg = dddm.sample
    method = scfg.method
    device = resolve_device(args.device)
    model, meta = build_dddm_model(args.weights, args.run, dddm, run_cfg, device)
    image_size, channels = int(meta["image_size"]), int(meta["channels"])
    network = speed_network(model, config["speed"])
    ab = alphas_cumprod(dddm_betas(dddm))
    T = dddm.timesteps
    n, bs = scfg.num_samples, scfg.batch_size
    nfes = [int(k) for k in scfg.steps]
    batches = -(-n // bs)
    out: dict[str, torch.Tensor] = {}
    classes = num_classes(meta)
    labels = None
    if classes:  # uniform classes, as ADM's and the DDDM's conditional ImageNet samples
        labels = torch.randint(classes, (n,), generator=generator(config["seed"], "dddm-sample-labels", args.run))
        out["labels"] = labels
    timing: dict[str, float] = {}  # wall-clock, in the timing file only (diffrepro.timing)
    metadata = {
        "run": args.run,
        "num_samples": str(n),
        "nfe": ",".join(str(k) for k in nfes),
        "reportable": meta.get("reportable", "false"),
        "metric": meta["metric"],
        "method": method,
        "timesteps": str(T),
        "batch_size": str(bs),
        "precision": scfg.precision,
        "device": device,
        "train_steps": meta.get("steps", ""),
        **({"num_classes": str(classes)} if classes else {}),
    }
    with Progress(sum(nfes) * batches, desc=f"sample dddm {args.run}", log_every=max(1, batches), unit="call") as bar:
        for k in nfes:
            gen = generator(config["seed"], "dddm-sample", args.run)  # the same x_T for every NFE
            chunks = []
            t0 = time.perf_counter()
            for start in range(0, n, bs):
                size = min(bs, n - start)
                x = dddm_sample(
                    network,
                    (size, channels, image_size, image_size),
                    steps=k,
                    num_timesteps=T,
                    generator=gen,
                    device=device,
                    method=method,
                    alphas_cumprod=ab,
                    precision=scfg.precision,
                    conditioning=dddm.conditioning,
                    labels=None if labels is None else labels[start : start + size],
                )
                chunks.append(to_uint8(x.cpu()))
                bar.update(k)
            seconds = time.perf_counter() - t0
            out[f"images_nfe{k}"] = torch.cat(chunks)
            timing[f"seconds_nfe{k}"] = round(seconds, 4)
            timing[f"samples_per_second_nfe{k}"] = round(n / seconds, 4)
            log.info(
                "DDDM %s: %d samples with %d step(s) in %.2f s (%.1f samples/s)", args.run, n, k, seconds, n / seconds
            )
    save_safetensors(out, args.out, metadata)
    write_timing(args.timing, f"sample-dddm {args.run}", timing)
    save_sample_grid(out[f"images_nfe{max(nfes)}"][:100], args.grid)
    log.info(
        "wrote %s and %s%s",
        args.out,
        args.grid,
        "" if metadata["reportable"] == "true" else " (NOT REPORTABLE: trained with a random-backbone metric)",
    )
