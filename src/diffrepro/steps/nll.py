"""Step: the model's negative log-likelihood bound on the test split, in bits per dimension,
evaluated exactly over all T terms (``diffusion.losses.calc_bpd_loop``), and each step's share of it
(per-step NLL contribution and its cumulative sum: Deja et al. Fig 14/15). With ``evaluation.nll_steps = K``
the bound is that of the model's K-step respaced process (the paper-shape smoke run: K network passes per image
instead of T); its terms CSV then has the K steps of that process."""

from __future__ import annotations

import torch

from ..artifacts.ddgm import build_model
from ..atomic import write_json
from ..config import evaluation_config, load_config, model_config
from ..csvio import write_csv
from ..data import load_processed
from ..data.processed import resize_images
from ..devices import resolve_device
from ..diffusion.respace import RespacedDiffusion
from ..evaluation.likelihood import images_bpd
from ..factory import build_diffusion
from ..runlog import get_logger
from ..seeding import generator


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    ecfg = evaluation_config(config)
    device = resolve_device(args.device)
    model, _, _, _ = build_model(args.weights, mcfg, device)
    diffusion = build_diffusion(mcfg)
    model_T = diffusion.num_timesteps
    respaced = ecfg.nll_steps is not None and ecfg.nll_steps < model_T
    if respaced:  # the bound of the model's K-step respaced process (evaluation.nll_steps: the smoke run's cut)
        diffusion = RespacedDiffusion.evenly_spaced(diffusion, ecfg.nll_steps)
        model = diffusion.wrap_model(model)
        log.info("the bound of the %d-step respaced process of the %d-step model", ecfg.nll_steps, model_T)
    T = diffusion.num_timesteps
    tensors, dmeta = load_processed(args.data)
    images = tensors["test_images"][: ecfg.nll_images]
    if mcfg.resolution:  # a model trained at a lower resolution is scored on test images at its resolution
        images = torch.from_numpy(resize_images(images.numpy(), mcfg.resolution))
    n = images.shape[0]
    bound = images_bpd(
        diffusion,
        model,
        images,
        mcfg.variance,
        batch_size=ecfg.batch_size,
        generator=generator(config["seed"], "nll", args.model),
        device=device,
        desc=f"nll {args.model}",
    )
    total = bound.total
    vb = bound.vb.mean(dim=0)  # [T], bits/dim per step, mean over images
    prior = float(bound.prior.mean())
    bpd = float(total.mean())
    cumulative = torch.cumsum(vb, dim=0)
    write_csv(
        args.terms_csv,
        ["t", "nll_bpd", "cumulative_bpd", "fraction_of_total"],
        [
            [i + 1, f"{float(vb[i]):.8g}", f"{float(cumulative[i]):.8g}", f"{float(cumulative[i]) / bpd:.8g}"]
            for i in range(T)
        ],
    )
    record = {
        "model": args.model,
        "bits_per_dim": bpd,
        "bits_per_dim_sem": float(total.std(unbiased=True) / n**0.5) if n > 1 else None,
        "prior_bits_per_dim": prior,
        "decoder_bits_per_dim": float(vb[0]),
        "first_step_fraction": float(vb[0]) / bpd,
        "first_1pct_fraction": float(cumulative[max(0, round(0.01 * T) - 1)]) / bpd,
        "n_images": n,
        "split": "test",
        "timesteps": model_T,
        **({"nll_steps": T} if respaced else {}),  # the terms of the respaced process (steps 1..K of the CSV)
        "variance": mcfg.variance,
        "dataset": dmeta.get("dataset"),
        "resolution": dmeta.get("resolution"),
    }
    write_json(args.out, record)
    log.info(
        "%s: %.4f bits/dim on %d test images (first step %.1f%% of the bound) -> %s",
        args.model,
        bpd,
        n,
        100 * record["first_step_fraction"],
        args.out,
    )
