"""Training of a DDGM: eps-prediction U-Net, AdamW with warmup, EMA, any objective of
``diffusion.losses`` (simple, vlb, hybrid, iwdiff) with any timestep sampler of
``diffusion.resample`` (the sampler's importance weights keep the objective unbiased).

:class:`DDGMTask` is the model kind's task for the training engine (:mod:`.engine`), which resumes,
guards against a non-finite loss, keeps the EMA, logs and checkpoints; :func:`train_ddgm` runs it.
Random draws are functions of (seed, step) (see ``seeding``); besides the engine's state a checkpoint
holds the sampler's loss history and the per-bucket loss records, so a rerun with the same
configuration continues from the last checkpoint bit-identically.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..diffusion.daed import JOINT_OBJECTIVES, joint_training_loss
from ..diffusion.losses import training_loss
from ..factory import build_diffusion, build_timestep_sampler_for, build_unet, model_kind
from ..hashing import json_sha256
from ..models.joint_daed import JointDAED
from ..models.precision import with_precision
from ..models.unet import UNet, count_parameters
from ..sections import ModelSection, TrainConfig, as_model
from ..seeding import derive_seed, generator
from .checkpoint import Checkpoint
from .engine import (
    LoopResult,
    LoopSettings,
    StepResult,
    TrainingDivergedError,
    TrainingImages,
    TrainTask,
    train,
)
from .speed import make_adam, prepare_model, speed_network

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .engine import RunContext, TrainLoop, TrainOptions

__all__ = [
    "DDGMTask",
    "TrainResult",
    "TrainingDivergedError",
    "bucket_edges",
    "snapshot_steps",
    "train_ddgm",
    "training_fingerprint",
]

# Keys of a model's section that do not change what training computes.
# (``data`` names the data set; its content enters the fingerprint as ``data_id``)
NON_TRAINING_KEYS = ("sample", "tables", "data")
NON_TRAINING_TRAIN_KEYS = (
    "steps",
    "checkpoint_every",
    "log_every",
    "snapshots",
    "loss_buckets",
    "resume_with_new_optimizer",
)
#: train keys that set the optimiser, not the network or the data: with ``train.resume_with_new_optimizer`` a run
#: whose settings differ from its checkpoint's in these only resumes from it (:func:`resume_fingerprint`)
OPTIMIZER_TRAIN_KEYS = ("lr", "weight_decay", "warmup_steps", "grad_clip")
NON_TRAINING_UNET_KEYS = ("architecture",)


@dataclass(kw_only=True)
class TrainResult(LoopResult):
    """A DDGM's (or joint DAED's) run: the engine's result, the trained network, the per-bucket loss
    records and the number of parameters."""

    model: UNet | JointDAED
    bucket_history: list[dict[str, Any]]
    parameters: int
    examples: dict[str, int]


def training_fingerprint(model_cfg: ModelSection, *, seed: int, data_id: str) -> str:
    """Hash of everything that determines the weights at a given step: the model section as plain data
    (:meth:`~diffrepro.sections.ModelConfig.as_dict`, every default filled in) less the keys that do not change
    the weights, the seed and the data id.

    The model's ``kind`` enters the hash only when it is not the default ``ddgm``: a joint DAED never
    resumes a DDGM's checkpoint (or the other way round), and a DDGM's fingerprint is the same as
    before model sections had a kind, so existing DDGM checkpoints stay valid.
    """
    return json_sha256(_fingerprinted(model_cfg, seed=seed, data_id=data_id))


def _fingerprinted(model_cfg: ModelSection, *, seed: int, data_id: str, leave_out: tuple[str, ...] = ()) -> dict:
    model = as_model(model_cfg)
    cfg = {k: v for k, v in model.as_dict().items() if k not in NON_TRAINING_KEYS}
    if model_kind(model) == "ddgm":
        cfg.pop("kind", None)
    cfg["train"] = {k: v for k, v in cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS + leave_out}
    cfg["unet"] = {k: v for k, v in cfg["unet"].items() if k not in NON_TRAINING_UNET_KEYS}
    return {"model": cfg, "seed": seed, "data": data_id}


def resume_fingerprint(model_cfg: ModelSection, *, seed: int, data_id: str) -> str:
    """:func:`training_fingerprint` without the optimiser's settings (:data:`OPTIMIZER_TRAIN_KEYS`): equal for two
    runs of one network on one data set that differ in their optimiser only."""
    payload = _fingerprinted(model_cfg, seed=seed, data_id=data_id, leave_out=OPTIMIZER_TRAIN_KEYS)
    return json_sha256({"resume": payload})


def snapshot_steps(train_cfg: TrainConfig) -> list[int]:
    """Training steps at which EMA weights are kept (``train.snapshots`` fractions of ``train.steps``)."""
    return sorted({max(1, round(f * train_cfg.steps)) for f in train_cfg.snapshots})


def bucket_edges(num_timesteps: int, buckets: int) -> list[tuple[int, int]]:
    """``buckets`` contiguous, nearly equal ranges [lo, hi] of 0-based timesteps covering 0..T-1."""
    edges = [round(i * num_timesteps / buckets) for i in range(buckets + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(buckets)]


class DDGMTask(TrainTask):
    """One DDGM, or joint DAED (``kind: daed``), on uint8 images [N, C, H, W] (see the module docstring)."""

    def __init__(self, images_u8: torch.Tensor, model_cfg: ModelSection, run: RunContext) -> None:
        self.run, self.seed, self.device, speed = run, run.seed, run.device, run.speed
        self.model_cfg = model_cfg = as_model(model_cfg)
        self.tcfg = tcfg = model_cfg.train
        self.batch = batch = tcfg.batch_size
        self.images = images = TrainingImages(
            images_u8, batch, key="train.batch_size", seed=run.seed, purpose="epoch", device=run.device
        )
        self.settings = LoopSettings.from_section(
            tcfg.as_dict(), "train.", snapshots=tuple(snapshot_steps(tcfg)), lr=tcfg.lr, warmup_steps=tcfg.warmup_steps
        )
        self.dist = dist = run.dist
        self.local = dist.local_slice(batch, "train.batch_size")  # this process's rows of each global batch
        device = run.device
        self.kind = kind = model_kind(model_cfg)
        self.objective = objective = model_cfg.objective
        self.variance = model_cfg.variance
        if kind == "daed" and objective.name not in JOINT_OBJECTIVES:
            raise ValueError(
                f"a joint DAED is trained with the objective {' or '.join(JOINT_OBJECTIVES)}, got {objective.name!r}"
            )

        torch.manual_seed(derive_seed(run.seed, "init"))
        unet = build_unet(model_cfg, image_size=images.size, channels=images.channels)
        self.model = model = prepare_model(unet.to(device), speed)
        self.diffusion = build_diffusion(model_cfg)
        self.T = T = self.diffusion.num_timesteps
        self.sampler = build_timestep_sampler_for(model_cfg)
        self.optimizer = make_adam(model.parameters(), speed, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        self.modules, self.optimizers = {"": model}, {"": self.optimizer}
        self.parameters = count_parameters(model)
        self.edges = bucket_edges(T, tcfg.loss_buckets)
        self.bucket_of_t = torch.zeros(T, dtype=torch.long)
        for b, (lo, hi) in enumerate(self.edges):
            self.bucket_of_t[lo : hi + 1] = b
        self.bucket_history: list[dict[str, Any]] = []
        self.bucket_sum = torch.zeros(len(self.edges), dtype=torch.float64)
        self.bucket_n = torch.zeros(len(self.edges), dtype=torch.long)

        # bf16 autocast wraps the network call only: weights, optimiser state and loss arithmetic stay float32
        # (DDP: a joint DAED's DAE gets no rows on a process whose rows hold no t == 0)
        self.network = with_precision(
            speed_network(dist.wrap(model, find_unused_parameters=kind == "daed"), speed), tcfg.precision, device
        )
        self.iw_k = objective["k"] if objective.name == "iwdiff" else 1
        # the objective's options as training_loss takes them (hybrid: lambda; iwdiff: k)
        self.loss_options: dict[str, Any] = (
            {"hybrid_lambda": objective["lambda"]}
            if objective.name == "hybrid"
            else {"iwdiff_k": objective["k"]}
            if objective.name == "iwdiff"
            else {}
        )
        self.batch_shape = (batch, *images.shape)
        # training examples drawn at t == 0 and at t > 0: a joint DAED's DAE and generator see these (the summary
        # reports them; a short run with the paper's sampler gives the DAE a few dozen)
        self.examples = {"t0": 0, "t_after": 0}

    def fingerprint(self) -> str:
        return training_fingerprint(self.model_cfg, seed=self.seed, data_id=self.run.data_id)

    def resume_fingerprint(self) -> str | None:
        return resume_fingerprint(self.model_cfg, seed=self.seed, data_id=self.run.data_id)

    def allows_new_optimizer(self) -> bool:
        return as_model(self.model_cfg).train.resume_with_new_optimizer

    def describe(self) -> str:
        m = self.model_cfg
        return (
            f"training {'a joint DAED' if self.kind == 'daed' else 'a DDGM'}: {self.parameters} parameters for "
            f"{self.tcfg.steps} steps (batch {self.batch}, T={self.T}, {m.schedule.name} schedule, "
            f"{self.objective.name} objective, {self.variance} variance, {self.sampler.name} timestep "
            f"sampler) on {self.device}"
        )

    def clip_groups(self, name: str) -> list[list[torch.nn.Parameter]]:
        """Per network: a joint DAED's two networks are clipped separately."""
        if isinstance(self.model, JointDAED):
            return [list(self.model.generator.parameters()), list(self.model.dae.parameters())]
        return super().clip_groups(name)

    def _draw_noise(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The global batch's noise and IWDiff's ``k - 1`` extra noises, drawn from ``g`` in the order
        ``training_loss`` draws them; this process's rows, on ``device``."""
        noise = torch.randn(self.batch_shape, generator=g)[self.local].to(self.device)
        extra = (
            torch.randn((self.iw_k - 1, *self.batch_shape), generator=g)[:, self.local].to(self.device)
            if self.iw_k > 1
            else None
        )
        return noise, extra

    def _losses(
        self,
        x0: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
        g: torch.Generator,
        extra_noise: torch.Tensor | None,
    ) -> torch.Tensor:
        objective = self.objective
        if self.kind == "daed":
            losses, _ = joint_training_loss(
                self.diffusion, self.network, x0, t, noise, objective.name, self.variance, generator=g
            )
            return losses
        losses, _ = training_loss(
            self.diffusion,
            self.network,
            x0,
            t,
            noise,
            objective.name,
            self.variance,
            **self.loss_options,
            generator=g,
            extra_noise=extra_noise,
        )
        return losses

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        dist, local, device = self.dist, self.local, self.device
        _, idx = self.images.order.batch(step)
        x0 = self.images.batch(idx[local])
        g = generator(self.seed, "step", step)
        t_cpu, weights = self.sampler.sample(self.batch, g)  # the global batch's timesteps (t_cpu) and weights
        t, weights = t_cpu.to(device), weights.to(device)
        noise, extra_noise = self._draw_noise(g)
        torch.manual_seed(derive_seed(self.seed, "dropout", step, *dist.seed_keys()))

        losses = self._losses(x0, t[local], noise, g, extra_noise)
        all_losses = dist.all_gather_ordered(losses.detach())  # the global batch's, in its order
        loss = (losses * weights[local]).mean()  # DDP averages the processes' gradients
        global_loss = (all_losses * weights).mean()
        value = float(global_loss)
        loop.optimize(loss, global_loss)

        per_example = all_losses.to("cpu", torch.float64)
        self.sampler.update(t_cpu, per_example)
        if self.sampler.extra_forward_evaluations:
            # coursework "Importance Sampling +2": extra forward-only loss evaluations per step,
            # at uniformly drawn t, refresh the sampler's loss history without a backward pass
            g_extra = generator(self.seed, "extra", step)
            with torch.no_grad():
                for _ in range(self.sampler.extra_forward_evaluations):
                    t_extra = torch.randint(0, self.T, (self.batch,), generator=g_extra)
                    noise_extra, extra_noise_extra = self._draw_noise(g_extra)
                    extra = self._losses(x0, t_extra[local].to(device), noise_extra, g_extra, extra_noise_extra)
                    self.sampler.update(t_extra, dist.all_gather_ordered(extra).to("cpu", torch.float64))
        at_zero = int((t_cpu == 0).sum())
        self.examples["t0"] += at_zero
        self.examples["t_after"] += len(t_cpu) - at_zero
        b = self.bucket_of_t[t_cpu]
        self.bucket_sum.index_add_(0, b, per_example)
        self.bucket_n.index_add_(0, b, torch.ones_like(b))
        return StepResult({"loss": value})

    def on_interval(self, done: int) -> None:
        """The mean unweighted loss per timestep bucket over the interval."""
        for k, (lo, hi) in enumerate(self.edges):
            n_k = int(self.bucket_n[k])
            self.bucket_history.append(
                {
                    "step": done,
                    "bucket": k,
                    "t_first": lo + 1,
                    "t_last": hi + 1,
                    "loss": float(self.bucket_sum[k] / n_k) if n_k else None,
                    "count": n_k,
                }
            )
        self.bucket_sum.zero_()
        self.bucket_n.zero_()

    def extra_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"sampler": self.sampler.state_dict()}

    def extra_state(self) -> dict[str, Any]:
        return {"bucket_history": self.bucket_history, "examples": dict(self.examples)}

    def load_extra(self, ckpt: Checkpoint) -> None:
        if ckpt.tensors.get("sampler"):
            self.sampler.load_state_dict(ckpt.tensors["sampler"])
        self.bucket_history = list(ckpt.state.get("bucket_history", []))
        if "examples" in ckpt.state:
            self.examples = {k: int(v) for k, v in ckpt.state["examples"].items()}


def train_ddgm(
    images_u8: torch.Tensor,
    model_cfg: ModelSection,
    *,
    on_step: Callable[[int, float], None] | None = None,
    **options: Unpack[TrainOptions],
) -> TrainResult:
    """Train (or resume training) one DDGM, or joint DAED (``kind: daed``), on uint8 images [N, C, H, W].

    ``options``: :class:`~.engine.TrainOptions` (seed, checkpoint_dir, data_id, device, stop_at_step, speed,
    distributed; the steps pass ``device=distributed.device``); ``on_step(step, loss)`` is called after every
    step.
    """
    task, result = train(
        lambda run: DDGMTask(images_u8, model_cfg, run),
        options,
        on_step=None if on_step is None else lambda step, values: on_step(step, values["loss"]),
    )
    return result.extend(
        TrainResult,
        model=task.model,
        bucket_history=task.bucket_history,
        parameters=task.parameters,
        examples=dict(task.examples),
    )
