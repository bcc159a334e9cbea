"""Training loop of a DDGM (eps-prediction U-Net, L_simple with uniform t, AdamW, EMA).

Resumable and deterministic: random draws are functions of (seed, step) (see ``seeding``), the
full training state is checkpointed every ``checkpoint_every`` steps (see ``checkpoint``), and
a rerun with the same configuration continues from the last checkpoint.  A non-finite loss
stops the run before the optimizer touches the weights, leaving the last good checkpoint intact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..factory import build_diffusion, build_unet
from ..models.unet import UNet, count_parameters
from ..runlog import Progress, get_logger
from ..seeding import derive_seed, generator
from .checkpoint import CheckpointStore, fingerprint, optimizer_from_tensors, optimizer_to_tensors
from .ema import EMA

# Keys of a model's section that do not change what training computes.
NON_TRAINING_KEYS = ("sample", "paper_row")
NON_TRAINING_TRAIN_KEYS = ("steps", "checkpoint_every", "log_every")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    model: UNet
    ema_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    steps: int
    seconds: float
    resumed_from: int
    parameters: int
    extra: dict[str, Any] = field(default_factory=dict)


def training_fingerprint(model_cfg: dict[str, Any], *, seed: int, data_id: str) -> str:
    """Hash of everything that determines the weights at a given step."""
    cfg = {k: v for k, v in model_cfg.items() if k not in NON_TRAINING_KEYS}
    cfg["train"] = {k: v for k, v in cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS}
    return fingerprint({"model": cfg, "seed": seed, "data": data_id})


def to_model_range(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_u8.to(torch.float32).div_(127.5).sub_(1.0)


def train_ddgm(
    images_u8: torch.Tensor,
    model_cfg: dict[str, Any],
    *,
    seed: int,
    checkpoint_dir: str | Path,
    data_id: str,
    device: str = "cpu",
    stop_at_step: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train (or resume training) one DDGM on uint8 images [N, C, H, W].

    ``stop_at_step`` ends the loop early (as if killed) after that step; it exists for tests of
    resumption and returns the partial result.
    """
    log = get_logger()
    tcfg = model_cfg["train"]
    n, channels, height, width = images_u8.shape
    if height != width:
        raise ValueError(f"images must be square, got {height}x{width}")
    batch = tcfg["batch_size"]
    if batch > n:
        raise ValueError(f"train.batch_size={batch} exceeds the {n} training images")
    if tcfg["checkpoint_every"] % tcfg["log_every"]:
        raise ValueError("train.checkpoint_every must be a multiple of train.log_every "
                         f"(got {tcfg['checkpoint_every']} and {tcfg['log_every']})")

    torch.manual_seed(derive_seed(seed, "init"))
    model = build_unet(model_cfg, image_size=height, channels=channels).to(device)
    diffusion = build_diffusion(model_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    ema = EMA(model, tcfg["ema_decay"])
    store = CheckpointStore(checkpoint_dir, training_fingerprint(model_cfg, seed=seed, data_id=data_id))

    start, history = 0, []
    ckpt, reason = store.load_latest()
    log.info("%s", reason)
    if ckpt is not None:
        model.load_state_dict(ckpt.tensors["model"])
        ema.load_state_dict(ckpt.tensors["ema"])
        optimizer_from_tensors(optimizer, ckpt.tensors.get("optimizer", {}), ckpt.state["optimizer"])
        start, history = ckpt.step, list(ckpt.state["history"])
    total = tcfg["steps"]
    if start > total:
        log.info("checkpoint step %d is past train.steps=%d; using it as is", start, total)

    data = to_model_range(images_u8).to(device)
    steps_per_epoch = n // batch
    perm_cache: dict[int, torch.Tensor] = {}
    params = count_parameters(model)
    log.info("training %d parameters for %d steps (batch %d, T=%d, %s schedule) on %s",
             params, total, batch, diffusion.num_timesteps, model_cfg["schedule"], device)

    def save(step: int) -> None:
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        store.save(step, {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt_tensors},
                   {"optimizer": opt_meta, "history": history})

    model.train()
    t0 = time.perf_counter()
    interval_sum, interval_n = 0.0, 0
    last_saved = start
    with Progress(total, desc="train", initial=min(start, total), log_every=tcfg["log_every"]) as bar:
        for step in range(start, total):
            for group in optimizer.param_groups:
                group["lr"] = tcfg["lr"] * min(1.0, (step + 1) / max(1, tcfg["warmup_steps"]))
            epoch, i = divmod(step, steps_per_epoch)
            if epoch not in perm_cache:
                perm_cache.clear()
                perm_cache[epoch] = torch.randperm(n, generator=generator(seed, "epoch", epoch)).to(device)
            x0 = data[perm_cache[epoch][i * batch:(i + 1) * batch]]
            g = generator(seed, "step", step)
            t = torch.randint(0, diffusion.num_timesteps, (batch,), generator=g).to(device)
            noise = torch.randn(x0.shape, generator=g).to(device)
            torch.manual_seed(derive_seed(seed, "dropout", step))

            loss = diffusion.loss_simple(model, x0, t, noise).mean()
            value = float(loss.detach())
            if not torch.isfinite(loss.detach()):
                raise TrainingDivergedError(
                    f"loss became {value} at step {step + 1}; training stopped without saving. "
                    f"The last good checkpoint (step {last_saved}) in {store.directory} is intact; "
                    "lower train.lr or set train.grad_clip and rerun the step to resume from it"
                    if last_saved else
                    f"loss became {value} at step {step + 1}; training stopped without saving (no "
                    "checkpoint had been written yet); lower train.lr or set train.grad_clip"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            ema.update(model)

            interval_sum += value
            interval_n += 1
            done = step + 1
            if done % tcfg["log_every"] == 0 or done == total:
                history.append({"step": done, "loss": interval_sum / interval_n})
                interval_sum, interval_n = 0.0, 0
            bar.update(1, loss=value, lr=optimizer.param_groups[0]["lr"])
            if on_step is not None:
                on_step(done, value)
            if done % tcfg["checkpoint_every"] == 0 or done == total:
                save(done)
                last_saved = done
            if stop_at_step is not None and done >= stop_at_step:
                break
    seconds = time.perf_counter() - t0
    model.eval()
    return TrainResult(model=model, ema_state=ema.state_dict(), history=history,
                       steps=min(max(start, total), total if stop_at_step is None else stop_at_step),
                       seconds=seconds, resumed_from=start, parameters=params)
