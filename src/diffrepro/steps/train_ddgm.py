"""Step: train one DDGM (resumable), then write its EMA weights, loss curves, snapshots and summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..artifacts.ddgm import denoiser_test_error, snapshot_name, weights_metadata
from ..atomic import write_json
from ..config import daed_config, load_config, model_config, run_seed
from ..csvio import write_csv
from ..data import load_processed
from ..data.processed import resize_images
from ..runlog import get_logger
from ..sections import ModelConfig
from ..tensorfile import read as read_tensors
from ..tensorfile import save_safetensors
from ..timing import train_timing, write_timing
from ..training.ddgm import train_ddgm
from ..training.launch import discard_checkpoints, train_in_step


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    tensors, meta = load_processed(args.data)
    images = tensors["train_images"]
    data_size = int(images.shape[-1])
    if mcfg.resolution:  # DDPM-16 style: train at a lower resolution
        images = torch.from_numpy(resize_images(images.numpy(), mcfg.resolution))
        log.info(
            "%s: training at %dx%d (data at %dx%d)",
            args.model,
            mcfg.resolution,
            mcfg.resolution,
            data_size,
            data_size,
        )
    seed = run_seed(config, args.seed)
    trained = train_in_step(args, config, train_ddgm, images, mcfg, seed=seed)
    if trained is None:  # rank 0 writes the outputs
        return
    result, device = trained
    image_size, channels = int(images.shape[-1]), int(images.shape[1])

    def metadata(step: int) -> dict[str, str]:
        md = weights_metadata(args.model, mcfg, meta, image_size, channels, step, result.parameters)
        md["seed"] = str(seed)  # the run's: sampling checks it (a replicate's weights are not its model's)
        if image_size != data_size:
            md["data_image_size"] = str(data_size)
        return md

    save_safetensors(result.ema_state, args.weights, metadata(result.steps))

    # snapshots: copied from the checkpoint folder (written during training), stamped with the
    # model metadata; the final EMA weights close the series
    out = Path(args.snapshots)
    tmp = out.with_name(out.name + ".incomplete")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for step, path in sorted(result.snapshots.items()):
        save_safetensors(read_tensors(path)[0], tmp / snapshot_name(step), metadata(step))
    save_safetensors(result.ema_state, tmp / snapshot_name(result.steps), metadata(result.steps))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)

    write_csv(args.loss_csv, ["step", "loss"], [[h["step"], f"{h['loss']:.6f}"] for h in result.history])
    write_csv(
        args.loss_by_t_csv,
        ["step", "bucket", "t_first", "t_last", "loss", "count"],
        [
            [
                h["step"],
                h["bucket"],
                h["t_first"],
                h["t_last"],
                None if h["loss"] is None else f"{h['loss']:.6f}",
                h["count"],
            ]
            for h in result.bucket_history
        ],
    )
    write_timing(args.timing, f"train {args.model}", train_timing(result))
    write_json(
        args.summary,
        {
            "model": args.model,
            "parameters": result.parameters,
            "steps": result.steps,
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "objective": mcfg.objective.name,
            "timestep_sampler": mcfg.timestep_sampler.name,
            "snapshot_steps": sorted(result.snapshots) + ([] if result.steps in result.snapshots else [result.steps]),
            "device": device,
            **({} if args.seed is None else {"seed": seed}),
            **daed_summary(mcfg, result, tensors, config["seed"], daed_config(config).denoiser_test_images),
        },
    )
    discard_checkpoints(args.checkpoint_dir)
    log.info("wrote %s (%d parameters, %d steps)", args.weights, result.parameters, result.steps)


def daed_summary(mcfg: ModelConfig, result, tensors, seed: int, test_images: int) -> dict:
    """A joint DAED's two networks: the examples each saw in training (t == 0 for the DAE) and the DAE's
    reconstruction error on test images at its noise level (beside a post-hoc DAE's at the same beta_1)."""
    if mcfg.kind != "daed":
        return {}
    test = tensors["test_images"]
    return {
        "examples": {"denoiser": result.examples["t0"], "generator": result.examples["t_after"]},
        "denoiser_share": mcfg.timestep_sampler.options.get("denoiser_share"),
        "denoiser_test_error": denoiser_test_error(mcfg, result.ema_state, test, 0, seed, test_images),
    }
