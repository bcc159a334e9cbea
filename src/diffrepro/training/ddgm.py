"""Training loop of a DDGM: eps-prediction U-Net, AdamW, EMA, any objective of
``diffusion.losses`` (simple, vlb, hybrid, iwdiff) with any timestep sampler of
``diffusion.resample`` (the sampler's importance weights keep the objective unbiased).

Resumable and deterministic: random draws are functions of (seed, step) (see ``seeding``), the
full training state (weights, EMA, optimizer, the sampler's loss history, the loss records) is
checkpointed every ``checkpoint_every`` steps (see ``checkpoint``), and a rerun with the same
configuration continues from the last checkpoint.  A non-finite loss stops the run before the
optimizer touches the weights, leaving the last good checkpoint intact.

A model section with ``kind: daed`` trains a joint DAED (Deja et al. 2022, Sec. 4): the network is a
:class:`~diffrepro.models.joint_daed.JointDAED` (a generator U-Net for ``t > 0`` and a DAE U-Net for
``t == 0``, built by ``factory.build_unet``), the loss is
:func:`~diffrepro.diffusion.daed.joint_training_loss` (simple or vlb objective), one AdamW covers the
parameters of both networks (they are disjoint) and the EMA the whole module. A network that gets no
example in a step (no ``t == 0`` drawn, say) gets no gradient and AdamW leaves it untouched that step;
``train.grad_clip`` clips each network's gradient norm separately, so neither network's loss scale
throttles the other's update. Checkpoints have the same format (the state dicts' keys are
``generator.*`` and ``dae.*``); the training fingerprint includes the kind, so a DDGM and a joint DAED
never share checkpoints.

Besides the loss curve, training records the mean unweighted loss per timestep bucket over time
(``train.loss_buckets`` equal buckets of t, for the loss-dynamics figures) and keeps the EMA weights
at the fractions ``train.snapshots`` of training (for the training-steps study).

Data-parallel training (``torchrun``, :mod:`.distributed`): ``train.batch_size`` stays the global
batch. Every process draws the whole global batch's randomness as a single process does (the epoch's
permutation, the timesteps and importance weights, the noise, IWDiff's extra noises) and keeps its
contiguous rows; its loss is the mean over its rows and DDP averages the gradients, which gives the
single process's gradient (up to the order of float reductions). Clipping, AdamW and the EMA then run
identically on every process. The per-example losses are gathered in global order, so the timestep
sampler's loss history (including the extra forward evaluations), the per-bucket losses and the
logged loss are the single process's. Dropout masks are drawn per (step, rank) and cannot match a
single process's. Only rank 0 writes checkpoints and snapshots; every rank resumes from the same
checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..atomic import save_safetensors
from ..config import normalize_model
from ..errors import DiffreproError
from ..diffusion.daed import JOINT_OBJECTIVES, joint_training_loss
from ..diffusion.losses import training_loss
from ..factory import build_diffusion, build_timestep_sampler_for, build_unet, model_kind
from ..models.joint_daed import JointDAED
from ..models.precision import with_precision
from ..models.unet import UNet, count_parameters
from ..runlog import Progress, get_logger
from ..seeding import derive_seed, generator
from .checkpoint import CheckpointStore, fingerprint, optimizer_from_tensors, optimizer_to_tensors
from .distributed import Distributed
from .ema import EMA
from .speed import make_adam, prepare_model, speed_network

# Keys of a model's section that do not change what training computes.
# (``data`` names the data set; its content enters the fingerprint as ``data_id``)
NON_TRAINING_KEYS = ("sample", "tables", "data")
NON_TRAINING_TRAIN_KEYS = ("steps", "checkpoint_every", "log_every", "snapshots", "loss_buckets")
NON_TRAINING_UNET_KEYS = ("architecture",)


class TrainingDivergedError(DiffreproError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    model: UNet | JointDAED
    ema_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    bucket_history: list[dict[str, float]]
    snapshots: dict[int, Path]
    steps: int
    seconds: float
    resumed_from: int
    parameters: int
    seconds_total: float
    steps_this_run: int
    extra: dict[str, Any] = field(default_factory=dict)


def training_fingerprint(model_cfg: dict[str, Any], *, seed: int, data_id: str) -> str:
    """Hash of everything that determines the weights at a given step.

    The model's ``kind`` enters the hash only when it is not the default ``ddgm``: a joint DAED never
    resumes a DDGM's checkpoint (or the other way round), and a DDGM's fingerprint is the same as
    before model sections had a kind, so existing DDGM checkpoints stay valid.
    """
    model_cfg = normalize_model(model_cfg)
    cfg = {k: v for k, v in model_cfg.items() if k not in NON_TRAINING_KEYS}
    if model_kind(cfg) == "ddgm":
        cfg.pop("kind", None)
    cfg["train"] = {k: v for k, v in cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS}
    cfg["unet"] = {k: v for k, v in cfg["unet"].items() if k not in NON_TRAINING_UNET_KEYS}
    return fingerprint({"model": cfg, "seed": seed, "data": data_id})


def to_model_range(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_u8.to(torch.float32).div_(127.5).sub_(1.0)


def snapshot_steps(train_cfg: dict[str, Any]) -> list[int]:
    """Training steps at which EMA weights are kept (``train.snapshots`` fractions of ``train.steps``)."""
    return sorted({max(1, round(f * train_cfg["steps"])) for f in train_cfg.get("snapshots", [])})


def bucket_edges(num_timesteps: int, buckets: int) -> list[tuple[int, int]]:
    """``buckets`` contiguous, nearly equal ranges [lo, hi] of 0-based timesteps covering 0..T-1."""
    edges = [round(i * num_timesteps / buckets) for i in range(buckets + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(buckets)]


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
    speed: dict[str, Any] | None = None,
    distributed: Distributed | None = None,
) -> TrainResult:
    """Train (or resume training) one DDGM, or joint DAED (``kind: daed``), on uint8 images [N, C, H, W].

    ``stop_at_step`` ends the loop early (as if killed) after that step; it exists for tests of
    resumption and returns the partial result. ``speed`` holds the speed switches (:mod:`.speed`; not part
    of the fingerprint, so toggling one resumes the checkpoints). ``distributed``: this process's place in
    a data-parallel group (default: a single process on ``device``; the steps pass
    ``device=distributed.device``), see the module docstring; nothing about it enters the fingerprint.
    """
    log = get_logger()
    model_cfg = normalize_model(model_cfg)
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
    dist = Distributed.single(device) if distributed is None else distributed
    local = dist.local_slice(batch, "train.batch_size")  # this process's rows of each global batch

    kind = model_kind(model_cfg)
    objective, variance = model_cfg["objective"], model_cfg["variance"]
    if kind == "daed" and objective["name"] not in JOINT_OBJECTIVES:
        raise ValueError(f"a joint DAED is trained with the objective {' or '.join(JOINT_OBJECTIVES)}, "
                         f"got {objective['name']!r}")

    torch.manual_seed(derive_seed(seed, "init"))
    model = prepare_model(build_unet(model_cfg, image_size=height, channels=channels).to(device), speed)
    diffusion = build_diffusion(model_cfg)
    T = diffusion.num_timesteps
    sampler = build_timestep_sampler_for(model_cfg)
    # gradient-norm clipping: per network (a joint DAED's two networks are clipped separately)
    clip_groups = ([list(model.generator.parameters()), list(model.dae.parameters())]
                   if isinstance(model, JointDAED) else [list(model.parameters())])
    optimizer = make_adam(model.parameters(), speed, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    ema = EMA(model, tcfg["ema_decay"])
    run_fp = training_fingerprint(model_cfg, seed=seed, data_id=data_id)
    store = CheckpointStore(checkpoint_dir, run_fp)
    # EMA snapshots live beside the checkpoints (scratch that survives a failed job), in a folder
    # named by the run's fingerprint so a changed configuration never reuses them.
    snap_dir = Path(checkpoint_dir) / f"snapshots-{run_fp[:16]}"
    wanted_snaps = snapshot_steps(tcfg)
    edges = bucket_edges(T, tcfg["loss_buckets"])
    bucket_of_t = torch.zeros(T, dtype=torch.long)
    for b, (lo, hi) in enumerate(edges):
        bucket_of_t[lo:hi + 1] = b

    start, history, bucket_history, seconds_before = 0, [], [], 0.0
    ckpt, reason = store.load_latest()
    log.info("%s", reason)
    if ckpt is not None and ckpt.step > tcfg["steps"]:
        log.info("checkpoint step %d is past train.steps=%d: training again from scratch", ckpt.step, tcfg["steps"])
        ckpt = None
    if ckpt is not None:
        lost = [s_ for s_ in wanted_snaps if s_ <= ckpt.step
                and not (snap_dir / f"ema_step_{s_:08d}.safetensors").exists()]
        if lost:
            log.info("snapshots at steps %s were not kept by the run that wrote the checkpoint (step %d): "
                     "training again from scratch", lost, ckpt.step)
            ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt.tensors["model"])
        ema.load_state_dict(ckpt.tensors["ema"])
        optimizer_from_tensors(optimizer, ckpt.tensors.get("optimizer", {}), ckpt.state["optimizer"])
        if ckpt.tensors.get("sampler"):
            sampler.load_state_dict(ckpt.tensors["sampler"])
        start, history = ckpt.step, list(ckpt.state["history"])
        bucket_history = list(ckpt.state.get("bucket_history", []))
        seconds_before = float(ckpt.state.get("seconds", 0.0))
    total = tcfg["steps"]

    data = to_model_range(images_u8).to(device)
    steps_per_epoch = n // batch
    perm_cache: dict[int, torch.Tensor] = {}
    params = count_parameters(model)
    log.info("training %s: %d parameters for %d steps (batch %d, T=%d, %s schedule, %s objective, %s variance, "
             "%s timestep sampler) on %s", "a joint DAED" if kind == "daed" else "a DDGM", params, total, batch, T,
             model_cfg["schedule"]["name"], objective["name"], variance, sampler.name, device)
    if dist.active:
        log.info("data-parallel over %d processes: %d examples of each batch per process", dist.world_size,
                 local.stop - local.start)

    def save(step: int, seconds: float) -> None:
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        store.save(step, {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt_tensors,
                          "sampler": sampler.state_dict()},
                   {"optimizer": opt_meta, "history": history, "bucket_history": bucket_history,
                    "seconds": seconds})

    # bf16 autocast wraps the network call only: weights, optimiser state and loss arithmetic stay float32
    # (DDP: a joint DAED's DAE gets no rows on a process whose rows hold no t == 0)
    network = with_precision(speed_network(dist.wrap(model, find_unused_parameters=kind == "daed"), speed),
                             tcfg["precision"], device)
    iw_k = objective.get("k", 1) if objective["name"] == "iwdiff" else 1
    batch_shape = (batch, channels, height, width)

    def draw_noise(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The global batch's noise and IWDiff's ``k - 1`` extra noises, drawn from ``g`` in the order
        ``training_loss`` draws them; this process's rows, on ``device``."""
        noise = torch.randn(batch_shape, generator=g)[local].to(device)
        extra = torch.randn((iw_k - 1, *batch_shape), generator=g)[:, local].to(device) if iw_k > 1 else None
        return noise, extra

    def loss_fn(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, g: torch.Generator,
                extra_noise: torch.Tensor | None) -> torch.Tensor:
        if kind == "daed":
            losses, _ = joint_training_loss(diffusion, network, x0, t, noise, objective["name"], variance, generator=g)
            return losses
        losses, _ = training_loss(diffusion, network, x0, t, noise, objective["name"], variance,
                                  hybrid_lambda=objective.get("lambda", 0.001), iwdiff_k=objective.get("k", 1),
                                  generator=g, extra_noise=extra_noise)
        return losses

    model.train()
    t0 = time.perf_counter()
    interval_sum, interval_n = 0.0, 0
    bucket_sum = torch.zeros(len(edges), dtype=torch.float64)
    bucket_n = torch.zeros(len(edges), dtype=torch.long)
    last_saved = start
    with Progress(total, desc="train", initial=min(start, total), log_every=tcfg["log_every"],
                  disable=not dist.is_main) as bar:
        for step in range(start, total):
            for group in optimizer.param_groups:
                group["lr"] = tcfg["lr"] * min(1.0, (step + 1) / max(1, tcfg["warmup_steps"]))
            epoch, i = divmod(step, steps_per_epoch)
            if epoch not in perm_cache:
                perm_cache.clear()
                perm_cache[epoch] = torch.randperm(n, generator=generator(seed, "epoch", epoch)).to(device)
            x0 = data[perm_cache[epoch][i * batch:(i + 1) * batch][local]]
            g = generator(seed, "step", step)
            t_cpu, weights = sampler.sample(batch, g)  # the global batch's timesteps (t_cpu) and weights
            t, weights = t_cpu.to(device), weights.to(device)
            noise, extra_noise = draw_noise(g)
            torch.manual_seed(derive_seed(seed, "dropout", step, *dist.seed_keys()))

            losses = loss_fn(x0, t[local], noise, g, extra_noise)
            all_losses = dist.all_gather_ordered(losses.detach())  # the global batch's, in its order
            loss = (losses * weights[local]).mean()  # DDP averages the processes' gradients
            global_loss = (all_losses * weights).mean()
            value = float(global_loss)
            if not torch.isfinite(global_loss):
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
                for group_params in clip_groups:
                    torch.nn.utils.clip_grad_norm_(group_params, tcfg["grad_clip"])
            optimizer.step()
            ema.update(model)

            per_example = all_losses.to("cpu", torch.float64)
            sampler.update(t_cpu, per_example)
            if sampler.extra_forward_evaluations:
                # coursework "Importance Sampling +2": extra forward-only loss evaluations per step,
                # at uniformly drawn t, refresh the sampler's loss history without a backward pass
                g_extra = generator(seed, "extra", step)
                with torch.no_grad():
                    for _ in range(sampler.extra_forward_evaluations):
                        t_extra = torch.randint(0, T, (batch,), generator=g_extra)
                        noise_extra, extra_noise_extra = draw_noise(g_extra)
                        extra = loss_fn(x0, t_extra[local].to(device), noise_extra, g_extra, extra_noise_extra)
                        sampler.update(t_extra, dist.all_gather_ordered(extra).to("cpu", torch.float64))
            b = bucket_of_t[t_cpu]
            bucket_sum.index_add_(0, b, per_example)
            bucket_n.index_add_(0, b, torch.ones_like(b))

            interval_sum += value
            interval_n += 1
            done = step + 1
            if done % tcfg["log_every"] == 0 or done == total:
                history.append({"step": done, "loss": interval_sum / interval_n})
                for k, (lo, hi) in enumerate(edges):
                    n_k = int(bucket_n[k])
                    bucket_history.append({"step": done, "bucket": k, "t_first": lo + 1, "t_last": hi + 1,
                                           "loss": float(bucket_sum[k] / n_k) if n_k else None, "count": n_k})
                interval_sum, interval_n = 0.0, 0
                bucket_sum.zero_()
                bucket_n.zero_()
            bar.update(1, loss=value, lr=optimizer.param_groups[0]["lr"])
            if on_step is not None:
                on_step(done, value)
            if done in wanted_snaps and dist.is_main:
                snap_dir.mkdir(parents=True, exist_ok=True)
                save_safetensors(ema.state_dict(), snap_dir / f"ema_step_{done:08d}.safetensors", {"step": str(done)})
            if done % tcfg["checkpoint_every"] == 0 or done == total:
                if dist.is_main:
                    save(done, seconds_before + time.perf_counter() - t0)
                last_saved = done
            if stop_at_step is not None and done >= stop_at_step:
                break
    seconds = time.perf_counter() - t0
    dist.barrier()  # the other processes check the snapshots rank 0 wrote
    model.eval()
    steps_done = min(max(start, total), total if stop_at_step is None else stop_at_step)
    snapshots = {s_: snap_dir / f"ema_step_{s_:08d}.safetensors" for s_ in wanted_snaps if s_ <= steps_done}
    missing = [str(p) for p in snapshots.values() if not p.exists()]
    if missing:
        raise RuntimeError(f"snapshot weights missing: {', '.join(missing)}; delete {checkpoint_dir} and retrain")
    return TrainResult(model=model, ema_state=ema.state_dict(), history=history, bucket_history=bucket_history,
                       snapshots=snapshots, steps=steps_done, seconds=seconds, resumed_from=start,
                       parameters=params, seconds_total=seconds_before + seconds,
                       steps_this_run=max(0, steps_done - start))
