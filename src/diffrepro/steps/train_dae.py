"""Step: fine-tune the post-hoc DAEs of one study (Deja et al. Sec. 6.2, "first the DDGM, then the DAE"), one
per split point of ``daed.posthoc.split_points``, each starting from the study's generator DDGM's EMA weights;
resumable like every training step (each split point has its own checkpoint folder, and a split point trained
to its last step resumes there at once). Outputs: ``<weights-dir>/<split>/ema.safetensors`` per split point, the
loss curves (one CSV, a ``split`` column), a summary per split point and their timings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ..artifacts.ddgm import denoiser_test_error, load_weights, weights_metadata
from ..atomic import write_json
from ..config import ConfigError, daed_config, load_config, model_config, posthoc_splits
from ..csvio import write_csv
from ..data import load_processed
from ..posthoc import split_metadata, split_of
from ..runlog import get_logger
from ..tensorfile import save_safetensors
from ..timing import train_timing, write_timing
from ..training.dae import train_dae
from ..training.launch import discard_checkpoints, train_in_step


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    post, test_images = daed_config(config).posthoc, daed_config(config).denoiser_test_images
    if args.study not in post.studies:
        raise ConfigError(f"--study {args.study!r} is not one of daed.posthoc.studies ({', '.join(post.studies)})")
    gen_name = post.studies[args.study].generator
    mcfg = model_config(config, gen_name)
    ddgm_state, gmeta = load_weights(args.generator, mcfg)
    tensors, meta = load_processed(args.data)
    t = post.train
    image_size, channels = int(gmeta["image_size"]), int(gmeta["channels"])
    losses, summaries, timings = [], {}, {}
    for label in posthoc_splits(config):
        point, s = split_of(config, label, mcfg)
        split_args = copy.copy(args)  # the split point's own checkpoint folder
        split_args.checkpoint_dir = str(Path(args.checkpoint_dir) / label)
        trained = train_in_step(
            split_args, config, train_dae, tensors["train_images"], mcfg, t, ddgm_state=ddgm_state, split_step=s
        )
        if trained is None:  # rank 0 writes the outputs
            continue
        result, device = trained
        smeta = split_metadata(label, point, s, gen_name, mcfg)
        save_safetensors(
            result.ema_state,
            Path(args.weights_dir) / label / "ema.safetensors",
            {
                **weights_metadata(
                    f"{gen_name}/dae@{label}", mcfg, meta, image_size, channels, result.steps, result.parameters
                ),
                **smeta,
                "posthoc_train": json.dumps(t.as_dict(), sort_keys=True),
            },
        )
        losses += [[label, h["step"], f"{h['loss']:.6f}"] for h in result.history]
        timings[label] = train_timing(result)
        summaries[label] = {
            "beta_1": point,
            "split_step": s,
            "log_snr": float(smeta["log_snr"]),
            "parameters": result.parameters,
            "steps": result.steps,
            "initial_loss": result.history[0]["loss"] if result.history else None,
            "denoiser_test_error": denoiser_test_error(
                mcfg, result.ema_state, tensors["test_images"], s, config["seed"], test_images
            ),
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "device": device,
        }
        log.info(
            "DAE %s/%s (s=%d of T=%d, beta_1=%s): final loss %.5f",
            args.study,
            label,
            s,
            mcfg.timesteps,
            point,
            result.history[-1]["loss"] if result.history else float("nan"),
        )
    if not summaries:  # not rank 0
        return
    write_csv(args.loss_csv, ["split", "step", "loss"], losses)
    write_timing(args.timing, f"train-dae {args.study}", {"generator": gen_name, "splits": timings})
    summary = {"study": args.study, "generator": gen_name, "timesteps": mcfg.timesteps, "splits": summaries}
    write_json(args.summary, summary)
    discard_checkpoints(args.checkpoint_dir)
    log.info("%d post-hoc DAEs of %s -> %s", len(summaries), args.study, args.weights_dir)
