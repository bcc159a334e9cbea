"""Post-hoc DAE fine-tuning for a DAED (Deja et al. 2022, Sec. 6.2: "first the DDGM and then the DAE").

The denoising auto-encoder is the DDGM's own U-Net, initialised from the DDGM's EMA weights
(:func:`build_dae`), and trained to reconstruct ``x_0`` from ``x_s = q_sample(x_0, s, eps)`` in
one pass with the squared error ``mean_dims (dae(x_s, s) - x_0)^2``
(:func:`diffrepro.diffusion.daed.dae_loss`, the prediction unclamped so the gradient flows).
If the DDGM learned its variance (``2C`` output channels) the DAE keeps the same network and
reads its reconstruction from the first ``C`` channels.

Like a DDGM's, training runs on the engine (:mod:`.engine`, task :class:`DAETask`) and is resumable
and deterministic: the data order of each epoch, the noise of each step and the dropout of each step
come from generators seeded by ``(seed, purpose, index)`` (:mod:`diffrepro.seeding`), and the full
state (weights, EMA, optimizer, loss records) is checkpointed every ``checkpoint_every`` steps. The
checkpoint fingerprint covers the model section, the split step, the hyperparameters that change the
weights at a given step, the seed, the data id and a hash of the DDGM weights, so a retrained DDGM (or
any other change) restarts the DAE from scratch; ``steps``, ``checkpoint_every`` and ``log_every`` are
left out, so extending training resumes. A non-finite loss raises
:class:`.engine.TrainingDivergedError` before the optimizer touches the weights and without saving,
leaving the last checkpoint intact.

Data-parallel training (``torchrun``, :mod:`.distributed`) works as in :mod:`.ddgm`: ``batch_size`` is
the global batch, every process draws the global batch's permutation and noise and keeps its
contiguous rows, DDP averages the gradients (the gradient of the global mean), the logged loss is the
mean over the gathered per-example losses, dropout is drawn per (step, rank), and only rank 0 writes
checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..diffusion.daed import dae_loss
from ..factory import build_diffusion, build_unet
from ..hashing import json_sha256, tensors_sha256
from ..models.unet import UNet, count_parameters
from ..sections import ModelSection, as_model, thawed
from ..sections_pipeline import PosthocTrainSection
from ..seeding import derive_seed, generator
from .ddgm import training_fingerprint
from .engine import LoopResult, LoopSettings, StepResult, TrainingImages, TrainTask, train
from .speed import make_adam, prepare_model, speed_network

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .engine import RunContext, TrainLoop, TrainOptions

__all__ = ["DAETask", "DAETrainResult", "build_dae", "dae_fingerprint", "dae_hyper", "train_dae"]

#: the configuration section of the post-hoc DAE's training (for messages)
KEYS = "daed.posthoc.train."


@dataclass(kw_only=True)
class DAETrainResult(LoopResult):
    """A DAE's run: the engine's result, the fine-tuned network and its number of parameters."""

    model: UNet
    parameters: int


def build_dae(
    model_cfg: ModelSection, ddgm_state: Mapping[str, torch.Tensor], *, image_size: int, channels: int
) -> UNet:
    """The DDGM's U-Net (``factory.build_unet``) with the DDGM's weights ``ddgm_state`` loaded (strict)."""
    model = build_unet(model_cfg, image_size=image_size, channels=channels)
    model.load_state_dict(dict(ddgm_state), strict=True)
    return model


def dae_hyper(train_cfg: PosthocTrainSection) -> dict[str, Any]:
    """The fine-tuning settings of ``daed.posthoc.train`` that change the weights at a given step, as the DAE's
    fingerprint records them."""
    train_cfg = thawed(train_cfg)
    return {
        "batch_size": int(train_cfg["batch_size"]),
        "lr": float(train_cfg["lr"]),
        "ema_decay": float(train_cfg["ema_decay"]),
        "weight_decay": float(train_cfg["weight_decay"]),
        "grad_clip": float(train_cfg["grad_clip"]) if train_cfg["grad_clip"] else None,
    }


def dae_fingerprint(
    model_cfg: ModelSection, *, split_step: int, hyper: dict[str, Any], seed: int, data_id: str, ddgm_hash: str
) -> str:
    """Hash of everything that determines the DAE's weights at a given step: the DDGM run's own
    fingerprint (network, schedule, seed, data), the DDGM weights it starts from, the split step
    and the fine-tuning hyperparameters."""
    return json_sha256(
        {
            "kind": "dae",
            "run": training_fingerprint(model_cfg, seed=seed, data_id=data_id),
            "split_step": int(split_step),
            "hyper": hyper,
            "ddgm": ddgm_hash,
        }
    )


class DAETask(TrainTask):
    """The DAE of split step ``split_step``, fine-tuned from the DDGM's weights ``ddgm_state`` with the settings
    ``train_cfg`` (the ``daed.posthoc.train`` section: ``steps``, ``batch_size``, ``lr``, ``weight_decay``,
    ``grad_clip`` (null: none), ``ema_decay``, ``checkpoint_every``, ``log_every``)."""

    def __init__(
        self,
        images_u8: torch.Tensor,
        model_cfg: ModelSection,
        train_cfg: PosthocTrainSection,
        run: RunContext,
        *,
        ddgm_state: Mapping[str, torch.Tensor],
        split_step: int,
    ) -> None:
        self.run, self.seed, self.device, speed = run, run.seed, run.device, run.speed
        self.model_cfg = model_cfg = as_model(model_cfg)
        train_cfg = thawed(train_cfg)  # plain data (tests give partial mappings)
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            value = train_cfg[name]
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{KEYS}{name} must be a positive int, got {value!r}")
        self.batch_size = batch_size = train_cfg["batch_size"]
        self.images = images = TrainingImages(
            images_u8, batch_size, key=f"{KEYS}batch_size", seed=run.seed, purpose="dae-epoch", device=run.device
        )
        self.settings = LoopSettings.from_section(train_cfg, KEYS, desc="train-dae")
        self.dist = dist = run.dist
        self.local = dist.local_slice(batch_size, f"{KEYS}batch_size")  # this process's rows of a batch
        self.diffusion = build_diffusion(model_cfg)
        T = self.diffusion.num_timesteps
        if isinstance(split_step, bool) or int(split_step) != split_step or not 0 <= split_step < T:
            raise ValueError(f"split_step must be an int with 0 <= s < T={T}, got {split_step!r}")
        self.s, self.T = int(split_step), T

        self.model = model = prepare_model(
            build_dae(model_cfg, ddgm_state, image_size=images.size, channels=images.channels).to(run.device), speed
        )
        self.optimizer = make_adam(
            model.parameters(), speed, lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"]
        )
        self.modules, self.optimizers = {"": model}, {"": self.optimizer}
        self.network = speed_network(dist.wrap(model), speed)
        self.parameters = count_parameters(model)
        self.hyper = dae_hyper(train_cfg)
        self.ddgm_state = ddgm_state

    def fingerprint(self) -> str:
        return dae_fingerprint(
            self.model_cfg,
            split_step=self.s,
            hyper=self.hyper,
            seed=self.seed,
            data_id=self.run.data_id,
            ddgm_hash=tensors_sha256(self.ddgm_state),
        )

    def describe(self) -> str:
        return (
            f"fine-tuning a {self.parameters}-parameter DAE at split step s={self.s} (T={self.T}) for "
            f"{self.settings.steps} steps (batch {self.batch_size}) on {self.device}"
        )

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        _, idx = self.images.order.batch(step)
        x0 = self.images.batch(idx[self.local])
        g = generator(self.seed, "dae-step", step)
        noise = torch.randn((self.batch_size, *x0.shape[1:]), generator=g)[self.local].to(self.device)
        torch.manual_seed(derive_seed(self.seed, "dae-dropout", step, *self.dist.seed_keys()))

        losses = dae_loss(self.network, self.diffusion, x0, self.s, noise)
        global_loss = self.dist.all_gather_ordered(losses.detach()).mean()
        value = float(global_loss)
        loop.optimize(losses.mean(), global_loss, what="DAE loss")  # this process's rows; DDP averages
        return StepResult({"loss": value})

    def extra_state(self) -> dict[str, Any]:
        return {"split_step": self.s}


def train_dae(
    images_u8: torch.Tensor,
    model_cfg: ModelSection,
    train_cfg: PosthocTrainSection,
    *,
    ddgm_state: Mapping[str, torch.Tensor],
    split_step: int,
    on_step: Callable[[int, float], None] | None = None,
    **options: Unpack[TrainOptions],
) -> DAETrainResult:
    """Fine-tune (or resume fine-tuning) a DAE for split step ``split_step`` on uint8 images [N, C, H, W].

    ``model_cfg`` is the DDGM's model section (architecture and schedule); ``ddgm_state`` its EMA
    weights, the DAE's initialisation; ``train_cfg`` the fine-tuning settings (:class:`DAETask`). Each step
    draws a batch (a fresh permutation per epoch), ``eps ~ N(0, I)``, forms ``x_s = q_sample(x0, s, eps)``
    and minimises ``mean (dae(x_s, s) - x0)^2`` with AdamW (constant ``lr``, ``weight_decay``, optional
    gradient-norm clip ``grad_clip``) and keeps an EMA of the weights (``ema_decay``). ``history`` holds the
    mean loss of every ``log_every`` steps. ``options``: :class:`~.engine.TrainOptions` (none of the speed
    switches or the process group enters the fingerprint); ``on_step(step, loss)`` is called after every step.
    """
    task, result = train(
        lambda run: DAETask(images_u8, model_cfg, train_cfg, run, ddgm_state=ddgm_state, split_step=split_step),
        options,
        on_step=None if on_step is None else lambda step, values: on_step(step, values["loss"]),
    )
    return result.extend(DAETrainResult, model=task.model, parameters=task.parameters)
