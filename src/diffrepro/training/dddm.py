"""Training loop of a DDDM (Zhang et al. 2024, Algorithm 1): an x0-predicting U-Net conditioned on its
own previous estimate x_bar of each training image.

Per epoch (0-based) the first ``train.subset`` training images are visited once in a seeded
permutation (the last batch of an epoch may be smaller). For a batch: x_bar is read from the
:class:`~diffrepro.training.xbar_store.XBarStore` by the images' data-set indices, ``t`` is uniform
on ``0..T-1``, the loss is :func:`~diffrepro.diffusion.dddm.dddm_loss` with ``w = 1 / (epoch + 1)``,
and the model's output (detached) is written back to the store at the same indices. Adam with a
constant learning rate (paper Sec. 5.1), optional gradient-norm clipping, EMA of the weights.

Resumable and deterministic like :mod:`~diffrepro.training.ddgm`: random draws are functions of
(seed, step); every ``checkpoint_every`` steps and at the end a checkpoint holds the weights, EMA,
optimizer, history and a snapshot of the store; a rerun restores all of it (overwriting the live store
file, which may have run ahead of the checkpoint), so it ends bit-identical to an uninterrupted run. A
non-finite loss stops the run before the optimizer or the store is touched, leaving the last good
checkpoint intact.

Data-parallel training (``torchrun``, :mod:`.distributed`): ``dddm.train.batch_size`` is the global
batch. Every process draws the global batch's indices, timesteps and noise as a single process does
and keeps its contiguous rows (an epoch's smaller last batch, which must hold an image per process, is
split as evenly as it goes; the local loss is then scaled so that DDP's average of the gradients is
still the gradient of the global mean).
The store lives on rank 0 only (one memory-mapped file, one writer): rank 0 reads the global batch's
x_bar and broadcasts it, and the model outputs of all processes are gathered in global order and
written by rank 0, so its store equals a single process's after every step. Dropout is drawn per
(step, rank); only rank 0 writes checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError
from ..diffusion.dddm import build_dddm_unet, dddm_loss, loss_weight
from ..diffusion.dddm_losses import Metric, build_metric, metric_label, normalize_metric
from ..diffusion.schedules import alphas_cumprod as compute_alphas_cumprod
from ..diffusion.schedules import get_beta_schedule
from ..models.precision import with_precision
from ..models.unet import UNet, count_parameters
from ..runlog import Progress, get_logger
from ..seeding import derive_seed, generator
from .checkpoint import CheckpointStore, fingerprint, optimizer_from_tensors, optimizer_to_tensors
from .ddgm import TrainingDivergedError, to_model_range  # shared with every training loop
from .distributed import Distributed
from .ema import EMA
from .speed import make_adam, prepare_model, speed_network
from .xbar_store import XBarStore

__all__ = ["DDDMTrainResult", "TrainingDivergedError", "train_dddm", "dddm_fingerprint", "dddm_betas",
           "epoch_order", "images_used", "steps_per_epoch", "to_model_range"]

#: keys of ``dddm.train`` that do not change what training computes at a given step
NON_TRAINING_TRAIN_KEYS = ("epochs", "checkpoint_every", "log_every")
#: name of the store's snapshot inside a checkpoint directory
XBAR_GROUP = "xbar"


@dataclass
class DDDMTrainResult:
    model: UNet
    ema_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    steps: int
    total_steps: int
    seconds: float
    seconds_total: float
    resumed_from: int
    parameters: int
    images_used: int
    reportable: bool
    store: XBarStore | None  # None on the processes of a data-parallel run other than rank 0


def dddm_betas(dddm_cfg: dict[str, Any]) -> torch.Tensor:
    """The beta schedule of ``dddm.schedule`` (a name or ``{name, **options}``) over ``dddm.timesteps``."""
    sched = dddm_cfg["schedule"]
    sched = {"name": sched} if isinstance(sched, str) else dict(sched)
    return get_beta_schedule(sched.pop("name"), dddm_cfg["timesteps"], **sched)


def images_used(num_images: int, subset: int | None) -> int:
    """Training images used: the first ``subset`` (all when ``None`` or larger than the data set)."""
    return num_images if subset is None else min(int(subset), num_images)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch; every image is visited once (the last batch may be smaller)."""
    return -(-n // batch_size)


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The seeded permutation of data-set indices ``0..n-1`` visited in ``epoch``."""
    return torch.randperm(n, generator=generator(seed, "dddm-epoch", epoch))


def dddm_fingerprint(dddm_cfg: dict[str, Any], run_cfg: dict[str, Any], *, seed: int, data_id: str,
                     reportable: bool = True) -> str:
    """Hash of everything that determines the weights and the store at a given step (a test-only,
    non-reportable metric never shares checkpoints with the real one)."""
    train = {k: v for k, v in dddm_cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS}
    unet = {k: v for k, v in dddm_cfg["unet"].items() if k != "architecture"}
    return fingerprint({"kind": "dddm", "timesteps": dddm_cfg["timesteps"], "schedule": dddm_cfg["schedule"],
                        "unet": unet, "train": train, "metric": normalize_metric(run_cfg["metric"]),
                        "seed": seed, "data": data_id, **({} if reportable else {"reportable": False})})


def train_dddm(images_u8: torch.Tensor, dddm_cfg: dict[str, Any], run_cfg: dict[str, Any], *, seed: int,
               checkpoint_dir: str | Path, data_id: str, device: str = "cpu", stop_at_step: int | None = None,
               metric: Metric | None = None, speed: dict[str, Any] | None = None,
               distributed: Distributed | None = None) -> DDDMTrainResult:
    """Train (or resume) one DDDM on uint8 images ``[N, C, H, W]``.

    ``stop_at_step`` ends the loop after that step, as if killed (tests of resumption). ``metric``
    overrides ``run_cfg["metric"]`` (tests: a random-backbone LPIPS); it must be the same metric.
    ``speed``: the speed switches (:mod:`.speed`), which do not enter the fingerprint. ``distributed``:
    this process's place in a data-parallel group (default: a single process on ``device``), see the
    module docstring; not part of the fingerprint either.
    """
    log = get_logger()
    tcfg = dddm_cfg["train"]
    n_all, channels, height, width = images_u8.shape
    if height != width:
        raise ValueError(f"images must be square, got {height}x{width}")
    n = images_used(n_all, tcfg["subset"])
    if tcfg["subset"] is not None and tcfg["subset"] > n_all:
        log.info("dddm.train.subset=%d exceeds the %d training images: using all of them", tcfg["subset"], n_all)
    batch = tcfg["batch_size"]
    if batch > n:
        raise ValueError(f"dddm.train.batch_size={batch} exceeds the {n} training images used")
    if tcfg["checkpoint_every"] % tcfg["log_every"]:
        raise ValueError("dddm.train.checkpoint_every must be a multiple of log_every "
                         f"(got {tcfg['checkpoint_every']} and {tcfg['log_every']})")
    dist = Distributed.single(device) if distributed is None else distributed
    dist.local_slice(batch, "dddm.train.batch_size")  # full batches split evenly over the processes
    if 0 < n % batch < dist.world_size:  # every process needs a row of the last batch (the metric needs one)
        raise ConfigError(f"the last batch of each epoch holds {n % batch} of the {n} images used "
                          f"(dddm.train.subset, modulo dddm.train.batch_size={batch}), fewer than the "
                          f"{dist.world_size} training processes (distributed.nproc_per_node); use a subset "
                          f"that leaves no remainder or one of at least {dist.world_size}")
    if metric is None:
        metric = build_metric(run_cfg["metric"])
    elif metric.spec != normalize_metric(run_cfg["metric"]):
        raise ValueError(f"metric {metric!r} is not the run's metric {run_cfg['metric']!r}")

    torch.manual_seed(derive_seed(seed, "init"))
    model = prepare_model(build_dddm_unet(dddm_cfg["unet"], image_size=height, channels=channels).to(device), speed)
    ab = compute_alphas_cumprod(dddm_betas(dddm_cfg))
    T = dddm_cfg["timesteps"]
    optimizer = make_adam(model.parameters(), speed, decoupled=False, lr=tcfg["lr"])
    ema = EMA(model, tcfg["ema_decay"])
    run_fp = dddm_fingerprint(dddm_cfg, run_cfg, seed=seed, data_id=data_id, reportable=metric.reportable)
    ckpts = CheckpointStore(checkpoint_dir, run_fp)
    store = (XBarStore(Path(checkpoint_dir) / f"xbar-{run_fp[:16]}", n, (channels, height, width), tcfg["store_dtype"])
             if dist.is_main else None)
    per_epoch = steps_per_epoch(n, batch)
    total = tcfg["epochs"] * per_epoch

    start, history, seconds_before = 0, [], 0.0
    ckpt, reason = ckpts.load_latest()
    log.info("%s", reason)
    if ckpt is not None and ckpt.step > total:
        log.info("checkpoint step %d is past the %d steps of dddm.train.epochs=%d: training again from scratch",
                 ckpt.step, total, tcfg["epochs"])
        ckpt = None
    if ckpt is not None and not (ckpt.path / f"{XBAR_GROUP}.safetensors").is_file():
        log.info("checkpoint %s holds no x_bar snapshot: training again from scratch", ckpt.path)
        ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt.tensors["model"])
        ema.load_state_dict(ckpt.tensors["ema"])
        optimizer_from_tensors(optimizer, ckpt.tensors.get("optimizer", {}), ckpt.state["optimizer"])
        if store is not None:
            store.load_safetensors(ckpt.path / f"{XBAR_GROUP}.safetensors")
        start, history = ckpt.step, list(ckpt.state["history"])
        seconds_before = float(ckpt.state.get("seconds", 0.0))
    elif store is not None:
        store.initialize(seed)

    data = to_model_range(images_u8[:n]).to(device)
    params = count_parameters(model)
    log.info("training a DDDM: %d parameters, %d epochs x %d steps (batch %d, %d images, T=%d, %s schedule, "
             "metric %s%s, %s store) on %s", params, tcfg["epochs"], per_epoch, batch, n, T,
             dddm_cfg["schedule"] if isinstance(dddm_cfg["schedule"], str) else dddm_cfg["schedule"]["name"],
             metric_label(metric.spec), "" if metric.reportable else " [NOT REPORTABLE: random backbone]",
             tcfg["store_dtype"], device)

    def save(step: int, seconds: float) -> None:
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        ckpts.save(step, {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt_tensors,
                          XBAR_GROUP: store.state_tensors()},
                   {"optimizer": opt_meta, "history": history, "seconds": seconds})

    network = with_precision(speed_network(dist.wrap(model), speed), tcfg["precision"], device)
    model.train()
    t0 = time.perf_counter()
    interval_sum, interval_n = 0.0, 0
    last_saved = start
    order: tuple[int, torch.Tensor] | None = None
    with Progress(total, desc="train dddm", initial=min(start, total), log_every=tcfg["log_every"],
                  disable=not dist.is_main) as bar:
        for step in range(start, total):
            epoch, i = divmod(step, per_epoch)
            if order is None or order[0] != epoch:
                order = (epoch, epoch_order(seed, epoch, n))
            idx = order[1][i * batch:(i + 1) * batch]  # the global batch's data-set indices
            nb = idx.numel()
            lo, hi = dist.local_range(nb)  # this process's rows
            x0 = data[idx[lo:hi].to(device)]
            x_bar = (store.get(idx).to(device) if store is not None
                     else torch.empty((nb, channels, height, width), device=device))
            x_bar = dist.broadcast(x_bar)[lo:hi]  # rank 0's store rows
            g = generator(seed, "step", step)
            t = torch.randint(0, T, (nb,), generator=g)[lo:hi].to(device)
            noise = torch.randn((nb, channels, height, width), generator=g)[lo:hi].to(device)
            torch.manual_seed(derive_seed(seed, "dropout", step, *dist.seed_keys()))
            w = loss_weight(epoch)

            losses, f = dddm_loss(network, x0, x_bar, t, noise, ab, metric, w)
            loss = dist.local_mean(losses, nb)  # DDP's average over the processes: the global mean
            global_loss = dist.all_gather_ordered(losses.detach(), nb).mean()
            value = float(global_loss)
            if not torch.isfinite(global_loss):
                raise TrainingDivergedError(
                    f"DDDM loss became {value} at step {step + 1}; training stopped without saving. "
                    + (f"The last good checkpoint (step {last_saved}) in {ckpts.directory} is intact; "
                       "lower dddm.train.lr or set dddm.train.grad_clip and rerun the step to resume from it"
                       if last_saved else
                       "No checkpoint had been written yet; lower dddm.train.lr or set dddm.train.grad_clip"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            ema.update(model)
            f_all = dist.all_gather_ordered(f.detach(), nb)  # every process's outputs, in global order
            if store is not None:
                store.put(idx, f_all)

            interval_sum += value
            interval_n += 1
            done = step + 1
            if done % tcfg["log_every"] == 0 or done == total:
                history.append({"step": done, "epoch": epoch, "w": w, "loss": interval_sum / interval_n})
                interval_sum, interval_n = 0.0, 0
            bar.update(1, epoch=epoch, loss=value)
            if done % tcfg["checkpoint_every"] == 0 or done == total:
                if dist.is_main:
                    save(done, seconds_before + time.perf_counter() - t0)
                last_saved = done
            if stop_at_step is not None and done >= stop_at_step:
                break
    seconds = time.perf_counter() - t0
    if store is not None:
        store.flush()
    model.eval()
    steps_done = min(max(start, total), total if stop_at_step is None else stop_at_step)
    return DDDMTrainResult(model=model, ema_state=ema.state_dict(), history=history, steps=steps_done,
                           total_steps=total, seconds=seconds, seconds_total=seconds_before + seconds,
                           resumed_from=start, parameters=params, images_used=n, reportable=metric.reportable,
                           store=store)
