"""Training loop of a DDDM (Zhang et al. 2024, Algorithm 1): an x0-predicting U-Net conditioned on its
own previous estimate x_bar of each training image.

Per epoch (0-based) the first ``train.subset`` training images are visited once in a seeded
permutation (the last batch of an epoch may be smaller). For a batch: x_bar is read from the
:class:`~diffrepro.training.xbar_store.XBarStore` by the images' data-set indices, ``t`` is uniform
on ``0..T-1``, the loss is :func:`~diffrepro.diffusion.dddm.dddm_loss` with ``w = 1 / (epoch + 1)``,
and the model's output (detached) is written back to the store at the same indices. Adam with a
constant learning rate (paper Sec. 5.1), optional gradient-norm clipping, EMA of the weights.

Training runs on the engine (:mod:`.engine`, task :class:`DDDMTask`), resumable and deterministic like a
DDGM's: random draws are functions of (seed, step); every ``checkpoint_every`` steps and at the end a
checkpoint holds the weights, EMA, optimizer, history and a snapshot of the store; a rerun restores all
of it (overwriting the live store file, which may have run ahead of the checkpoint), so it ends
bit-identical to an uninterrupted run. A non-finite loss stops the run before the optimizer or the store
is touched, leaving the last good checkpoint intact.

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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..config import ConfigError
from ..diffusion.dddm import build_dddm_unet, dddm_loss, loss_weight
from ..diffusion.dddm_losses import Metric, build_metric, metric_label, normalize_metric
from ..diffusion.schedules import alphas_cumprod as compute_alphas_cumprod
from ..diffusion.schedules import get_beta_schedule
from ..hashing import json_sha256
from ..models.precision import with_precision
from ..models.unet import UNet, count_parameters
from ..runlog import get_logger
from ..schema import without_defaults
from ..sections import thawed
from ..sections_pipeline import DDDMRunSection, DDDMSection
from ..seeding import derive_seed, generator
from .checkpoint import Checkpoint
from .engine import LoopResult, LoopSettings, StepResult, TrainingImages, TrainTask, train
from .speed import make_adam, prepare_model, speed_network
from .xbar_store import XBarStore

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .engine import RunContext, TrainLoop, TrainOptions

__all__ = [
    "DDDMTask",
    "DDDMTrainResult",
    "train_dddm",
    "check_labels",
    "dddm_fingerprint",
    "dddm_betas",
    "epoch_order",
    "images_used",
    "steps_per_epoch",
]

#: keys of ``dddm.train`` that do not change what training computes at a given step
NON_TRAINING_TRAIN_KEYS = ("epochs", "checkpoint_every", "log_every")
#: name of the store's snapshot inside a checkpoint directory
XBAR_GROUP = "xbar"
#: the configuration section of the DDDM's training (for messages)
KEYS = "dddm.train."
#: the purpose of the seeds of the epochs' data orders (:func:`epoch_order`)
EPOCH_PURPOSE = "dddm-epoch"


@dataclass(kw_only=True)
class DDDMTrainResult(LoopResult):
    """A DDDM's run: the engine's result, the network, the run's length in steps, its number of
    parameters, the training images used, whether its metric is reportable, and the x_bar store (None on
    the processes of a data-parallel run other than rank 0)."""

    model: UNet
    total_steps: int
    parameters: int
    images_used: int
    reportable: bool
    store: XBarStore | None


def dddm_betas(dddm_cfg: DDDMSection) -> torch.Tensor:
    """The beta schedule of ``dddm.schedule`` (a name or ``{name, **options}``) over ``dddm.timesteps``."""
    dddm_cfg = thawed(dddm_cfg)
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
    return torch.randperm(n, generator=generator(seed, EPOCH_PURPOSE, epoch))


def dddm_fingerprint(
    dddm_cfg: DDDMSection,
    run_cfg: DDDMRunSection,
    *,
    seed: int,
    data_id: str,
    reportable: bool = True,
    num_classes: int = 0,
) -> str:
    """Hash of everything that determines the weights and the store at a given step (a test-only,
    non-reportable metric never shares checkpoints with the real one). ``dddm.unet`` enters it as written
    by one who leaves its defaults out (:func:`~diffrepro.schema.without_defaults`; the fingerprint of a section
    without those keys, as every preset writes it, is the one it had before they were filled in). The sections
    are hashed as plain data (``as_dict()`` of typed ones)."""
    dddm_cfg, run_cfg = thawed(dddm_cfg), thawed(run_cfg)
    train = {k: v for k, v in dddm_cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS}
    unet = {k: v for k, v in without_defaults(dddm_cfg["unet"], "dddm.unet").items() if k != "architecture"}
    conditioning = dddm_cfg.get("conditioning", "concat")
    return json_sha256(
        {
            "kind": "dddm",
            "timesteps": dddm_cfg["timesteps"],
            "schedule": dddm_cfg["schedule"],
            "unet": unet,
            # the paper's conditioning enters it; concatenation (the first and default) leaves it as it was
            **({} if conditioning == "concat" else {"conditioning": conditioning}),
            "train": train,
            "metric": normalize_metric(run_cfg["metric"]),
            "seed": seed,
            "data": data_id,
            **({} if reportable else {"reportable": False}),
            # a class-conditional run's label embedding (an unconditional run's fingerprint is as it was)
            **({"num_classes": num_classes} if num_classes else {}),
        }
    )


def check_labels(
    run_cfg: DDDMRunSection, labels: torch.Tensor | None, num_classes: int, n: int
) -> tuple[int, torch.Tensor | None]:
    """``(num_classes, labels)`` the network is conditioned on: ``(0, None)`` for a run that is not
    ``class_conditional`` (labels given to one are an error, as are none given to a conditional run, or labels
    outside ``0..num_classes-1``)."""
    conditional = bool(thawed(run_cfg).get("class_conditional"))
    if not conditional:
        if labels is not None:
            raise ValueError("class labels given to a DDDM run that is not class_conditional")
        return 0, None
    if labels is None or num_classes < 2:
        raise ValueError(
            f"a class_conditional DDDM run needs the images' labels and at least 2 classes (got "
            f"{'no labels' if labels is None else f'labels of shape {tuple(labels.shape)}'}, num_classes={num_classes})"
        )
    if labels.dtype != torch.int64 or labels.shape != (n,):
        raise ValueError(f"class labels must be int64 of shape ({n},), got {labels.dtype} {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"class labels must lie in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    return int(num_classes), labels


class DDDMTask(TrainTask):
    """One DDDM run (``run_cfg``: its metric) on uint8 images ``[N, C, H, W]``; its x_bar store lives in
    ``store_dir`` (the checkpoint folder; under the run's fingerprint). ``metric`` overrides
    ``run_cfg["metric"]`` (tests: a random-backbone LPIPS); it must be the same metric. ``labels`` (int64 ``[N]``,
    needed when the run is ``class_conditional``): the images' classes, of ``num_classes`` (the data set's)."""

    def __init__(
        self,
        images_u8: torch.Tensor,
        dddm_cfg: DDDMSection,
        run: RunContext,
        *,
        run_cfg: DDDMRunSection,
        store_dir: str | Path,
        metric: Metric | None = None,
        labels: torch.Tensor | None = None,
        num_classes: int = 0,
    ) -> None:
        self.run, self.seed, self.device, speed = run, run.seed, run.device, run.speed
        # the sections as plain data (tests give partial mappings)
        self.dddm_cfg, self.run_cfg = dddm_cfg, run_cfg = thawed(dddm_cfg), thawed(run_cfg)
        self.tcfg = tcfg = dddm_cfg["train"]
        n_all = images_u8.shape[0]
        self.num_classes, self.labels = check_labels(run_cfg, labels, num_classes, n_all)
        n = images_used(n_all, tcfg["subset"])
        if tcfg["subset"] is not None and tcfg["subset"] > n_all:
            get_logger().info(
                "%ssubset=%d exceeds the %d training images: using all of them", KEYS, tcfg["subset"], n_all
            )
        self.batch = batch = tcfg["batch_size"]
        per_epoch = steps_per_epoch(n, batch)
        # each epoch's order is epoch_order(seed, epoch, n), cut into batches (the last one smaller)
        self.images = images = TrainingImages(
            images_u8,
            batch,
            key=f"{KEYS}batch_size",
            seed=run.seed,
            purpose=EPOCH_PURPOSE,
            device=run.device,
            n=n,
            steps_per_epoch=per_epoch,
        )
        self.settings = LoopSettings.from_section(tcfg, KEYS, steps=tcfg["epochs"] * per_epoch, desc="train dddm")
        self.dist = dist = run.dist
        dist.local_slice(batch, f"{KEYS}batch_size")  # full batches split evenly over the processes
        if 0 < n % batch < dist.world_size:  # every process needs a row of the last batch (the metric needs one)
            raise ConfigError(
                f"the last batch of each epoch holds {n % batch} of the {n} images used "
                f"({KEYS}subset, modulo {KEYS}batch_size={batch}), fewer than the "
                f"{dist.world_size} training processes (distributed.nproc_per_node); use a subset "
                f"that leaves no remainder or one of at least {dist.world_size}"
            )
        if metric is None:
            metric = build_metric(run_cfg["metric"])
        elif metric.spec != normalize_metric(run_cfg["metric"]):
            raise ValueError(f"metric {metric!r} is not the run's metric {run_cfg['metric']!r}")
        self.metric, device = metric, run.device

        torch.manual_seed(derive_seed(run.seed, "init"))
        self.model = model = prepare_model(
            build_dddm_unet(
                dddm_cfg["unet"],
                image_size=images.size,
                channels=images.channels,
                conditioning=dddm_cfg.get("conditioning", "concat"),
                num_classes=self.num_classes,
            ).to(device),
            speed,
        )
        self.ab = compute_alphas_cumprod(dddm_betas(dddm_cfg))
        self.T = dddm_cfg["timesteps"]
        self.optimizer = make_adam(model.parameters(), speed, decoupled=False, lr=tcfg["lr"])
        self.modules, self.optimizers = {"": model}, {"": self.optimizer}
        self.parameters = count_parameters(model)
        self.store = (
            XBarStore(Path(store_dir) / f"xbar-{self.fingerprint()[:16]}", n, images.shape, tcfg["store_dtype"])
            if dist.is_main
            else None
        )
        self.network = with_precision(speed_network(dist.wrap(model), speed), tcfg["precision"], device)

    def fingerprint(self) -> str:
        return dddm_fingerprint(
            self.dddm_cfg,
            self.run_cfg,
            seed=self.seed,
            data_id=self.run.data_id,
            reportable=self.metric.reportable,
            num_classes=self.num_classes,
        )

    def describe(self) -> str:
        tcfg, sched = self.tcfg, self.dddm_cfg["schedule"]
        flag = "" if self.metric.reportable else " [NOT REPORTABLE: random backbone]"
        return (
            f"training a DDDM: {self.parameters} parameters, {tcfg['epochs']} epochs x "
            f"{self.images.order.steps_per_epoch} steps (batch {self.batch}, {self.images.n} images, T={self.T}, "
            f"{sched if isinstance(sched, str) else sched['name']} schedule, metric "
            f"{metric_label(self.metric.spec)}{flag}, {tcfg['store_dtype']} store) on {self.device}"
        )

    def reject(self, ckpt: Checkpoint) -> str | None:
        if not (ckpt.path / f"{XBAR_GROUP}.safetensors").is_file():
            return f"checkpoint {ckpt.path} holds no x_bar snapshot"
        return None

    def start_fresh(self) -> None:
        if self.store is not None:
            self.store.initialize(self.seed)

    def load_extra(self, ckpt: Checkpoint) -> None:
        """The store's snapshot overwrites the live file, which may have run ahead of the checkpoint."""
        if self.store is not None:
            self.store.load_safetensors(ckpt.path / f"{XBAR_GROUP}.safetensors")

    def extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        assert self.store is not None  # rank 0 writes the checkpoints
        return {XBAR_GROUP: self.store.state_tensors()}

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        dist, device, store = self.dist, self.device, self.store
        epoch, idx = self.images.order.batch(step)  # the global batch's data-set indices
        nb = idx.numel()
        lo, hi = dist.local_range(nb)  # this process's rows
        x0 = self.images.batch(idx[lo:hi])
        x_bar = store.get(idx).to(device) if store is not None else torch.empty((nb, *self.images.shape), device=device)
        x_bar = dist.broadcast(x_bar)[lo:hi]  # rank 0's store rows
        g = generator(self.seed, "step", step)
        t = torch.randint(0, self.T, (nb,), generator=g)[lo:hi].to(device)
        noise = torch.randn((nb, *self.images.shape), generator=g)[lo:hi].to(device)
        torch.manual_seed(derive_seed(self.seed, "dropout", step, *dist.seed_keys()))
        w = loss_weight(epoch)

        y = None if self.labels is None else self.labels[idx[lo:hi]].to(device)
        losses, f = dddm_loss(
            self.network, x0, x_bar, t, noise, self.ab, self.metric, w, self.dddm_cfg.get("conditioning", "concat"), y
        )
        loss = dist.local_mean(losses, nb)  # DDP's average over the processes: the global mean
        global_loss = dist.all_gather_ordered(losses.detach(), nb).mean()
        value = float(global_loss)
        loop.optimize(loss, global_loss, what="DDDM loss")
        f_all = dist.all_gather_ordered(f.detach(), nb)  # every process's outputs, in global order
        if store is not None:
            store.put(idx, f_all)
        return StepResult({"loss": value}, latest={"epoch": epoch, "w": w}, postfix={"epoch": epoch, "loss": value})

    def finish(self) -> None:
        if self.store is not None:
            self.store.flush()


def train_dddm(
    images_u8: torch.Tensor,
    dddm_cfg: DDDMSection,
    run_cfg: DDDMRunSection,
    *,
    metric: Metric | None = None,
    labels: torch.Tensor | None = None,
    num_classes: int = 0,
    **options: Unpack[TrainOptions],
) -> DDDMTrainResult:
    """Train (or resume) one DDDM on uint8 images ``[N, C, H, W]`` (and, for a ``class_conditional`` run, their
    int64 class ``labels`` ``[N]`` among ``num_classes``).

    ``metric`` overrides ``run_cfg["metric"]`` (tests: a random-backbone LPIPS); it must be the same metric.
    ``options``: :class:`~.engine.TrainOptions` (``stop_at_step`` simulates a kill; neither the speed switches
    nor the process group enter the fingerprint, see the module docstring).
    """
    task, result = train(
        lambda run: DDDMTask(
            images_u8,
            dddm_cfg,
            run,
            run_cfg=run_cfg,
            store_dir=options["checkpoint_dir"],
            metric=metric,
            labels=labels,
            num_classes=num_classes,
        ),
        options,
    )
    return result.extend(
        DDDMTrainResult,
        model=task.model,
        total_steps=task.settings.steps,
        parameters=task.parameters,
        images_used=task.images.n,
        reportable=task.metric.reportable,
        store=task.store,
    )
