"""Step: fine-tune the post-hoc DAE of one split point (Deja et al. Sec. 6.2, "first the DDGM, then the
DAE"), starting from the generator DDGM's EMA weights; resumable like every training step."""

from __future__ import annotations

import json

from ..artifacts.ddgm import denoiser_test_error, load_weights, weights_metadata
from ..atomic import write_json
from ..config import daed_config, load_config, model_config
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
    post = daed_config(config).posthoc
    gen_name = post.generator
    mcfg = model_config(config, gen_name)
    point, s = split_of(config, args.split, mcfg)
    ddgm_state, gmeta = load_weights(args.generator, mcfg)
    tensors, meta = load_processed(args.data)
    t = post.train
    trained = train_in_step(
        args, config, train_dae, tensors["train_images"], mcfg, t, ddgm_state=ddgm_state, split_step=s
    )
    if trained is None:  # rank 0 writes the outputs
        return
    result, device = trained
    image_size, channels = int(gmeta["image_size"]), int(gmeta["channels"])
    smeta = split_metadata(args.split, point, s, gen_name, mcfg)
    save_safetensors(
        result.ema_state,
        args.weights,
        {
            **weights_metadata(
                f"{gen_name}/dae@{args.split}", mcfg, meta, image_size, channels, result.steps, result.parameters
            ),
            **smeta,
            "posthoc_train": json.dumps(t.as_dict(), sort_keys=True),
        },
    )
    write_csv(args.loss_csv, ["step", "loss"], [[h["step"], f"{h['loss']:.6f}"] for h in result.history])
    write_timing(args.timing, f"train-dae {gen_name}@{args.split}", train_timing(result))
    write_json(
        args.summary,
        {
            "split": args.split,
            "beta_1": point,
            "split_step": s,
            "generator": gen_name,
            "timesteps": mcfg.timesteps,
            "log_snr": float(smeta["log_snr"]),
            "parameters": result.parameters,
            "steps": result.steps,
            "initial_loss": result.history[0]["loss"] if result.history else None,
            "denoiser_test_error": denoiser_test_error(
                mcfg, result.ema_state, tensors["test_images"], s, config["seed"]
            ),
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "device": device,
        },
    )
    discard_checkpoints(args.checkpoint_dir)
    log.info(
        "DAE %s (s=%d of T=%d, beta_1=%s): final loss %.5f -> %s",
        args.split,
        s,
        mcfg.timesteps,
        point,
        result.history[-1]["loss"] if result.history else float("nan"),
        args.weights,
    )
