"""Post-hoc DAE fine-tuning for a DAED (Deja et al. 2022, Sec. 6.2: "first the DDGM and then the DAE").

The denoising auto-encoder is the DDGM's own U-Net, initialised from the DDGM's EMA weights
(:func:`build_dae`), and trained to reconstruct ``x_0`` from ``x_s = q_sample(x_0, s, eps)`` in
one pass with the squared error ``mean_dims (dae(x_s, s) - x_0)^2``
(:func:`diffrepro.diffusion.daed.dae_loss`, the prediction unclamped so the gradient flows).
If the DDGM learned its variance (``2C`` output channels) the DAE keeps the same network and
reads its reconstruction from the first ``C`` channels.

Like :mod:`.ddgm` the loop is resumable and deterministic: the data order of each epoch, the
noise of each step and the dropout of each step come from generators seeded by
``(seed, purpose, index)`` (:mod:`diffrepro.seeding`), and the full state (weights, EMA,
optimizer, loss records) is checkpointed every ``checkpoint_every`` steps with
:class:`.checkpoint.CheckpointStore`. The checkpoint fingerprint covers the model section,
the split step, the hyperparameters that change the weights at a given step, the seed, the
data id and a hash of the DDGM weights, so a retrained DDGM (or any other change) restarts the
DAE from scratch; ``steps``, ``checkpoint_every`` and ``log_every`` are left out, so extending
training resumes. A non-finite loss raises :class:`.ddgm.TrainingDivergedError` before the
optimizer touches the weights and without saving, leaving the last checkpoint intact.

Data-parallel training (``torchrun``, :mod:`.distributed`) works as in :mod:`.ddgm`: ``batch_size`` is
the global batch, every process draws the global batch's permutation and noise and keeps its
contiguous rows, DDP averages the gradients (the gradient of the global mean), the logged loss is the
mean over the gathered per-example losses, dropout is drawn per (step, rank), and only rank 0 writes
checkpoints.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..config import normalize_model
from ..diffusion.daed import dae_loss
from ..factory import build_diffusion, build_unet
from ..models.unet import UNet, count_parameters
from ..runlog import Progress, get_logger
from ..seeding import derive_seed, generator
from .checkpoint import CheckpointStore, fingerprint, optimizer_from_tensors, optimizer_to_tensors
from .ddgm import TrainingDivergedError, to_model_range, training_fingerprint
from .distributed import Distributed
from .ema import EMA
from .speed import make_adam, prepare_model, speed_network

__all__ = ["DAETrainResult", "build_dae", "state_hash", "dae_fingerprint", "train_dae"]


@dataclass
class DAETrainResult:
    model: UNet
    ema_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    steps: int
    seconds: float
    resumed_from: int
    parameters: int
    seconds_total: float
    steps_this_run: int


def build_dae(model_cfg: dict[str, Any], ddgm_state: Mapping[str, torch.Tensor], *, image_size: int,
              channels: int) -> UNet:
    """The DDGM's U-Net (``factory.build_unet``) with the DDGM's weights ``ddgm_state`` loaded (strict)."""
    model = build_unet(normalize_model(model_cfg), image_size=image_size, channels=channels)
    model.load_state_dict(dict(ddgm_state), strict=True)
    return model


def state_hash(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of a state dict's tensors."""
    h = hashlib.sha256()
    for key in sorted(state):
        v = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def dae_fingerprint(model_cfg: dict[str, Any], *, split_step: int, hyper: dict[str, Any], seed: int,
                    data_id: str, ddgm_hash: str) -> str:
    """Hash of everything that determines the DAE's weights at a given step: the DDGM run's own
    fingerprint (network, schedule, seed, data), the DDGM weights it starts from, the split step
    and the fine-tuning hyperparameters."""
    return fingerprint({"kind": "dae", "run": training_fingerprint(model_cfg, seed=seed, data_id=data_id),
                        "split_step": int(split_step), "hyper": hyper, "ddgm": ddgm_hash})


def train_dae(
    images_u8: torch.Tensor,
    model_cfg: dict[str, Any],
    *,
    ddgm_state: Mapping[str, torch.Tensor],
    split_step: int,
    seed: int,
    checkpoint_dir: str | Path,
    data_id: str,
    device: str = "cpu",
    steps: int,
    batch_size: int,
    lr: float,
    ema_decay: float,
    checkpoint_every: int,
    log_every: int,
    weight_decay: float = 0.0,
    grad_clip: float | None = None,
    stop_at_step: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    speed: dict[str, Any] | None = None,
    distributed: Distributed | None = None,
) -> DAETrainResult:
    """Fine-tune (or resume fine-tuning) a DAE for split step ``split_step`` on uint8 images [N, C, H, W].

    ``model_cfg`` is the DDGM's model section (architecture and schedule); ``ddgm_state`` its EMA
    weights, the DAE's initialisation. Each step draws a batch (a fresh permutation per epoch),
    ``eps ~ N(0, I)``, forms ``x_s = q_sample(x0, s, eps)`` and minimises
    ``mean (dae(x_s, s) - x0)^2`` with AdamW (constant ``lr``, ``weight_decay``, optional
    gradient-norm clip ``grad_clip``) and keeps an EMA of the weights (``ema_decay``).
    ``history`` holds the mean loss of every ``log_every`` steps. ``stop_at_step`` ends the loop
    after that step as if the job were killed (tests of resumption). ``speed``: the speed switches
    (:mod:`.speed`), which do not enter the fingerprint. ``distributed``: this process's place in a
    data-parallel group (default: a single process on ``device``), not part of the fingerprint either.
    """
    log = get_logger()
    model_cfg = normalize_model(model_cfg)
    n, channels, height, width = images_u8.shape
    if height != width:
        raise ValueError(f"images must be square, got {height}x{width}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every),
                        ("log_every", log_every)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} training images")
    if checkpoint_every % log_every:
        raise ValueError(f"checkpoint_every must be a multiple of log_every (got {checkpoint_every} and {log_every})")
    dist = Distributed.single(device) if distributed is None else distributed
    local = dist.local_slice(batch_size, "daed.posthoc.train.batch_size")  # this process's rows of a batch
    diffusion = build_diffusion(model_cfg)
    T = diffusion.num_timesteps
    if isinstance(split_step, bool) or int(split_step) != split_step or not 0 <= split_step < T:
        raise ValueError(f"split_step must be an int with 0 <= s < T={T}, got {split_step!r}")
    s = int(split_step)

    model = prepare_model(build_dae(model_cfg, ddgm_state, image_size=height, channels=channels).to(device), speed)
    optimizer = make_adam(model.parameters(), speed, lr=lr, weight_decay=weight_decay)
    network = speed_network(dist.wrap(model), speed)
    ema = EMA(model, ema_decay)
    hyper = {"batch_size": int(batch_size), "lr": float(lr), "ema_decay": float(ema_decay),
             "weight_decay": float(weight_decay), "grad_clip": float(grad_clip) if grad_clip else None}
    run_fp = dae_fingerprint(model_cfg, split_step=s, hyper=hyper, seed=seed, data_id=data_id,
                             ddgm_hash=state_hash(ddgm_state))
    store = CheckpointStore(checkpoint_dir, run_fp)

    start, history, seconds_before = 0, [], 0.0
    ckpt, reason = store.load_latest()
    log.info("%s", reason)
    if ckpt is not None and ckpt.step > steps:
        log.info("checkpoint step %d is past steps=%d: training the DAE again from scratch", ckpt.step, steps)
        ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt.tensors["model"])
        ema.load_state_dict(ckpt.tensors["ema"])
        optimizer_from_tensors(optimizer, ckpt.tensors.get("optimizer", {}), ckpt.state["optimizer"])
        start, history = ckpt.step, list(ckpt.state["history"])
        seconds_before = float(ckpt.state.get("seconds", 0.0))

    data = to_model_range(images_u8).to(device)
    steps_per_epoch = n // batch_size
    perm_cache: dict[int, torch.Tensor] = {}
    params = count_parameters(model)
    log.info("fine-tuning a %d-parameter DAE at split step s=%d (T=%d) for %d steps (batch %d) on %s",
             params, s, T, steps, batch_size, device)

    def save(step: int, seconds: float) -> None:
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        store.save(step, {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt_tensors},
                   {"optimizer": opt_meta, "history": history, "seconds": seconds, "split_step": s})

    model.train()
    t0 = time.perf_counter()
    interval_sum, interval_n = 0.0, 0
    last_saved = start
    steps_done = start
    with Progress(steps, desc="train-dae", initial=min(start, steps), log_every=log_every,
                  disable=not dist.is_main) as bar:
        for step in range(start, steps):
            epoch, i = divmod(step, steps_per_epoch)
            if epoch not in perm_cache:
                perm_cache.clear()
                perm_cache[epoch] = torch.randperm(n, generator=generator(seed, "dae-epoch", epoch)).to(device)
            x0 = data[perm_cache[epoch][i * batch_size:(i + 1) * batch_size][local]]
            g = generator(seed, "dae-step", step)
            noise = torch.randn((batch_size, *x0.shape[1:]), generator=g)[local].to(device)
            torch.manual_seed(derive_seed(seed, "dae-dropout", step, *dist.seed_keys()))

            losses = dae_loss(network, diffusion, x0, s, noise)
            loss = losses.mean()  # this process's rows; DDP averages the gradients
            global_loss = dist.all_gather_ordered(losses.detach()).mean()
            value = float(global_loss)
            if not torch.isfinite(global_loss):
                raise TrainingDivergedError(
                    f"DAE loss became {value} at step {step + 1}; training stopped without saving. "
                    f"The last good checkpoint (step {last_saved}) in {store.directory} is intact; "
                    "lower the learning rate or set a gradient clip and rerun to resume from it"
                    if last_saved else
                    f"DAE loss became {value} at step {step + 1}; training stopped without saving (no "
                    "checkpoint had been written yet); lower the learning rate or set a gradient clip"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            ema.update(model)

            interval_sum += value
            interval_n += 1
            done = step + 1
            steps_done = done
            if done % log_every == 0 or done == steps:
                history.append({"step": done, "loss": interval_sum / interval_n})
                interval_sum, interval_n = 0.0, 0
            bar.update(1, loss=value)
            if on_step is not None:
                on_step(done, value)
            if done % checkpoint_every == 0 or done == steps:
                if dist.is_main:
                    save(done, seconds_before + time.perf_counter() - t0)
                last_saved = done
            if stop_at_step is not None and done >= stop_at_step:
                break
    seconds = time.perf_counter() - t0
    model.eval()
    return DAETrainResult(model=model, ema_state=ema.state_dict(), history=history, steps=steps_done,
                          seconds=seconds, resumed_from=start, parameters=params,
                          seconds_total=seconds_before + seconds, steps_this_run=max(0, steps_done - start))
