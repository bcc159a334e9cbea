"""One training loop for every model kind, in the spirit of improved-diffusion's ``TrainLoop``.

A model kind (DDGM or joint DAED, post-hoc DAE, SNGAN, DDDM, the metric classifier) is a :class:`TrainTask`,
built from its training images, its configuration section and its :class:`RunContext` (seed, data id,
device, speed switches, process group): it builds its networks and optimisers, names them (``modules``,
``optimizers``), says how it is trained (:class:`LoopSettings`) and computes one step
(:meth:`TrainTask.step`: draw the batch, compute the loss, hand it to :meth:`TrainLoop.optimize`), plus any
state of its own a checkpoint must hold (a timestep sampler's loss history, the DDDM's x_bar store, loss
records). :class:`TrainLoop` does everything the kinds do alike:

* **resume**: checkpoints live in a :class:`~.checkpoint.CheckpointStore` under the task's fingerprint (a
  hash of everything that determines the weights at a given step; a changed configuration never resumes).
  The latest one is resumed unless it is past the run's last step, lacks an EMA snapshot the run asks
  for, or the task rejects it (:meth:`TrainTask.reject`); then training starts again from scratch
  (:meth:`TrainTask.start_fresh`). Every random draw of a step is a function of (seed, step)
  (:mod:`diffrepro.seeding`) and a checkpoint holds the whole state, so a resumed run ends bit-identical
  to an uninterrupted one;
* **the learning rate**: with ``LoopSettings.lr`` every optimiser's rate at step ``i`` (0-based) is
  ``lr * min(1, (i + 1) / warmup_steps)``; without it the optimisers keep the rates they were built with;
* **the NaN guard**: :meth:`TrainLoop.optimize` checks the monitored loss before the optimiser touches the
  weights; a non-finite one raises :class:`TrainingDivergedError` without saving, so the last good
  checkpoint stays intact;
* **gradient clipping** (``LoopSettings.grad_clip``, each of the task's :meth:`~TrainTask.clip_groups`
  separately) and the **EMA** of one network (``TrainTask.ema_module``), updated right after every step
  of that network's optimiser;
* **interval logging and progress**: the means of a step's ``values`` over every ``log_every`` steps (and
  over the last steps of the run) form the history; a :class:`~diffrepro.runlog.Progress` bar shows every
  step and mirrors itself into the log;
* **checkpoints** every ``checkpoint_every`` steps and at the end, and EMA **snapshots** at the steps
  ``LoopSettings.snapshots`` (beside the checkpoints, in ``snapshots-<fingerprint[:16]>``, so a changed
  configuration never reuses them);
* **data parallelism** (:mod:`.distributed`): the task splits each global batch over the processes and
  gathers what must see all of it; the loop lets rank 0 alone write checkpoints and snapshots and show
  progress, and every rank resumes from the same checkpoint.

A checkpoint holds the tensor groups ``model`` (every network's state dict, the keys of network ``NAME``
prefixed ``NAME.``, none for the network named ``""``), ``ema`` and ``optimizer`` (tensors prefixed
``NAME/``), then the task's own groups; its JSON state the optimisers' param groups (``optimizer_NAME``,
``optimizer`` for ``""``), ``history``, ``seconds`` (training time over all runs) and the task's entries.

Every kind's training function (``train_ddgm(images, cfg, **options)``, ...) is :func:`train`: it takes the
keyword arguments :class:`TrainOptions`, builds the task and runs :meth:`TrainLoop.run`, which trains to the
end; :meth:`TrainLoop.begin` and :meth:`TrainLoop.train_step` run the same steps one at a time
(``diffrepro bench`` times them, :mod:`diffrepro.perf.workloads`). A training step calls its kind's function
through :func:`~.launch.train_in_step`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import torch
from torch import Tensor, nn

from ..errors import DiffreproError
from ..imaging import to_model_range
from ..runlog import Progress, get_logger
from ..seeding import generator
from ..tensorfile import save_safetensors
from .checkpoint import Checkpoint, CheckpointStore, directory_lock, optimizer_from_tensors, optimizer_to_tensors
from .distributed import Distributed
from .ema import EMA

__all__ = [
    "EpochOrder",
    "LoopResult",
    "LoopSettings",
    "RunContext",
    "StepResult",
    "TrainLoop",
    "TrainOptions",
    "TrainTask",
    "TrainingDivergedError",
    "TrainingImages",
    "train",
]

R = TypeVar("R", bound="LoopResult")
T = TypeVar("T", bound="TrainTask")


class TrainingDivergedError(DiffreproError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class RunContext:
    """A task's run besides its configuration: the ``seed`` every random draw derives from, the training data's
    id (its content hash, part of the fingerprint), the ``device``, the ``speed`` switches (:mod:`.speed`, never
    part of a fingerprint) and this process's place in a data-parallel group (``distributed``; default: a
    single process on ``device``; not part of the fingerprint either)."""

    seed: int
    data_id: str = ""
    device: str = "cpu"
    speed: dict[str, Any] | None = None
    distributed: Distributed | None = None

    @property
    def dist(self) -> Distributed:
        """This process's place in the data-parallel group."""
        return Distributed.single(self.device) if self.distributed is None else self.distributed


class _RequiredOptions(TypedDict):
    seed: int
    checkpoint_dir: str | Path
    data_id: str


class TrainOptions(_RequiredOptions, total=False):
    """The keyword arguments of every model kind's training function: ``seed``, ``data_id``, ``device``, ``speed``
    and ``distributed`` (the :class:`RunContext`), ``checkpoint_dir`` (the run's checkpoints, snapshots and
    scratch) and ``stop_at_step`` (end after that step as if the job were killed: tests of resumption)."""

    device: str
    stop_at_step: int | None
    speed: dict[str, Any] | None
    distributed: Distributed | None


class EpochOrder:
    """The data order of a run: a permutation of the data set's indices per epoch (``permutation(epoch)``,
    drawn when the epoch is first reached and moved to ``device``), cut into ``steps_per_epoch`` batches of
    ``batch_size`` (the last one smaller when the epoch has a remainder)."""

    def __init__(
        self,
        permutation: Callable[[int], Tensor],
        steps_per_epoch: int,
        batch_size: int,
        device: str | torch.device = "cpu",
    ) -> None:
        self.permutation, self.steps_per_epoch, self.batch_size = permutation, steps_per_epoch, batch_size
        self.device = device
        self._epoch: int | None = None
        self._perm = torch.empty(0, dtype=torch.long)

    def batch(self, index: int) -> tuple[int, Tensor]:
        """``(epoch, indices)`` of the ``index``-th batch (0-based, counted over all epochs)."""
        epoch, i = divmod(index, self.steps_per_epoch)
        if epoch != self._epoch:
            self._perm = self.permutation(epoch).to(self.device)
            self._epoch = epoch
        return epoch, self._perm[i * self.batch_size : (i + 1) * self.batch_size]


class TrainingImages:
    """A task's training images: uint8 ``[N, C, H, W]`` (square), the first ``n`` of them (default: all), kept
    as uint8 on ``device`` and handed out as float32 in [-1, 1] one batch at a time (:meth:`batch`: a float32
    copy of the whole set would take 4x its bytes, 8 GB for CelebA's 162,770 64x64 images, 63 GB for
    ImageNet-64), visited in batches of ``batch_size`` (``order``): epoch ``e`` visits
    ``torch.randperm(n, generator=generator(seed, purpose, e))`` in ``steps_per_epoch`` batches (default: the
    epoch's remainder is dropped). ``key`` names the batch size's configuration key in errors."""

    def __init__(
        self,
        images_u8: Tensor,
        batch_size: int,
        *,
        key: str,
        seed: int,
        purpose: str,
        device: str | torch.device = "cpu",
        n: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        n_all, channels, height, width = images_u8.shape
        if height != width:
            raise ValueError(f"images must be square, got {height}x{width}")
        self.n, self.channels, self.size = int(n_all if n is None else n), int(channels), int(height)
        if batch_size > self.n:
            raise ValueError(f"{key}={batch_size} exceeds the {self.n} training images{'' if n is None else ' used'}")
        if images_u8.dtype != torch.uint8:
            raise TypeError(f"training images must be uint8, got {images_u8.dtype}")
        self.images_u8 = images_u8[: self.n].to(device)
        per_epoch = self.n // batch_size if steps_per_epoch is None else steps_per_epoch
        self.order = EpochOrder(
            lambda epoch: torch.randperm(self.n, generator=generator(seed, purpose, epoch)),
            per_epoch,
            batch_size,
            device,
        )

    def batch(self, indices: Tensor) -> Tensor:
        """The images at ``indices`` as float32 in [-1, 1] (:func:`~diffrepro.imaging.to_model_range`)."""
        return to_model_range(self.images_u8[indices])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return self.channels, self.size, self.size


@dataclass(frozen=True)
class LoopSettings:
    """How a task is trained: the run's length and cadences, and what the loop does around every step.

    ``checkpoint_every`` is None for a task that never checkpoints (the classifier); otherwise it must be a
    multiple of ``log_every`` (a resumed run starts on a logging boundary). ``keys`` prefixes the
    configuration keys in messages (``"train."``), ``hint`` says what to change after a diverged loss,
    ``desc`` labels the progress bar and ``step_name`` names a step in messages.
    """

    steps: int
    log_every: int
    checkpoint_every: int | None = None
    snapshots: tuple[int, ...] = ()
    lr: float | None = None
    warmup_steps: int = 0
    grad_clip: float | None = None
    ema_decay: float | None = None
    keys: str = ""
    hint: str = "lower the learning rate"
    desc: str = "train"
    step_name: str = "step"

    def __post_init__(self) -> None:
        if self.checkpoint_every is not None and self.checkpoint_every % self.log_every:
            raise ValueError(
                f"{self.keys}checkpoint_every must be a multiple of log_every "
                f"(got {self.checkpoint_every} and {self.log_every})"
            )

    @classmethod
    def from_section(cls, train_cfg: dict[str, Any], keys: str, **more: Any) -> LoopSettings:
        """The settings of a configuration's ``train`` section (at ``keys``): its ``steps``, ``log_every``,
        ``checkpoint_every``, ``ema_decay`` and ``grad_clip`` (absent: no clipping), then ``more``."""
        return cls(
            **{
                "steps": train_cfg.get("steps"),
                "log_every": train_cfg["log_every"],
                "checkpoint_every": train_cfg["checkpoint_every"],
                "ema_decay": train_cfg["ema_decay"],
                "grad_clip": train_cfg.get("grad_clip"),
                "keys": keys,
                "hint": f"lower {keys}lr or set {keys}grad_clip",
                **more,
            }
        )


@dataclass
class StepResult:
    """What one step reports: ``values`` (their means over each logging interval form the history),
    ``latest`` (recorded as they are at an interval's last step, e.g. the DDDM's epoch) and the progress
    bar's ``postfix`` (default: ``values``)."""

    values: dict[str, float]
    latest: dict[str, Any] = field(default_factory=dict)
    postfix: dict[str, Any] | None = None


@dataclass
class LoopResult:
    """A finished (or, with ``stop_at_step``, interrupted) run: the history, the EMA weights (None without
    an EMA), the snapshots' files by step, the last step done, the step it resumed from and the training
    seconds of this run and of all runs that made these weights."""

    history: list[dict[str, Any]]
    ema_state: dict[str, Tensor] | None
    snapshots: dict[int, Path]
    steps: int
    resumed_from: int
    seconds: float
    seconds_total: float

    @property
    def steps_this_run(self) -> int:
        return max(0, self.steps - self.resumed_from)

    def extend(self, cls: type[R], **more: Any) -> R:
        """This result as a model kind's result class ``cls`` (a subclass) with its own fields ``more``."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(LoopResult)}, **more)


class TrainTask(ABC):
    """What a model kind supplies to :class:`TrainLoop`; subclasses set the attributes in ``__init__`` and
    implement :meth:`step` (and :meth:`fingerprint` when they are checkpointed)."""

    settings: LoopSettings
    run: RunContext
    #: the networks by name (the checkpoint's ``model`` keys are prefixed ``NAME.``, none for ``""``)
    modules: dict[str, nn.Module]
    #: the optimisers, by the name of the network each one updates
    optimizers: dict[str, torch.optim.Optimizer]
    #: the network whose EMA the loop keeps (None: no EMA)
    ema_module: str | None = ""

    def fingerprint(self) -> str:
        """Hash of everything that determines the weights at a given step (keys the checkpoints)."""
        raise TypeError(f"{type(self).__name__} keeps no checkpoints (it has no fingerprint)")

    def resume_fingerprint(self) -> str | None:
        """:meth:`fingerprint` without the optimiser's settings (None: the task never resumes with other ones)."""
        return None

    def allows_new_optimizer(self) -> bool:
        """Whether a checkpoint that differs in its optimiser settings only is resumed (with this run's)."""
        return False

    def describe(self) -> str:
        """One line for the log when training starts."""
        return f"training {type(self).__name__}"

    def clip_groups(self, name: str) -> list[list[nn.Parameter]]:
        """The parameter groups whose gradient norms are clipped separately, for optimiser ``name``."""
        return [list(self.modules[name].parameters())]

    @abstractmethod
    def step(self, step: int, loop: TrainLoop) -> StepResult:
        """Train step ``step`` (0-based): draw its batch, compute the loss, update with ``loop.optimize``."""

    def reject(self, ckpt: Checkpoint) -> str | None:
        """Why ``ckpt`` (of this run's fingerprint) cannot be resumed, or None."""
        return None

    def start_fresh(self) -> None:
        """Set the task's own state for a run from step 0 (no checkpoint resumed)."""
        return None  # nothing by default

    def extra_tensors(self) -> dict[str, dict[str, Tensor]]:
        """The task's own tensor groups of a checkpoint (one safetensors file each). A resumed checkpoint's
        ``tensors`` hold the group ``sampler``; :meth:`load_extra` reads any other from ``ckpt.path``."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """The task's own JSON entries of a checkpoint."""
        return {}

    def load_extra(self, ckpt: Checkpoint) -> None:
        """Restore the task's own state from a resumed checkpoint."""
        return None  # nothing by default

    def on_interval(self, done: int) -> None:
        """Called when the history gets its record of step ``done``."""
        return None  # nothing by default

    def finish(self) -> None:
        """Called once training stops."""
        return None  # nothing by default


def _prefix(name: str, sep: str) -> str:
    return f"{name}{sep}" if name else ""


def _prefixed(prefix: str, d: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}{k}": v for k, v in d.items()}


def _unprefixed(prefix: str, d: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)}


def _optimizer_key(name: str) -> str:
    return f"optimizer_{name}" if name else "optimizer"


class TrainLoop:
    """Trains a :class:`TrainTask` (see the module docstring).

    ``checkpoint_dir``: where the run's checkpoints and snapshots live (None: none are kept);
    ``stop_at_step`` ends the run after that step as if the job were killed (tests of resumption);
    ``on_step(step, values)`` is called after every step; ``progress`` shows the bar (on rank 0);
    ``log`` receives the loop's messages (default: the run's logger).
    """

    def __init__(
        self,
        task: TrainTask,
        *,
        checkpoint_dir: str | Path | None = None,
        stop_at_step: int | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.task, self.settings, self.dist = task, task.settings, task.run.dist
        s = self.settings
        self.stop_at_step, self.on_step, self.progress = stop_at_step, on_step, progress
        self.log = log if log is not None else get_logger().info
        self.store: CheckpointStore | None = None
        self.snap_dir: Path | None = None
        if checkpoint_dir is not None:
            if s.checkpoint_every is None:
                raise ValueError(f"{type(task).__name__} keeps no checkpoints, but a checkpoint folder was given")
            run_fp = task.fingerprint()
            self.store = CheckpointStore(
                checkpoint_dir,
                run_fp,
                warn=self.log,
                resume_fingerprint=task.resume_fingerprint(),
                allow_new_optimizer=task.allows_new_optimizer(),
            )
            self.snap_dir = Path(checkpoint_dir) / f"snapshots-{run_fp[:16]}"
        elif s.snapshots:
            raise ValueError("EMA snapshots are kept beside the checkpoints: give a checkpoint folder")
        self.ema = (
            EMA(task.modules[task.ema_module], s.ema_decay)
            if task.ema_module is not None and s.ema_decay is not None
            else None
        )
        self._clip = {name: task.clip_groups(name) for name in task.optimizers} if s.grad_clip else {}
        self.history: list[dict[str, Any]] = []
        self.start = self.last_saved = self.current = 0
        self.seconds_before = 0.0

    # ------------------------------------------------------------------ modes
    def train(self) -> None:
        """Every network in training mode."""
        for module in self.task.modules.values():
            module.train()

    def eval(self) -> None:
        """Every network in evaluation mode."""
        for module in self.task.modules.values():
            module.eval()

    # ------------------------------------------------------------------ resume and checkpoints
    def snapshot_path(self, step: int) -> Path:
        assert self.snap_dir is not None
        return self.snap_dir / f"ema_step_{step:08d}.safetensors"

    def _resumable(self) -> Checkpoint | None:
        if self.store is None:
            return None
        s = self.settings
        ckpt, reason = self.store.load_latest()
        self.log(reason)
        if ckpt is None:
            return None
        lost = [step for step in s.snapshots if step <= ckpt.step and not self.snapshot_path(step).exists()]
        if ckpt.step > s.steps:
            why = f"checkpoint step {ckpt.step} is past the run's last step {s.steps}"
        elif lost:
            why = f"snapshots at steps {lost} were not kept by the run that wrote the checkpoint (step {ckpt.step})"
        else:
            why = self.task.reject(ckpt)
        if why is not None:
            self.log(f"{why}: training again from scratch")
            return None
        return ckpt

    def _load(self, ckpt: Checkpoint) -> None:
        task = self.task
        for name, module in task.modules.items():
            module.load_state_dict(_unprefixed(_prefix(name, "."), ckpt.tensors["model"]))
        if self.ema is not None:
            self.ema.load_state_dict(ckpt.tensors["ema"])
        opt_tensors = ckpt.tensors.get("optimizer", {})
        for name, optimizer in task.optimizers.items():
            ours = [{k: g[k] for k in ("lr", "weight_decay") if k in g} for g in optimizer.param_groups]
            optimizer_from_tensors(
                optimizer, _unprefixed(_prefix(name, "/"), opt_tensors), ckpt.state[_optimizer_key(name)]
            )
            if ckpt.changed_optimizer:  # this run's settings, the moments (Adam's state) from the checkpoint
                for group, settings in zip(optimizer.param_groups, ours):
                    group.update(settings)
        task.load_extra(ckpt)
        self.history = list(ckpt.state["history"])
        self.seconds_before = float(ckpt.state.get("seconds", 0.0))

    def _save(self, step: int, seconds: float) -> None:
        assert self.store is not None
        task = self.task
        tensors: dict[str, dict[str, Tensor]] = {"model": {}}
        for name, module in task.modules.items():
            tensors["model"].update(_prefixed(_prefix(name, "."), module.state_dict()))
        if self.ema is not None:
            tensors["ema"] = self.ema.state_dict()
        tensors["optimizer"] = {}
        state: dict[str, Any] = {}
        for name, optimizer in task.optimizers.items():
            opt_tensors, state[_optimizer_key(name)] = optimizer_to_tensors(optimizer)
            tensors["optimizer"].update(_prefixed(_prefix(name, "/"), opt_tensors))
        tensors.update(task.extra_tensors())
        state.update(history=self.history, seconds=seconds, **task.extra_state())
        self.store.save(step, tensors, state)

    def begin(self) -> int:
        """Resume the latest usable checkpoint, or start from scratch; every network in training mode.
        Returns the first step to train."""
        ckpt = self._resumable()
        if ckpt is None:
            self.task.start_fresh()
        else:
            self._load(ckpt)
        self.start = self.last_saved = self.current = 0 if ckpt is None else ckpt.step
        self.train()
        return self.start

    # ------------------------------------------------------------------ one step
    def learning_rate(self, step: int) -> float | None:
        """The scheduled learning rate of step ``step`` (None: the optimisers' own, constant)."""
        s = self.settings
        return None if s.lr is None else s.lr * min(1.0, (step + 1) / max(1, s.warmup_steps))

    def train_step(self, step: int) -> StepResult:
        """Step ``step``: the scheduled learning rate, then the task's step."""
        self.current = step
        lr = self.learning_rate(step)
        if lr is not None:
            for optimizer in self.task.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr
        return self.task.step(step, self)

    def optimize(self, loss: Tensor, monitored: Tensor, *, optimizer: str = "", what: str = "loss") -> None:
        """One update of optimiser ``optimizer`` from ``loss`` (this process's; DDP averages the gradients):
        the NaN guard on ``monitored`` (the global batch's loss), backward, gradient clipping, the
        optimiser's step and, for the EMA's network, the EMA update."""
        if not torch.isfinite(monitored):
            raise TrainingDivergedError(self._diverged(what, float(monitored.detach())))
        opt = self.task.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in self._clip.get(optimizer, ()):
            torch.nn.utils.clip_grad_norm_(group, self.settings.grad_clip)
        opt.step()
        if self.ema is not None and optimizer == self.task.ema_module:
            self.ema.update(self.task.modules[optimizer])

    def _diverged(self, what: str, value: float) -> str:
        s = self.settings
        head = f"{what} became {value} at {s.step_name} {self.current + 1}; training stopped without saving"
        if self.store is None:
            return f"{head}; {s.hint}"
        if self.last_saved and self.task.resume_fingerprint() is not None:
            return (
                f"{head}. The last good checkpoint (step {self.last_saved}) in {self.store.directory} is intact. "
                f"To continue from it, {s.hint} and set {s.keys}resume_with_new_optimizer: true, then rerun: "
                f"training resumes at step {self.last_saved} with the new settings (the log records it). "
                "Without that setting the changed run trains again from step 0 and replaces the checkpoint"
            )
        if self.last_saved:
            return (
                f"{head}. The last good checkpoint (step {self.last_saved}) in {self.store.directory} is intact, "
                f"but a changed setting makes another run: after you {s.hint}, training starts again from step 0"
            )
        return f"{head}. No checkpoint had been written yet; {s.hint}"

    # ------------------------------------------------------------------ the run
    def run(self) -> LoopResult:
        """Train from the latest usable checkpoint to ``settings.steps`` (or ``stop_at_step``), holding the
        checkpoint folder's lock: a second process training into the same folder is refused."""
        if self.store is None or not self.dist.is_main:
            return self._run()
        with directory_lock(self.store.directory):
            return self._run()

    def _run(self) -> LoopResult:
        s, dist = self.settings, self.dist
        start = self.begin()
        self.log(self.task.describe())
        if dist.active:
            self.log(f"data-parallel over {dist.world_size} processes")
        sums: dict[str, float] = {}
        count, steps_done = 0, start
        t0 = time.perf_counter()
        with Progress(
            s.steps,
            desc=s.desc,
            initial=min(start, s.steps),
            log_every=s.log_every,
            disable=not (dist.is_main and self.progress),
        ) as bar:
            for step in range(start, s.steps):
                result = self.train_step(step)
                for key, value in result.values.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
                done = steps_done = step + 1
                if done % s.log_every == 0 or done == s.steps:
                    self.history.append({"step": done, **result.latest, **{k: v / count for k, v in sums.items()}})
                    self.task.on_interval(done)
                    sums, count = {}, 0
                postfix = dict(result.values if result.postfix is None else result.postfix)
                if s.lr is not None:
                    postfix["lr"] = self.learning_rate(step)
                bar.update(1, **postfix)
                if self.on_step is not None:
                    self.on_step(done, result.values)
                self._keep(done, t0)
                if self.stop_at_step is not None and done >= self.stop_at_step:
                    break
        seconds = time.perf_counter() - t0
        dist.barrier()  # the other processes check the snapshots rank 0 wrote
        self.eval()
        self.task.finish()
        snapshots = {step: self.snapshot_path(step) for step in s.snapshots if step <= steps_done}
        missing = [str(p) for p in snapshots.values() if not p.exists()]
        if missing:
            raise RuntimeError(
                f"snapshot weights missing: {', '.join(missing)}; delete {self.store.directory} and retrain"
            )
        return LoopResult(
            history=self.history,
            ema_state=None if self.ema is None else self.ema.state_dict(),
            snapshots=snapshots,
            steps=steps_done,
            resumed_from=start,
            seconds=seconds,
            seconds_total=self.seconds_before + seconds,
        )

    def _keep(self, done: int, t0: float) -> None:
        """The snapshot and the checkpoint of step ``done``, when due (rank 0 writes them); ``t0``: when
        this run's first step began."""
        s = self.settings
        if self.store is None:
            return
        if done in s.snapshots and self.dist.is_main:
            assert self.ema is not None
            self.snapshot_path(done).parent.mkdir(parents=True, exist_ok=True)
            save_safetensors(self.ema.state_dict(), self.snapshot_path(done), {"step": str(done)})
        if done % s.checkpoint_every == 0 or done == s.steps:
            if self.dist.is_main:
                self._save(done, self.seconds_before + time.perf_counter() - t0)
            self.last_saved = done


def train(
    build: Callable[[RunContext], T],
    options: TrainOptions,
    *,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[T, LoopResult]:
    """Every kind's training function: check the keyword arguments ``options``, build the task
    (``build(run)``) and train it from the latest usable checkpoint in ``options["checkpoint_dir"]``."""
    known = TrainOptions.__required_keys__ | TrainOptions.__optional_keys__
    missing = sorted(TrainOptions.__required_keys__ - set(options))
    unknown = sorted(set(options) - known)
    if missing or unknown:
        raise TypeError(f"training options: missing {missing}, unknown {unknown} (known: {', '.join(sorted(known))})")
    run = RunContext(
        options["seed"],
        options["data_id"],
        options.get("device", "cpu"),
        options.get("speed"),
        options.get("distributed"),
    )
    task = build(run)
    loop = TrainLoop(
        task, checkpoint_dir=options["checkpoint_dir"], stop_at_step=options.get("stop_at_step"), on_step=on_step
    )
    return task, loop.run()
